using ConntrackModel.Cli.CommandLine;
using System.Globalization;
using ConntrackModel.Cli.Output;
using ConntrackModel.Model.Choices;
using ConntrackModel.Model.Reporting;
using ConntrackModel.Properties.Checking;
using ConntrackModel.Properties.Configs;
using ConntrackModel.Properties.Setups;

namespace ConntrackModel.Cli.Commands;

/// <summary>
/// <c>ctmodel check --engine fscheck [--config C | --setup FILE [--events LIST]] [--tests N] [--seed S] [--replay TOKEN] [--out DIR]</c> and
/// <c>ctmodel check --list</c>: property-based search for invariant violations, with a shrunk, replayable report.
/// </summary>
public static class CheckCommand
{
    public static CommandSpec Spec { get; } = new("check", "search for invariant violations (FsCheck or Z3)", null,
        "Generates command sequences for a configuration, runs them in the model, and shrinks the first that breaks an " +
        "invariant to a minimal scenario; writes report.md, report.json and minimal.scenario to --out. Exit code 1 when " +
        "it found a violation, 0 when not, 2 for bad input.",
        [
            new("--engine", "fscheck|z3", "fscheck (default): random search with shrinking; z3: symbolic search at minimal depth"),
            new("--config", "C", "the configuration to check (default late-start; see --list)"),
            new("--setup", "FILE", "fscheck: generate workloads around your own setup instead (a scenario of namespaces, links, addresses, routes, sysctls, rules and listeners)"),
            new("--events", "LIST", "with --setup: what may happen besides connections, any of flush,expiry,late (default none)"),
            new("--shrink-setup", null, "with --setup: shrinking may also drop the setup's own lines (commands, and rule lines of its restores); the report names the lines dropped"),
            new("--tests", "N", "fscheck: how many sequences to try (default 1000; 5000 with --setup)"),
            new("--seed", "S", "fscheck: fixes the randomness (a fresh seed is drawn and printed otherwise)"),
            new("--replay", "TOKEN", "fscheck: regenerates one failing test from the token a report prints"),
            new("--depth", "K", "z3: the largest depth searched (default 6)"),
            new("--smt", null, "z3: also write the query as query.smt2"),
            new("--out", "DIR", "where the report goes (default ctmodel-check/CONFIG, ctmodel-check/setup-NAME for --setup NAME.scenario, or CONFIG-z3)"),
            new("--pcap", null, "also write the minimal counterexample's packets as minimal.pcapng into --out"),
            new("--itf", null, "also write the minimal counterexample's run as minimal.itf.json (ITF) into --out"),
            new("--sh", null, "also write the minimal counterexample as minimal.sh, a standalone script that checks it on a kernel (as export --sh)"),
            new("--quiet", null, "no progress on stderr"),
            new("--list", null, "list the configurations and exit"),
        ],
        Run);

    public const string DefaultConfig = "late-start";

    private static readonly string[] FsCheckOnly = ["--tests", "--seed", "--replay"];

