using ConntrackModel.Cli.CommandLine;
using ConntrackModel.Cli.Output;
using ConntrackModel.Model.Choices;
using ConntrackModel.Model.Kernel;
using ConntrackModel.Model.Reporting;
using ConntrackModel.Model.Scenarios;

namespace ConntrackModel.Cli.Commands;

/// <summary><c>ctmodel simulate FILE [--json] [--seed N] [--runs N]</c>.</summary>
public static class SimulateCommand
{
    public static CommandSpec Spec { get; } = new("simulate", "run a scenario script in the model", "FILE",
        "Runs the scenario FILE in the model and prints the packet trace (tcpdump style), the conntrack table, each " +
        "connection's outcome and the invariants that broke. Exit code: 0 no violation, 1 a violation, 2 bad input, 3 internal error.",
        [
            new("--json", null, "print the outcome as one JSON document (no trace)"),
            new("--seed", "N", "picks the model's nondeterministic choices (default 1)"),
            new("--runs", "N", "how many alternative NAT outcomes are explored to list every possible wire address (default 64)"),
            new("--pcap", "FILE", "also write the model's packets to FILE as pcapng (one interface per namespace and device; readable by tcpdump -r and Wireshark)"),
            new("--itf", "FILE", "also write the run to FILE as an ITF trace (Apalache/Quint's Informal Trace Format: the world after each command)"),
        ],
        Run);

    public static ExitCode Run(Options o, TextWriter stdout, TextWriter stderr)
    {
        ArgumentNullException.ThrowIfNull(o);
        ArgumentNullException.ThrowIfNull(stdout);
        ArgumentNullException.ThrowIfNull(stderr);
        var seed = (ulong)o.Number("--seed", 1, 0, long.MaxValue);
        var runs = (int)o.Number("--runs", WireExploration.DefaultBudget, 1, 100_000);
        if (o.Error is not null) return Program.UsageError(stderr, "simulate: " + o.Error);
        if (o.Positionals.Count != 1) return Program.UsageError(stderr, "simulate: expected exactly one scenario FILE");
        var file = o.Positionals[0];
        if (!TryLoad(file, stderr, out var scenario)) return ExitCode.BadInput;

        var choices = ChoiceSource.Seeded(seed);
        // Output files are opened before the run, as every output path is checked: a path that cannot be written is bad input.
        if (!TryCreate(o.Value("--pcap"), "--pcap", stderr, out var pcapFile)) return ExitCode.BadInput;
        using var pcapStream = pcapFile;
        if (!TryCreate(o.Value("--itf"), "--itf", stderr, out var itfFile)) return ExitCode.BadInput;
        using var itfStream = itfFile;
        if (pcapStream is not null)
        {
            // The packets need the trace: run it once more for the file (the JSON and text paths stay as they are).
            var traced = Simulation.Run(scenario, choices);
            Pcapng.Write(traced, pcapStream);
        }
        if (itfStream is not null) Itf.Write(scenario, choices, itfStream);
        if (o.Has("--json"))
        {
            // JSON has no trace: fold the run as it goes, so memory follows the namespace's state, not its packets.
            var run = RunSummary.Of(scenario, choices);
            if (run.Rejected is not null) return Rejected(stderr, file, run.RejectedLine!, run.Rejected);
            WarnUnusedPins(file, scenario, run.AskedKeys, stderr);
            var obs = Observation.Of(run, WireExploration.Explore(scenario, choices, runs, run).Wire);
            JsonReport.Write(obs, stdout);
            stdout.Write('\n');
            return obs.Violations.IsEmpty ? ExitCode.Ok : ExitCode.Violation;
        }
        var sim = Simulation.Run(scenario, choices);
        if (sim.Rejected is not null) return Rejected(stderr, file, sim.RejectedLine!, sim.Rejected);
        var summary = RunSummary.Of(sim);
        WarnUnusedPins(file, scenario, summary.AskedKeys, stderr);
        var wire = WireExploration.Explore(scenario, choices, runs, summary);
        var textObs = Observation.Of(sim, wire.Wire);
        stdout.Write(TextReport.Write(sim, textObs, wire, seed));
        return textObs.Violations.IsEmpty ? ExitCode.Ok : ExitCode.Violation;
    }

