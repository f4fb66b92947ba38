using System.Globalization;

namespace ConntrackModel.Cli.Commands;

/// <summary>
/// The benchmark's view of a child's peak memory: when <see cref="Variable"/> names a file, <c>ctmodel</c> writes
/// its own peak resident set size (kB, <c>VmHWM</c> of <c>/proc/self/status</c>) there as it exits. .NET gives a
/// parent no rusage of its children, and reading the child's /proc entry races its exit.
/// </summary>
internal static class PeakRss
{
    public const string Variable = "CTMODEL_PEAK_RSS_FILE";

    public static void WriteIfAsked()
    {
        var path = Environment.GetEnvironmentVariable(Variable);
        if (string.IsNullOrEmpty(path)) return;
        try
        {
            var line = File.ReadLines("/proc/self/status").FirstOrDefault(l => l.StartsWith("VmHWM:", StringComparison.Ordinal));
            if (line is null) return;
            var kb = long.Parse(line["VmHWM:".Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture);
            File.WriteAllText(path, kb.ToString(CultureInfo.InvariantCulture));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException)
        {
            // No /proc (not Linux) or an unwritable path: the benchmark prints n/a.
        }
    }
}
