using System.Reflection;
using System.Runtime.InteropServices;
using System.Security.Cryptography;

namespace ConntrackModel.Solver.Native;

/// <summary>
/// Makes the Microsoft.Z3 4.12.2 managed API run on Linux with the system libz3 (4.8.12 or newer). The package
/// ships no Linux native library, its Context calls <c>Z3_enable_concurrent_dec_ref</c> (missing before 4.11), and
/// its finalizers call <c>*_dec_ref</c> from the GC thread, which 4.8.12 does not survive. A small C shim
/// (<c>Native/z3shim.c</c>, embedded) defines the missing function and turns every dec_ref into a no-op; it is
/// linked against <c>libz3.so.4</c>, compiled with gcc on first use into a cache directory keyed by its source's
/// hash, and handed to the runtime for the library name "libz3" by a DllImport resolver. On Windows and macOS the
/// package's own native library is used unchanged.
/// </summary>
public static class Z3Runtime
{
    private static readonly Lock Gate = new();
    private static readonly string[] LibZ3Paths = ["/usr/lib/x86_64-linux-gnu/libz3.so.4", "/usr/lib/aarch64-linux-gnu/libz3.so.4", "/usr/lib64/libz3.so.4", "/usr/lib/libz3.so.4"];
    private static readonly string[] CompilerPaths = ["/usr/bin/gcc", "/usr/bin/cc"];
    private static string? _problem;
    private static bool _done;

    /// <summary>Null when the Z3 engine can run; else what is missing and how to get it.</summary>
    public static string? Problem
    {
        get
        {
            Ensure();
            return _problem;
        }
    }

    /// <summary>Installs the resolver (once). Safe to call from anywhere before the first Z3 call.</summary>
    public static void Ensure()
    {
        lock (Gate)
        {
            if (_done) return;
            _done = true;
            if (!OperatingSystem.IsLinux()) return;
            try
            {
                _problem = Prepare(out var shim0);
                Load(shim0);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                _problem = $"cannot build the libz3 shim in its cache directory: {e.Message} (set XDG_CACHE_HOME to a writable directory)";
            }
        }
    }

    private static void Load(string? shim)
    {
        if (_problem is not null) return;
        var handle = NativeLibrary.Load(shim!);
        NativeLibrary.SetDllImportResolver(typeof(Microsoft.Z3.Context).Assembly,
            (name, _, _) => name is "libz3" or "libz3.so" or "libz3.dll" ? handle : IntPtr.Zero);
    }

    private static string? Prepare(out string? shim)
    {
        shim = null;
        var libz3 = LibZ3Paths.FirstOrDefault(File.Exists);
        if (libz3 is null && !NativeLibrary.TryLoad("libz3.so.4", out _))
            return "libz3 is not installed: apt-get install libz3-4 (Z3 4.8.12 or newer)";
        using var src = Assembly.GetExecutingAssembly().GetManifestResourceStream("z3shim.c")
            ?? throw new InvalidOperationException("z3shim.c is not embedded in the solver assembly");
        using var reader = new StreamReader(src);
        var code = reader.ReadToEnd();
        var hash = Convert.ToHexString(SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(code)))[..16].ToLowerInvariant();
        var dir = Path.Combine(Environment.GetEnvironmentVariable("XDG_CACHE_HOME") is { Length: > 0 } x ? x : Path.Combine(Path.GetTempPath(), "ctmodel-cache"), "z3shim-" + hash);
        var so = Path.Combine(dir, "libz3shim.so");
        if (File.Exists(so))
        {
            shim = so;
            return null;
        }
        var gcc = CompilerPaths.FirstOrDefault(File.Exists);
        if (gcc is null) return "the Z3 engine compiles a small libz3 shim on first use and needs gcc: apt-get install gcc";
        Directory.CreateDirectory(dir);
        var c = Path.Combine(dir, "z3shim.c");
        File.WriteAllText(c, code);
        var tmp = so + "." + Environment.ProcessId;
        var psi = new System.Diagnostics.ProcessStartInfo(gcc) { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var a in new[] { "-shared", "-fPIC", "-O2", "-o", tmp, c, "-Wl,--no-as-needed", libz3 is null ? "-l:libz3.so.4" : libz3 }) psi.ArgumentList.Add(a);
        using var p = System.Diagnostics.Process.Start(psi)!;
        var err = p.StandardError.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0) return $"compiling the libz3 shim failed: {err.Trim()}";
        File.Move(tmp, so, overwrite: true);
        shim = so;
        return null;
    }
}