    /// <summary>Creates the file an option names (none: nothing to do); false, after saying why, if it cannot be written.</summary>
    private static bool TryCreate(string? path, string option, TextWriter stderr, out FileStream? stream)
    {
        stream = null;
        if (path is null) return true;
        try
        {
            stream = File.Create(path);
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            _ = Program.UsageError(stderr, $"simulate: {option} {path}: cannot write: {e.Message}");
            return false;
        }
    }

    /// <summary>A <c>choose</c> line that no choice point asked for changes nothing: say so, and what it may have meant.</summary>
    internal static void WarnUnusedPins(string file, Scenario scenario, IReadOnlySet<string> asked, TextWriter stderr)
    {
        foreach (var (key, at, meant) in scenario.UnusedPins(asked))
        {
            var hint = meant is not null ? $"; did you mean '{meant}'?"
                : asked.Count > 0 ? $"; this run asked {string.Join(", ", asked.Order(StringComparer.Ordinal).Take(5).Select(k => $"'{k}'"))}{(asked.Count > 5 ? ", ..." : "")}"
                : "; this run asked no choice";
            stderr.WriteLine($"{file}:{at.Line}:{at.Column}: warning: choice {ScenarioParser.Q(key)} matched no choice point of this run, so it changed nothing{hint}");
        }
    }

    private static ExitCode Rejected(TextWriter stderr, string file, ScenarioLine line, string why)
    {
        stderr.WriteLine($"{line.Position(file)}: error: {why}");
        return ExitCode.BadInput;
    }

    /// <summary>
    /// How a scenario's <c>iptables-restore FILE</c> is read: FILE relative to the scenario's directory (or absolute),
    /// reported under the path as the user would type it from here; a file that cannot be read says why.
    /// </summary>
    internal static Func<string, (string Display, string? Text, string? Error)> Include(string scenarioFile)
    {
        var dir = Path.GetDirectoryName(Path.GetFullPath(scenarioFile)) ?? ".";
        var shownDir = Path.GetDirectoryName(scenarioFile) ?? "";
        return path =>
        {
            var full = Path.IsPathRooted(path) ? path : Path.Combine(dir, path);
            var display = Path.IsPathRooted(path) ? path : Path.Combine(shownDir, path);
            try
            {
                if (Directory.Exists(full)) return (display, null, "it is a directory");
                if (new FileInfo(full).Length > MaxScenarioBytes) return (display, null, $"it is over {MaxScenarioBytes / (1024 * 1024)} MiB");
                return (display, File.ReadAllText(full), null);
            }
            catch (Exception e) when (FileErrors.IsFileError(e))
            {
                return (display, null, FileErrors.Reason(e));
            }
        };
    }

    /// <summary>Largest scenario file read (256 MiB): beyond it the text would not fit in memory as one string.</summary>
    public const long MaxScenarioBytes = 256L * 1024 * 1024;

    /// <summary>Reads and parses a scenario file, printing every error as FILE:LINE:COL: message.</summary>
    public static bool TryLoad(string file, TextWriter stderr, out Scenario scenario)
    {
        ArgumentNullException.ThrowIfNull(stderr);
        scenario = null!;
        if (Directory.Exists(file))
        {
            stderr.WriteLine($"ctmodel: '{file}' is a directory: expected a scenario file");
            return false;
        }
        string text;
        try
        {
            var size = new FileInfo(file).Length;
            if (size > MaxScenarioBytes)
            {
                stderr.WriteLine($"ctmodel: scenario '{file}' is {size / (1024 * 1024)} MiB: the limit is {MaxScenarioBytes / (1024 * 1024)} MiB (a million connections take about 40 MiB)");
                return false;
            }
            text = File.ReadAllText(file);
        }
        catch (Exception e) when (FileErrors.IsFileError(e))
        {
            stderr.WriteLine($"ctmodel: cannot read scenario '{file}': {FileErrors.Reason(e)}");
            return false;
        }
        var parsed = ScenarioParser.Parse(file, text, Include(file));
        if (!parsed.Ok)
        {
            foreach (var err in parsed.Errors) stderr.WriteLine(err.ToString());
            return false;
        }
        if (parsed.Scenario!.Lines.IsEmpty)
        {
            stderr.WriteLine($"{file}:1:1: the scenario has no commands: expected at least one line such as 'listen 127.0.0.1:8080'");
            return false;
        }
        scenario = parsed.Scenario;
        return true;
    }
}
