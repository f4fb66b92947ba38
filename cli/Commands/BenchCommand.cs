using System.Diagnostics;
using System.Globalization;
using System.Text;
using ConntrackModel.Model.Choices;
using ConntrackModel.Model.Kernel;
using ConntrackModel.Model.Scenarios;

namespace ConntrackModel.Cli.Commands;

/// <summary>
/// <c>ctmodel bench</c>: times <c>simulate</c> (one run of the model, invariants included) on generated scenarios of
/// N connections behind a SNAT rule, several times each, and prints medians and how time grows with N.
/// </summary>
public static class BenchCommand
{
    private static readonly HashSet<string> Flags = ["--check", "--z3"];
    private static readonly string[] CheckOnly = ["--config", "--seeds", "--tests", "--first-seed"];
    private static readonly HashSet<string> Valued = ["--sizes", "--repeat", .. CheckOnly];

    public static ExitCode Run(string[] args, TextWriter stdout, TextWriter stderr)
    {
        ArgumentNullException.ThrowIfNull(stdout);
        var o = Options.Parse(args, Flags, Valued);
        if (o.Positionals.Count > 0) return Program.UsageError(stderr, $"bench: unexpected argument '{o.Positionals[0]}'");
        if (o.Has("--check") && o.Has("--z3")) return Program.UsageError(stderr, "bench: give --check or --z3, not both");
        if (o.Has("--check")) o.Refuse(["--sizes", "--repeat"], "does not apply to bench --check");
        if (o.Has("--z3")) o.Refuse(["--sizes", .. CheckOnly], "does not apply to bench --z3");
        if (o.Error is not null) return Program.UsageError(stderr, "bench: " + o.Error);
        if (o.Has("--check")) return CheckBench.Run(o, stdout, stderr);
        if (o.Has("--z3")) return Z3Bench.Run(o, stdout, stderr);
        if (CheckOnly.FirstOrDefault(o.Has) is { } only)
            return Program.UsageError(stderr, $"bench: {only} belongs to 'bench --check'");
        var repeat = (int)o.Number("--repeat", 5, 1, 1000);
        var sizes = new List<int>();
        foreach (var part in (o.Value("--sizes") ?? "1000,2000,5000,10000").Split(','))
        {
            if (!int.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out var n) || n < 1 || n > 25000)
                return Program.UsageError(stderr, $"bench: --sizes expects comma-separated connection counts from 1 to 25000, got '{part}'");
            sizes.Add(n);
        }
        if (o.Error is not null) return Program.UsageError(stderr, "bench: " + o.Error);

        stdout.WriteLine($"simulate throughput: N connections (connect + send) behind SNAT, {repeat} runs each, median wall time");
        stdout.WriteLine($"{"connections",12} {"commands",9} {"median ms",10} {"min ms",8} {"max ms",8} {"commands/s",11} {"ms per 1k conns",16}");
        // Warm up the JIT (tiered compilation needs a few thousand calls) so the first size is not charged for it.
        var warmup = Generate(1000);
        for (var i = 0; i < 3; i++) _ = Simulation.Run(warmup, ChoiceSource.Seeded(1));
        var medians = new List<(int N, double Ms)>();
        foreach (var n in sizes)
        {
            var scenario = Generate(n);
            var times = new List<double>();
            for (var r = 0; r < repeat; r++)
            {
                var sw = Stopwatch.StartNew();
                var sim = Simulation.Run(scenario, ChoiceSource.Seeded((ulong)r + 1));
                sw.Stop();
                if (sim.Rejected is not null || sim.Final.Connections.Count != n)
                {
                    stderr.WriteLine($"bench: generated scenario did not run: {sim.Rejected}");
                    return ExitCode.Internal;
                }
                times.Add(sw.Elapsed.TotalMilliseconds);
            }
            times.Sort();
            var median = Percentiles.Of(times, 0.5);
            medians.Add((n, median));
            var commands = scenario.Lines.Count;
            stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{n,12} {commands,9} {median,10:0.0} {times[0],8:0.0} {times[^1],8:0.0} {commands / (median / 1000),11:0} {median / n * 1000,16:0.0}"));
            stdout.Flush();
        }
        if (medians.Count >= 2)
        {
            var (n0, t0) = medians[0];
            var (n1, t1) = medians[^1];
            stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"growth {n0} -> {n1} connections: x{n1 / (double)n0:0.#} size, x{t1 / t0:0.00} time (linear would be x{n1 / (double)n0:0.#})"));
        }
        return ExitCode.Ok;
    }

    /// <summary>listen; a SNAT rule that starts tracking; N × (connect from an ephemeral port, send).</summary>
    public static Scenario Generate(int connections)
    {
        var sb = new StringBuilder();
        sb.AppendLine("listen 127.0.0.1:8080");
        sb.AppendLine("iptables -t nat -A POSTROUTING -p tcp -d 127.0.0.1 --dport 8080 -j SNAT --to-source 127.0.0.1");
        for (var i = 0; i < connections; i++)
        {
            sb.AppendLine(CultureInfo.InvariantCulture, $"connect C{i} 127.0.0.1:8080");
            sb.AppendLine(CultureInfo.InvariantCulture, $"send C{i} m{i}");
        }
        var parsed = ScenarioParser.Parse("bench", sb.ToString());
        return parsed.Scenario ?? throw new InvalidOperationException(parsed.Errors[0].ToString());
    }
}
