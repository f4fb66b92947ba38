using System.Globalization;
using System.Text.Json;
using ConntrackModel.Cli.CommandLine;

namespace ConntrackModel.Cli.Commands;

/// <summary>
/// <c>ctmodel bench --advise FILE [--repeat N]</c>: <c>advise --setup FILE</c> as a child process, timed from its start to
/// the last byte of its output (median [min-max] over the repeats, peak RSS), then each cell's own time, median over the
/// repeats, as the runs' advice.json recorded it.
/// </summary>
public static class AdviseBench
{
    public static ExitCode Run(string setup, int repeat, Options o, TextWriter stdout, TextWriter stderr)
    {
        ArgumentNullException.ThrowIfNull(setup);
        ArgumentNullException.ThrowIfNull(o);
        ArgumentNullException.ThrowIfNull(stdout);
        if (o.Error is not null) return Program.UsageError(stderr, "bench: " + o.Error);
        if (!File.Exists(setup)) return Program.UsageError(stderr, $"bench: --advise: no such file '{setup}'");
        var dir = Directory.CreateTempSubdirectory("ctmodel-bench-advise-");
        try
        {
            var outDir = Path.Combine(dir.FullName, "advise");
            var cells = new Dictionary<string, List<double>>(StringComparer.Ordinal);
            var order = new List<string>();
            void Collect()
            {
                using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, "advice.json")));
                foreach (var row in json.RootElement.GetProperty("rows").EnumerateArray())
                {
                    foreach (var cell in row.GetProperty("cells").EnumerateArray())
                    {
                        var key = $"{row.GetProperty("name").GetString()} | {cell.GetProperty("event").GetString()} | {cell.GetProperty("text").GetString()}";
                        if (!cells.TryGetValue(key, out var list))
                        {
                            cells[key] = list = [];
                            order.Add(key);
                        }
                        list.Add(cell.GetProperty("elapsedMs").GetDouble());
                    }
                }
            }
            stdout.WriteLine($"advise --setup {setup}: {repeat} runs (child processes: wall time from process start to the last byte of output; peak RSS is the child's VmHWM)");
            stdout.WriteLine($"{"command",-52} {"wall ms",26} {"peak RSS MB",12} {"output",10}");
            var median = BenchCommand.Time(BenchCommand.SelfCommand(), ["advise", "--setup", setup, "--quiet", "--out", outDir], repeat, "advise --setup " + Path.GetFileName(setup),
                dir.FullName, stdout, stderr, Collect);
            if (median is null) return ExitCode.Internal;
            stdout.WriteLine();
            stdout.WriteLine("each cell (median ms over the runs, with the verdict each run gave):");
            foreach (var key in order)
                stdout.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {key}: {Percentiles.Median(cells[key]):0} ms ({cells[key].Count} runs)"));
            return ExitCode.Ok;
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }
}
