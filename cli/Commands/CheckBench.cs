using System.Globalization;
using ConntrackModel.Properties.Checking;
using ConntrackModel.Properties.Configs;

namespace ConntrackModel.Cli.Commands;

/// <summary>
/// <c>ctmodel bench --check [--config C | --setup FILE [--events LIST]] [--seeds N] [--tests N] [--first-seed S]</c>: runs <c>check</c> over many
/// seeds and reports how reliably and how fast it finds and shrinks the violation: runs that found it, median
/// tests and wall time to the minimal counterexample, runs shrunk to the configuration's known minimum, and model
/// throughput during the property runs.
/// </summary>
internal static class CheckBench
{
    public static ExitCode Run(Options o, TextWriter stdout, TextWriter stderr)
    {
        var seeds = (int)o.Number("--seeds", 100, 1, 100_000);
        var testsGiven = o.Has("--tests") ? (int?)o.Number("--tests", CheckOptions.DefaultTests, 1, 1_000_000) : null;
        var first = (ulong)o.Number("--first-seed", 1, 0, long.MaxValue - 100_000);
        if (o.Error is not null) return Program.UsageError(stderr, "bench: " + o.Error);
        if (CheckCommand.Config(o, "bench", stderr) is not { } config) return ExitCode.BadInput;
        var tests = testsGiven ?? CheckOptions.DefaultFor(config);

        // One run first, not counted, so the JIT is warm for the first measured seed.
        _ = CheckRunner.Run(new CheckOptions(config, tests, first + (ulong)seeds));
        var runs = new List<CheckResult>();
        for (var i = 0; i < seeds; i++)
        {
            runs.Add(CheckRunner.Run(new CheckOptions(config, tests, first + (ulong)i)));
            if ((i + 1) % 10 == 0 || i + 1 == seeds) stderr.WriteLine($"  {i + 1}/{seeds} seeds");
        }
        var errors = runs.Where(r => r.Error is not null).ToList();
        if (errors.Count > 0)
        {
            stderr.WriteLine($"bench: seed {errors[0].Seed}: {errors[0].Error}");
            return ExitCode.Internal;
        }
        var found = runs.Where(r => r.Failed).ToList();
        var atMinimum = found.Where(r => config.KnownMinimum is { } m && r.Minimal!.Body.Count == m && r.MinimalityOfMinimal!.Minimal).ToList();
        stdout.WriteLine(string.Create(CultureInfo.InvariantCulture, $"check benchmark: {config.Name}, seeds {first}..{first + (ulong)seeds - 1}, up to {tests} tests each"));
        stdout.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  found a violation:                 {found.Count}/{seeds}"));
        if (found.Count > 0)
        {
            stdout.WriteLine(Row("tests to the failing test", found.Select(r => (double)r.TestsRun), "0"));
            stdout.WriteLine(Row("shrink steps", found.Select(r => (double)r.ShrinkSteps), "0"));
            stdout.WriteLine(Row("wall time to the minimal (ms)", found.Select(r => r.Elapsed.TotalMilliseconds), "0.0"));
            stdout.WriteLine(Row("generated length (commands)", found.Select(r => (double)r.Original!.Body.Count), "0"));
            stdout.WriteLine(Row("minimal length (commands after the setup)", found.Select(r => (double)r.Minimal!.Body.Count), "0"));
            stdout.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  minimal (no single removal passes): {found.Count(r => r.MinimalityOfMinimal!.Minimal)}/{found.Count}"));
            if (config.KnownMinimum is { } min)
            {
                stdout.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  shrunk to the {min}-command minimum:  {atMinimum.Count}/{found.Count}"));
                foreach (var r in found.Except(atMinimum).Take(5))
                    stdout.WriteLine(string.Create(CultureInfo.InvariantCulture, $"    seed {r.Seed}: {r.Minimal!.Body.Count} commands: {r.Minimal}"));
            }
        }
        else
        {
            stdout.WriteLine(Row("tests run", runs.Select(r => (double)r.TestsRun), "0"));
            stdout.WriteLine(Row("wall time (ms)", runs.Select(r => r.Elapsed.TotalMilliseconds), "0.0"));
        }
        stdout.WriteLine(Row("model throughput (commands/s)", runs.Select(r => r.CommandsPerSecond), "0"));
        return ExitCode.Ok;
    }

    private static string Row(string what, IEnumerable<double> values, string format)
    {
        var v = values.Order().ToList();
        string F(double x) => x.ToString(format, CultureInfo.InvariantCulture);
        return $"  {what + ":",-34} median {F(Percentiles.Of(v, 0.5))}, p90 {F(Percentiles.Of(v, 0.9))}, min {F(v[0])}, max {F(v[^1])}";
    }
}
