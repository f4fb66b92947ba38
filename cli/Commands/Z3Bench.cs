using System.Diagnostics;
using System.Globalization;
using ConntrackModel.Solver.Bmc;
using ConntrackModel.Solver.Native;

namespace ConntrackModel.Cli.Commands;

/// <summary>
/// <c>ctmodel bench --z3 [--repeat N]</c>: the late-start counterexample (time since process start), the
/// <c>boot</c> proof at depth 8 with 8 connections over the full port range, how time grows with depth and with
/// the range size, and whether k-induction closes the <c>boot</c> proof; the UDP fragment's searches and the
/// <c>udp-boot</c> proof by depth. Medians over the repeats.
/// </summary>
internal static class Z3Bench
{
    public static ExitCode Run(Options o, TextWriter stdout, TextWriter stderr)
    {
        var repeat = (int)o.Number("--repeat", 3, 1, 100);
        if (o.Error is not null) return Program.UsageError(stderr, "bench: " + o.Error);
        if (Z3Runtime.Problem is { } problem)
        {
            stderr.WriteLine($"ctmodel: the Z3 engine is unavailable: {problem}");
            return ExitCode.BadInput;
        }
        var late = SymbolicConfigs.Find("late-start")!;
        var boot = SymbolicConfigs.Find("boot")!;
        // First: from process start to the late-start counterexample, as a user running `check --engine z3` sees it.
        var first = ModelChecker.Search(late, 6);
        var sinceStart = DateTime.Now - Process.GetCurrentProcess().StartTime;
        stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"late-start: violation at minimal depth {first.Depth}, replayed: {first.Found}; {sinceStart.TotalMilliseconds:0} ms from process start (search {first.Elapsed.TotalMilliseconds:0} ms)"));
        stdout.WriteLine(string.Create(CultureInfo.InvariantCulture, $"late-start search, warm: median {Median(repeat, () => ModelChecker.Search(late, 6).Elapsed):0} ms"));
        stdout.WriteLine(string.Create(CultureInfo.InvariantCulture, $"boot proof, depth 8, 8 connections, ports 1024-65535: median {Median(repeat, () => ModelChecker.Search(boot, 8).Elapsed):0} ms"));
        stdout.WriteLine("boot, time by depth (median ms):");
        foreach (var d in new[] { 2, 4, 6, 8, 10, 12 })
            stdout.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  depth {d,2}: {Median(repeat, () => ModelChecker.Search(boot, d).Elapsed),8:0}"));
        stdout.WriteLine("boot depth 8, time by range size (median ms):");
        foreach (var span in new int?[] { 4, 64, 4096, null })
        {
            var cfg = boot with { PortSpan = span };
            stdout.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {(span is null ? "full (1024-65535)" : span + " ports"),18}: {Median(repeat, () => ModelChecker.Search(cfg, 8).Elapsed),8:0}"));
        }
        var proof = Prover.Prove(boot, 8, induction: true);
        stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"boot k-induction: inductive alone {proof.InductiveAlone}, with strengthening {proof.Inductive} (needed: {string.Join("; ", proof.Needed)}); {proof.Elapsed.TotalMilliseconds:0} ms"));
        // The UDP fragment: the two unsafe configurations' minimal flows, and udp-boot's proof.
        foreach (var name in new[] { "udp-late", "udp-expiry" })
        {
            var udp = SymbolicConfigs.Find(name)!;
            var found = ModelChecker.Search(udp, 7);
            stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{name}: violation at minimal depth {found.Depth}, replayed: {found.Found && found.EncodingBug is null}; search median {Median(repeat, () => ModelChecker.Search(udp, 7).Elapsed):0} ms"));
        }
        var udpBoot = SymbolicConfigs.Find("udp-boot")!;
        stdout.WriteLine("udp-boot, time by depth, as many flows as steps (median ms):");
        foreach (var d in new[] { 2, 4, 6, 8, 10 })
            stdout.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  depth {d,2}: {Median(repeat, () => ModelChecker.Search(udpBoot, d).Elapsed),8:0}"));
        var udpProof = Prover.Prove(udpBoot, 4, induction: true);
        stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"udp-boot k-induction (4 flows): inductive alone {udpProof.InductiveAlone}, with strengthening {udpProof.Inductive}; {udpProof.Elapsed.TotalMilliseconds:0} ms"));
        return ExitCode.Ok;
    }

    private static double Median(int n, Func<TimeSpan> run) => Percentiles.Median(Enumerable.Range(0, n).Select(_ => run().TotalMilliseconds));
}
