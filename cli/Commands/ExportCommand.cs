using ConntrackModel.Cli.CommandLine;
using ConntrackModel.Cli.Output;
using ConntrackModel.Model.Choices;
using ConntrackModel.Model.Reporting;

namespace ConntrackModel.Cli.Commands;

/// <summary><c>ctmodel export FILE --sh [--out SCRIPT] [--seed N] [--runs N]</c>.</summary>
public static class ExportCommand
{
    public static CommandSpec Spec { get; } = new("export", "write a scenario as a standalone reproducer script", "FILE",
        "Writes the scenario FILE as a standalone bash script that runs it on any Linux machine's kernel (root, iproute2, " +
        "iptables, conntrack-tools and python3; no .NET) in network namespaces of its own, removed on exit, and checks " +
        "that the kernel does what the model predicts: which connection is reset, which label is lost, the conntrack " +
        "entries, the counters. The ports the kernel chooses (ephemeral, NAT) are checked for consistency, not value. The " +
        "script exits as a kernel selftest: 0 the kernel agrees, 1 it does not (the differences are printed), 4 skipped. " +
        "Exit code of export: 0 written, 2 bad input, 3 internal error.",
        [
            new("--sh", null, "write a bash script (the one format so far)"),
            new("--out", "SCRIPT", "write the script to SCRIPT (made executable) instead of standard output"),
            new("--seed", "N", "picks the model's nondeterministic choices for the prediction (default 1, as simulate)"),
            new("--runs", "N", "how many alternative NAT outcomes are explored for the wire addresses the prediction allows (default 64)"),
        ],
        Run);

    public static ExitCode Run(Options o, TextWriter stdout, TextWriter stderr)
    {
        ArgumentNullException.ThrowIfNull(o);
        ArgumentNullException.ThrowIfNull(stdout);
        ArgumentNullException.ThrowIfNull(stderr);
        var seed = (ulong)o.Number("--seed", 1, 0, long.MaxValue);
        var runs = (int)o.Number("--runs", WireExploration.DefaultBudget, 1, 100_000);
        var outPath = o.Value("--out") is null ? null : o.Path("--out", "");
        if (o.Error is not null) return Program.UsageError(stderr, "export: " + o.Error);
        if (!o.Has("--sh")) return Program.UsageError(stderr, "export: say which format: --sh (a bash script; the one format so far)");
        if (o.Positionals.Count != 1) return Program.UsageError(stderr, "export: expected exactly one scenario FILE");
        var file = o.Positionals[0];
        if (!SimulateCommand.TryLoad(file, stderr, out var scenario)) return ExitCode.BadInput;
        string script;
        try
        {
            script = Reproducer.Write(scenario, file, ChoiceSource.Seeded(seed), runs);
        }
        catch (Reproducer.RefusedException e)
        {
            stderr.WriteLine(e.Message);
            return ExitCode.BadInput;
        }
        if (outPath is null)
        {
            stdout.Write(script);
            return ExitCode.Ok;
        }
        try
        {
            Reproducer.WriteFile(outPath, script);
        }
        catch (Exception e) when (FileErrors.IsFileError(e))
        {
            return Program.UsageError(stderr, $"export: --out {outPath}: cannot write: {FileErrors.Reason(e)}");
        }
        stderr.WriteLine($"wrote {outPath}: run it as root on a Linux machine (sudo bash {outPath}); exit 0 the kernel agrees with the model, 1 it does not, 4 skipped");
        return ExitCode.Ok;
    }
}