    public static ExitCode Run(Options o, TextWriter stdout, TextWriter stderr)
    {
        ArgumentNullException.ThrowIfNull(o);
        ArgumentNullException.ThrowIfNull(stdout);
        ArgumentNullException.ThrowIfNull(stderr);
        var testsGiven = o.Has("--tests") ? (int?)o.Number("--tests", CheckOptions.DefaultTests, 1, 1_000_000) : null;
        ulong? seed = o.Value("--seed") is null ? null : (ulong)o.Number("--seed", 0, 0, long.MaxValue);
        if (o.Error is not null) return Program.UsageError(stderr, "check: " + o.Error);
        if (o.Positionals.Count > 0) return Program.UsageError(stderr, $"check: unexpected argument '{o.Positionals[0]}'");
        if (o.Has("--list"))
        {
            if (o.Count > 1) return Program.UsageError(stderr, "check: --list takes no other options");
            List(stdout);
            return ExitCode.Ok;
        }
        var engine = o.Value("--engine") ?? "fscheck";
        if (engine == "z3")
        {
            if (o.Has("--setup") || o.Has("--events") || o.Has("--shrink-setup"))
                return Program.UsageError(stderr, "check: --setup belongs to --engine fscheck (the Z3 engine over a setup is 'prove --setup', not built yet)");
            if (FsCheckOnly.FirstOrDefault(o.Has) is { } fscheckOnly)
                return Program.UsageError(stderr, $"check: {fscheckOnly} belongs to --engine fscheck; the Z3 engine takes --depth K");
            var depth = (int)o.Number("--depth", Z3Commands.DefaultDepth, 1, 64);
            if (o.Error is not null) return Program.UsageError(stderr, "check: " + o.Error);
            var zName = o.Value("--config") ?? DefaultConfig;
            var zOut = o.Path("--out", Path.Combine("ctmodel-check", zName + "-z3"));
            if (o.Error is not null) return Program.UsageError(stderr, "check: " + o.Error);
            if (FileErrors.CannotWriteDirectory(zOut) is { } zWhy) return Program.UsageError(stderr, $"check: cannot write to --out '{zOut}': {zWhy}");
            return Z3Commands.Check(zName, depth, zOut, o.Has("--smt"), stdout, stderr, PortableReport.Asked(o));
        }
        if (engine != "fscheck") return Program.UsageError(stderr, $"check: unknown engine '{engine}': expected fscheck or z3");
        if (o.Has("--depth") || o.Has("--smt")) return Program.UsageError(stderr, "check: --depth and --smt belong to --engine z3");
        if (Config(o, "check", stderr) is not { } config) return ExitCode.BadInput;
        var tests = testsGiven ?? CheckOptions.DefaultFor(config);
        ReplayToken? replay = null;
        if (o.Value("--replay") is { } text)
        {
            if (!ReplayToken.TryParse(text, out var token))
                return Program.UsageError(stderr, $"check: --replay expects SEED,GAMMA,SIZE as a report prints it (GAMMA odd), got '{text}'");
            if (seed is not null) return Program.UsageError(stderr, "check: give either --seed or --replay, not both");
            replay = token;
        }
        var outDir = o.Path("--out", Path.Combine("ctmodel-check", config.Space is { } sp ? "setup-" + Path.GetFileNameWithoutExtension(sp.File) : config.Name));
        if (o.Error is not null) return Program.UsageError(stderr, "check: " + o.Error);
        // Checked before the search, not after it: a run can take minutes.
        if (FileErrors.CannotWriteDirectory(outDir) is { } why) return Program.UsageError(stderr, $"check: cannot write to --out '{outDir}': {why}");

        var quiet = o.Has("--quiet");
        var progress = new ProgressPrinter(stderr, quiet);
        var result = CheckRunner.Run(new CheckOptions(config, tests, seed, replay), progress.Report);
        progress.Done();

        Counterexample? cx = result.Minimal is null ? null : Counterexample.Of(result.Minimal, Path.Combine(outDir, "minimal.scenario"), result.Options.Config);
        string? trace = null;
        string? minimal = null;
        var portable = "";
        if (cx is not null)
        {
            var wire = WireExploration.Explore(cx.Scenario, ChoiceSource.First, WireExploration.DefaultBudget);
            trace = TextReport.Write(cx.Simulation, Observation.Of(cx.Simulation, wire.Wire), wire, 1);
            minimal = CheckReport.MinimalScenario(result, cx);
        }
        try
        {
            Directory.CreateDirectory(outDir);
            File.WriteAllText(Path.Combine(outDir, "report.md"), CheckReport.Markdown(result, cx, trace));
            File.WriteAllText(Path.Combine(outDir, "report.json"), CheckReport.Json(result, cx, minimal) + "\n");
            var minimalPath = Path.Combine(outDir, "minimal.scenario");
            if (minimal is not null) File.WriteAllText(minimalPath, minimal);
            else if (File.Exists(minimalPath)) File.Delete(minimalPath); // a stale counterexample from an earlier run would mislead
            portable = PortableReport.Write(PortableReport.Asked(o), outDir, cx);
        }
        catch (Exception e) when (FileErrors.IsFileError(e))
        {
            stderr.WriteLine($"ctmodel: check: cannot write the report to '{outDir}': {FileErrors.Reason(e)}");
            return ExitCode.BadInput;
        }

        stdout.WriteLine(string.Create(CultureInfo.InvariantCulture, $"check {config.Name}: seed {result.Seed}, {result.TestsRun} tests, {result.Elapsed.TotalMilliseconds:0} ms, model {result.CommandsPerSecond:0} commands/s"));
        if (result.Error is not null)
        {
            stderr.WriteLine($"ctmodel: check: {result.Error}");
            stderr.WriteLine($"  reproduce with: {CheckReport.ReplayLine(result)} --verbose");
            return ExitCode.Internal;
        }
        if (cx is null)
        {
            stdout.WriteLine($"no violation found in {result.TestsRun} tests");
        }
        else
        {
            stdout.WriteLine($"VIOLATION of {cx.Violation.Name} at step {cx.Violation.Step}: {cx.Violation.Message}");
            stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"shrunk in {result.ShrinkSteps} steps from {result.Original!.Length} to {result.Minimal!.Length} commands ({(cx.Minimality.Minimal ? "minimal" : "not minimal")}: {cx.Minimality.Describe(result.Minimal.Setup.Count)}):"));
            foreach (var line in Shown(cx, result.Minimal, config)) stdout.WriteLine("  " + line);
            stdout.WriteLine($"replay: {CheckReport.ReplayLine(result)}");
        }
        stdout.WriteLine($"report: {Path.Combine(outDir, "report.md")}, report.json{(minimal is null ? "" : ", minimal.scenario")}{portable}");
        return cx is null ? ExitCode.Ok : ExitCode.Violation;
    }

    /// <summary>
    /// The configuration <c>--config NAME</c> names, or the one <c>--setup FILE [--events LIST]</c> makes; null after
    /// writing why to <paramref name="stderr"/> (bad input, exit 2). One definition for check and bench --check.
    /// </summary>
    internal static CheckConfig? Config(Options o, string command, TextWriter stderr)
    {
        ArgumentNullException.ThrowIfNull(o);
        if (o.Value("--setup") is { } setupFile)
        {
            if (o.Has("--config"))
            {
                Program.UsageError(stderr, $"{command}: give either --config or --setup, not both");
                return null;
            }
            var (events, eventsError) = SetupSpaces.ParseEvents(o.Value("--events"));
            if (eventsError is not null)
            {
                Program.UsageError(stderr, $"{command}: {eventsError}");
                return null;
            }
            if (!SimulateCommand.TryLoad(setupFile, stderr, out var setup)) return null;
            var (made, refused) = SetupSpaces.From(setupFile, setup, events, o.Has("--shrink-setup"));
            if (made is null) stderr.WriteLine($"ctmodel: {command}: {refused}");
            return made;
        }
        if (o.Has("--events") || o.Has("--shrink-setup"))
        {
            Program.UsageError(stderr, $"{command}: {(o.Has("--events") ? "--events" : "--shrink-setup")} belongs to --setup FILE");
            return null;
        }
        var name = o.Value("--config") ?? DefaultConfig;
        if (CheckConfigs.Find(name) is { } config) return config;
        Program.UsageError(stderr, $"{command}: unknown configuration '{name}': expected one of {string.Join(", ", CheckConfigs.Catalogue.Select(c => c.Name))} (see 'ctmodel check --list')");
        return null;
    }

    /// <summary>
    /// The counterexample's lines as stdout shows them: around a user's setup, the setup's commands (as written, in
    /// minimal.scenario) are one comment line, so the workload that breaks it stands out.
    /// </summary>
    private static string[] Shown(Counterexample cx, Properties.Generation.Trial minimal, CheckConfig config)
    {
        var lines = cx.Scenario.ToScript().TrimEnd('\n').Split('\n');
        if (config.Space is not { } space) return lines;
        var choices = lines.TakeWhile(l => l.StartsWith("choose ", StringComparison.Ordinal)).ToList();
        var shown = new List<string>(choices)
        {
            space.ShrinkSetup
                ? $"# the setup of {space.File}, shrunk: {minimal.Setup.Count} commands (minimal.scenario has them); dropped {CheckReport.SetupDropped(space, minimal)}"
                : $"# the setup of {space.File}: {minimal.Setup.Count} commands, as written (minimal.scenario has them)",
        };
        foreach (var c in minimal.Body)
        {
            var text = c.ToScript().Split('\n');
            // A deferred restore is the setup's own dump: one line says which.
            var asWritten = space.Deferred.Contains(c) ? "as written" : "some rule lines dropped";
            shown.Add(text.Length == 1 ? text[0] : $"{text[0]} ... {text[^1]}   # {text.Length - 2} lines of {space.File}, {asWritten}");
        }
        return [.. shown];
    }

    private static void List(TextWriter stdout)
    {
        stdout.WriteLine("configurations for 'ctmodel check --config NAME':");
        foreach (var c in CheckConfigs.Catalogue)
        {
            stdout.WriteLine();
            stdout.WriteLine($"  {c.Name}{(c.Name == DefaultConfig ? " (default)" : "")}");
            stdout.WriteLine($"    {c.Description}");
            stdout.WriteLine($"    commands: {string.Join(", ", c.Alphabet.Select(OpKinds.Name))}");
            stdout.WriteLine($"    rules:    {string.Join(", ", c.Rules.Select(RuleKinds.Name))}");
            if (!c.Setup.IsEmpty) stdout.WriteLine($"    settings: {string.Join("; ", c.Setup.Select(s => s.ToScript()))}");
            stdout.WriteLine(string.Create(CultureInfo.InvariantCulture, $"    up to {c.MaxLength} commands, sleeps up to {c.MaxSleepMs / 1000.0:0.###} s{(c.TrackingFromStart ? ", tracking from the first step" : "")}"));
        }
    }

    /// <summary>Progress on stderr: a line per tenth of the tests, then each shrink step.</summary>
    private sealed class ProgressPrinter(TextWriter stderr, bool quiet)
    {
        private int _lastTenth = -1;
        private int _lastShrink;

        public void Report(CheckProgress p)
        {
            if (quiet) return;
            if (p.Shrinking)
            {
                if (p.ShrinkSteps == _lastShrink) return;
                if (_lastShrink == 0) stderr.WriteLine($"  test {p.TestsDone} failed; shrinking");
                _lastShrink = p.ShrinkSteps;
                stderr.WriteLine($"  shrink step {p.ShrinkSteps}");
                return;
            }
            var tenth = p.TestsDone * 10 / Math.Max(1, p.Tests);
            if (tenth == _lastTenth) return;
            _lastTenth = tenth;
            stderr.WriteLine($"  {p.TestsDone}/{p.Tests} tests");
        }

        public void Done()
        {
            if (!quiet) stderr.Flush();
        }
    }
}
