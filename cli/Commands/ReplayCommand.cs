using ConntrackModel.Cli.CommandLine;
using ConntrackModel.Cli.Output;
using ConntrackModel.Replay.Host;
using ConntrackModel.Replay.Kernel;

namespace ConntrackModel.Cli.Commands;

/// <summary><c>ctmodel replay FILE --kernel [--json] [--pcap FILE]</c>: the scenario on this machine's kernel.</summary>
public static class ReplayCommand
{
    public static CommandSpec Spec { get; } = new("replay", "run a scenario on this machine's kernel", "FILE",
        "Runs the scenario FILE on the kernel in a network namespace that is deleted afterwards, with real sockets, " +
        "iptables, conntrack and sysctl, and prints what the kernel did. Needs Linux and root (tcpdump for --pcap).",
        [
            new("--kernel", null, "required: run on the kernel"),
            new("--json", null, "print the observation as JSON"),
            new("--pcap", "FILE", "capture lo with tcpdump into FILE"),
            new("--log", null, "print every command run in the namespace"),
        ],
        Run);

    public static ExitCode Run(Options o, TextWriter stdout, TextWriter stderr)
    {
        ArgumentNullException.ThrowIfNull(o);
        ArgumentNullException.ThrowIfNull(stdout);
        ArgumentNullException.ThrowIfNull(stderr);
        if (o.Error is not null) return Program.UsageError(stderr, "replay: " + o.Error);
        if (o.Positionals.Count != 1) return Program.UsageError(stderr, "replay: expected exactly one scenario FILE");
        if (!o.Has("--kernel")) return Program.UsageError(stderr, "replay: say where to replay: --kernel (the machine's own kernel, in a throwaway network namespace)");
        var pcap = o.Value("--pcap");
        if (pcap is not null && FileErrors.CannotWriteFile(pcap) is { } why) return Program.UsageError(stderr, $"replay: cannot write --pcap '{pcap}': {why}");
        if (!SimulateCommand.TryLoad(o.Positionals[0], stderr, out var scenario)) return ExitCode.BadInput;
        if (!ModelAccepts(o.Positionals[0], scenario, stderr)) return ExitCode.BadInput;
        if (!CheckRequirements(stderr, "replay", pcap is not null)) return ExitCode.BadInput;
        KernelRun run;
        try
        {
            run = KernelReplay.Run(scenario, new ReplayOptions(pcap));
        }
        catch (ReplayException e)
        {
            stderr.WriteLine($"ctmodel: replay: {o.Positionals[0]}: {e.Message}");
            return ExitCode.BadInput;
        }
        if (o.Has("--log")) foreach (var l in run.Log) stderr.WriteLine(l);
        stdout.Write(o.Has("--json") ? JsonReport.Write(run.Observation) + "\n" : ObservationText.Write(run.Observation, $"{o.Positionals[0]} on the kernel (namespace {run.Namespace}, deleted)"));
        if (pcap is not null) stderr.WriteLine($"pcap: {pcap} (open it in Wireshark or with tcpdump -r)");
        return ExitCode.Ok;
    }

    /// <summary>
    /// A script the model refuses (send on an unknown end, bind to a port in use, ...) is refused before it reaches
    /// the kernel, with the same <c>file:line:col: error</c> as <c>simulate</c>.
    /// </summary>
    internal static bool ModelAccepts(string file, ConntrackModel.Model.Scenarios.Scenario scenario, TextWriter stderr)
    {
        var sim = ConntrackModel.Model.Kernel.Simulation.Run(scenario, ConntrackModel.Model.Choices.ChoiceSource.Seeded(1));
        if (sim.Rejected is null)
        {
            SimulateCommand.WarnUnusedPins(file, scenario, ConntrackModel.Model.Kernel.RunSummary.Of(sim).AskedKeys, stderr);
            return true;
        }
        stderr.WriteLine($"{sim.RejectedLine!.Position(file)}: error: {sim.Rejected}");
        return false;
    }

    /// <summary>Prints what is missing for a kernel run; false if anything is.</summary>
    internal static bool CheckRequirements(TextWriter stderr, string command, bool pcap) =>
        ReportMissing(stderr, command, Requirements.Missing(pcap));

    internal static bool ReportMissing(TextWriter stderr, string command, IReadOnlyList<string> missing)
    {
        if (missing.Count == 0) return true;
        stderr.WriteLine($"ctmodel: {command}: a kernel run needs what this machine lacks:");
        foreach (var m in missing) stderr.WriteLine($"  - {m}");
        return false;
    }
}
