namespace ConntrackModel.Cli.Output;

/// <summary>
/// File-system failures in plain words (the runtime's messages name parameters and HRESULTs), and the check that
/// an output directory can be written before a long run starts rather than after it.
/// </summary>
public static class FileErrors
{
    /// <summary>Is this an error of the file system (or of a path) rather than of ctmodel?</summary>
    public static bool IsFileError(Exception e) => e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException;

    /// <summary>Why the file system said no, in words a user acts on.</summary>
    public static string Reason(Exception e) => e switch
    {
        UnauthorizedAccessException => "permission denied",
        DirectoryNotFoundException => "a directory on the path does not exist",
        FileNotFoundException => "no such file",
        PathTooLongException => "the path is too long",
        ArgumentException or NotSupportedException => "not a valid path",
        IOException io when io.Message.Contains("exists", StringComparison.OrdinalIgnoreCase) => "a file of that name is in the way",
        IOException io when io.Message.Contains("space", StringComparison.OrdinalIgnoreCase) => "no space left on the device",
        IOException io when io.Message.Contains("read-only", StringComparison.OrdinalIgnoreCase) => "the file system is read-only",
        IOException => "input/output error",
        _ => e.GetType().Name,
    };

    /// <summary>
    /// Null if <paramref name="dir"/> exists or can be created and a file can be written in it, else why not. Leaves
    /// no trace: the probe file, and any directory the check had to create, are removed again.
    /// </summary>
    public static string? CannotWriteDirectory(string dir)
    {
        ArgumentNullException.ThrowIfNull(dir);
        if (File.Exists(dir)) return "it is a file, not a directory";
        try
        {
            // The outermost directory that does not exist yet: the check removes what it made.
            string? created = null;
            for (var d = Path.GetFullPath(dir); d is not null && !Directory.Exists(d); d = Path.GetDirectoryName(d)) created = d;
            Directory.CreateDirectory(dir);
            var probe = Path.Combine(dir, $".ctmodel-probe-{Environment.ProcessId}");
            File.WriteAllText(probe, "");
            File.Delete(probe);
            if (created is not null) Directory.Delete(created, recursive: true);
            return null;
        }
        catch (Exception e) when (IsFileError(e))
        {
            return Reason(e);
        }
    }

    /// <summary>Null if a file can be created at <paramref name="path"/> (its directory is made if needed), else why not.</summary>
    public static string? CannotWriteFile(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (Directory.Exists(path)) return "it is a directory, not a file";
        try
        {
            var dir = Path.GetDirectoryName(Path.GetFullPath(path));
            return string.IsNullOrEmpty(dir) ? null : CannotWriteDirectory(dir);
        }
        catch (Exception e) when (IsFileError(e))
        {
            return Reason(e);
        }
    }
}
