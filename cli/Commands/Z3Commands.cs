using ConntrackModel.Cli.CommandLine;
using System.Collections.Immutable;
using System.Globalization;
using System.Text;
using ConntrackModel.Cli.Output;
using ConntrackModel.Model.Choices;
using ConntrackModel.Model.Diagnostics;
using ConntrackModel.Model.Reporting;
using ConntrackModel.Model.Scenarios;
using ConntrackModel.Properties.Checking;
using ConntrackModel.Properties.Generation;
using ConntrackModel.Properties.Shrinking;
using ConntrackModel.Solver.Bmc;
using ConntrackModel.Solver.Native;
using ConntrackModel.Solver.Setups;

namespace ConntrackModel.Cli.Commands;

/// <summary>
/// <c>ctmodel check --engine z3 [--config C] [--depth K] [--out DIR] [--smt]</c> and
/// <c>ctmodel prove --config C [--depth K] [--induction]</c>.
/// </summary>
public static class Z3Commands
{
    public const int DefaultDepth = 6;

    private static bool Available(TextWriter stderr)
    {
        if (Z3Runtime.Problem is not { } problem) return true;
        stderr.WriteLine($"ctmodel: the Z3 engine is unavailable: {problem}");
        return false;
    }

    private static SymbolicConfig? Config(string name, TextWriter stderr, string command)
    {
        if (SymbolicConfigs.Find(name) is { OutsideFragment: { } why })
        {
            Program.UsageError(stderr, $"{command}: configuration '{name}' has no symbolic fragment: {why} (use --engine fscheck)");
            return null;
        }
        if (SymbolicConfigs.Find(name) is { } c) return c;
        Program.UsageError(stderr, $"{command}: unknown configuration '{name}': expected one of {string.Join(", ", SymbolicConfigs.Catalogue.Where(x => x.OutsideFragment is null).Select(x => x.Name))}");
        return null;
    }

    public static ExitCode Check(string configName, int depth, string outDir, bool smt, TextWriter stdout, TextWriter stderr, IReadOnlySet<string>? portable = null)
    {
        ArgumentNullException.ThrowIfNull(stdout);
        ArgumentNullException.ThrowIfNull(stderr);
        if (Config(configName, stderr, "check") is not { } config) return ExitCode.BadInput;
        if (!Available(stderr)) return ExitCode.BadInput;
        var r = ModelChecker.Search(config, depth, smt);
        if (r.EncodingBug is not null)
        {
            stderr.WriteLine($"ctmodel: check --engine z3: ENCODING BUG: Z3 found a trace of depth {r.Depth} that the concrete model does not replay: {r.EncodingBug}");
            stderr.Write(r.Scenario?.ToScript());
            return ExitCode.Internal;
        }
        var written = "";
        Counterexample? cx = r.Found ? Counterexample.Of(r.Scenario! with { Name = Path.Combine(outDir, "minimal.scenario") },
            Minimality.Of(new Trial([], r.Scenario!.Lines.Select(l => l.Command).ToImmutableList(), r.Scenario.Choices))) : null;
        try
        {
            Directory.CreateDirectory(outDir);
            var minimalPath = Path.Combine(outDir, "minimal.scenario");
            string? trace = null;
            if (cx is not null)
            {
                var wire = WireExploration.Explore(cx.Scenario, ChoiceSource.First, WireExploration.DefaultBudget);
                trace = TextReport.Write(cx.Simulation, Observation.Of(cx.Simulation, wire.Wire), wire, 1);
                File.WriteAllText(minimalPath, $"# Minimal-length counterexample to {cx.Violation.Name} found by `ctmodel check --engine z3 --config {config.Name} --depth {depth}`; its choose lines, if any, pin the choices the violation depends on.\n" + cx.Scenario.ToScript());
            }
            else if (File.Exists(minimalPath))
            {
                File.Delete(minimalPath);
            }
            File.WriteAllText(Path.Combine(outDir, "report.md"), Markdown(r, cx, trace, depth));
            File.WriteAllText(Path.Combine(outDir, "report.json"), Json(r, cx, depth) + "\n");
            if (smt && r.Smt is not null) File.WriteAllText(Path.Combine(outDir, "query.smt2"), r.Smt);
            written = PortableReport.Write(portable ?? new HashSet<string>(), outDir, cx);
        }
        catch (Exception e) when (FileErrors.IsFileError(e))
        {
            stderr.WriteLine($"ctmodel: check: cannot write the report to '{outDir}': {FileErrors.Reason(e)}");
            return ExitCode.BadInput;
        }
        stdout.WriteLine(string.Create(CultureInfo.InvariantCulture, $"check {config.Name} (z3): depth up to {depth}, {r.Elapsed.TotalMilliseconds:0} ms ({string.Join(", ", r.PerDepth.Select(p => $"depth {p.Depth}: {p.Ms:0} ms"))})"));
        if (cx is null)
        {
            stdout.WriteLine($"no violation within {depth} steps (ports over their full ranges, up to {ModelChecker.SlotsFor(depth)} connections)");
        }
        else
        {
            stdout.WriteLine($"VIOLATION of {cx.Violation.Name} at minimal depth {r.Depth}: {cx.Violation.Message}");
            stdout.WriteLine("replayed in the concrete model:");
            foreach (var line in cx.Scenario.ToScript().TrimEnd('\n').Split('\n')) stdout.WriteLine("  " + line);
        }
        stdout.WriteLine($"report: {Path.Combine(outDir, "report.md")}, report.json{(cx is null ? "" : ", minimal.scenario")}{(smt ? ", query.smt2" : "")}{written}");
        return cx is null ? ExitCode.Ok : ExitCode.Violation;
    }

    /// <summary>The facts of report.md for tools, in the shape of the FsCheck engine's report.json where they coincide.</summary>
    private static string Json(BmcResult r, Counterexample? cx, int depth)
    {
        using var stream = new MemoryStream();
        using (var w = new System.Text.Json.Utf8JsonWriter(stream, new System.Text.Json.JsonWriterOptions { Indented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            w.WriteStartObject();
            w.WriteString("engine", "z3");
            w.WriteString("config", r.Config.Name);
            w.WriteString("verdict", cx is null ? "no-violation" : "violation");
            w.WriteNumber("maxDepth", depth);
            w.WriteNumber("elapsedMs", Math.Round(r.Elapsed.TotalMilliseconds, 1));
            w.WriteStartArray("perDepthMs");
            foreach (var (d, ms) in r.PerDepth)
            {
                w.WriteStartObject();
                w.WriteNumber("depth", d);
                w.WriteNumber("ms", Math.Round(ms, 1));
                w.WriteEndObject();
            }
            w.WriteEndArray();
            if (cx is not null)
            {
                w.WriteNumber("depth", r.Depth);
                w.WriteStartObject("invariant");
                w.WriteString("id", cx.Violation.Name);
                w.WriteString("meaning", Invariants.Meaning(cx.Violation.Invariant));
                w.WriteNumber("step", cx.Violation.Step);
                w.WriteString("message", cx.Violation.Message);
                w.WriteEndObject();
                w.WriteNumber("minimalLength", cx.Scenario.Lines.Count);
                w.WriteStartArray("minimalScenario");
                foreach (var l in cx.Scenario.ToScript().Split('\n', StringSplitOptions.RemoveEmptyEntries)) w.WriteStringValue(l);
                w.WriteEndArray();
            }
            w.WriteEndObject();
        }
        return System.Text.Encoding.UTF8.GetString(stream.ToArray());
    }

    private static string Markdown(BmcResult r, Counterexample? cx, string? trace, int depth)
    {
        var sb = new StringBuilder();
        sb.AppendLine(CultureInfo.InvariantCulture, $"# ctmodel check: `{r.Config.Name}` (Z3 bounded model checking)");
        sb.AppendLine();
        sb.AppendLine("| | |");
        sb.AppendLine("|---|---|");
        sb.AppendLine(CultureInfo.InvariantCulture, $"| verdict | {(cx is null ? $"no violation within {depth} steps" : $"**violation of `{cx.Violation.Name}`** at minimal depth {r.Depth}")} |");
        sb.AppendLine("| engine | Z3, iterative deepening over the connection-level encoding; the trace was replayed in the concrete model |");
        sb.AppendLine(CultureInfo.InvariantCulture, $"| time | {r.Elapsed.TotalMilliseconds:0} ms; per depth: {string.Join(", ", r.PerDepth.Select(p => $"{p.Depth}: {p.Ms:0} ms"))} |");
        sb.AppendLine(CultureInfo.InvariantCulture, $"| rerun | `ctmodel check --engine z3 --config {r.Config.Name} --depth {depth}` |");
        sb.AppendLine();
        if (cx is null) return sb.ToString();
        CheckReport.Counterexample(sb, cx, trace,
            string.Create(CultureInfo.InvariantCulture, $"No trace of fewer than {r.Depth} steps after the setup reaches a violation. Saved as `minimal.scenario`; `ctmodel simulate minimal.scenario` replays it."));
        return sb.ToString();
    }

    public static CommandSpec ProveSpec { get; } = new("prove", "prove the invariants with Z3", null,
        "Proves that no trace of up to --depth steps (one connection a step) breaks wire-tuple-uniqueness or " +
        "no-foreign-reset in the configuration, or with --induction for every depth, or prints the counterexample. " +
        "Exit code 0 proved, 1 a counterexample, 2 bad input.",
        [
            new("--config", "C", "the configuration (e.g. boot); or --setup"),
            new("--setup", "FILE", "prove it for a setup (as check --setup takes it): its connects' kinds come from the model, their ports are symbolic"),
            new("--events", "LIST", "with --setup: any of late,flush,expiry (default none)"),
            new("--depth", "K", "the bound (default 8, at most 64; 16 connection slots)"),
            new("--induction", null, "also try 1-induction for a proof at every depth (with --setup: up to --depth connections)"),
        ],
        Prove);

    public static ExitCode Prove(Options o, TextWriter stdout, TextWriter stderr)
    {
        ArgumentNullException.ThrowIfNull(o);
        ArgumentNullException.ThrowIfNull(stdout);
        ArgumentNullException.ThrowIfNull(stderr);
        var depth = (int)o.Number("--depth", 8, 1, 64);
        if (o.Error is not null) return Program.UsageError(stderr, "prove: " + o.Error);
        if (o.Positionals.Count > 0) return Program.UsageError(stderr, $"prove: unexpected argument '{o.Positionals[0]}'");
        if (o.Value("--setup") is { } setupFile)
        {
            if (o.Value("--config") is not null) return Program.UsageError(stderr, "prove: --config and --setup exclude each other");
            if (depth > SetupProver.MaxSlots) return Program.UsageError(stderr, $"prove: --depth with --setup is at most {SetupProver.MaxSlots} (one connection slot a step)");
            return ProveSetup(setupFile, o.Value("--events"), depth, o.Has("--induction"), stdout, stderr);
        }
        if (o.Value("--events") is not null) return Program.UsageError(stderr, "prove: --events goes with --setup");
        if (o.Value("--config") is not { } name) return Program.UsageError(stderr, "prove: --config C or --setup FILE is required (e.g. --config boot)");
        if (Config(name, stderr, "prove") is not { } config) return ExitCode.BadInput;
        if (!Available(stderr)) return ExitCode.BadInput;
        var r = Prover.Prove(config, depth, o.Has("--induction"));
        // A TCP collision breaks both invariants at once; a UDP one wire uniqueness and, when an answer is misdelivered, foreign delivery.
        var invariants = $"{Invariants.Name(InvariantId.WireTupleUniqueness)} and {Invariants.Name(config.Udp ? InvariantId.NoForeignDelivery : InvariantId.NoForeignReset)}";
        if (r.Bounded.EncodingBug is not null)
        {
            stderr.WriteLine($"ctmodel: prove: ENCODING BUG: {r.Bounded.EncodingBug}");
            return ExitCode.Internal;
        }
        if (r.Bounded.Found)
        {
            stdout.WriteLine($"prove {config.Name}: NOT SAFE: a violation is reachable in {r.Bounded.Depth} steps:");
            foreach (var line in r.Bounded.Scenario!.ToScript().TrimEnd('\n').Split('\n')) stdout.WriteLine("  " + line);
            return ExitCode.Violation;
        }
        stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"prove {config.Name}: {invariants} hold for every run of up to {depth} steps, up to {ModelChecker.SlotsFor(depth)} connections, ports over their full ranges ({r.Bounded.Elapsed.TotalMilliseconds:0} ms)"));
        if (r.Inductive is { } inductive)
        {
            stdout.WriteLine($"  inductive alone: {(r.InductiveAlone == true ? "yes" : "no (a state with a live untracked connection can step into a collision)")}");
            stdout.WriteLine(inductive
                ? $"  k-induction (k=1) closes the proof for runs of any length, with the strengthening invariants: {string.Join("; ", r.Strengthening)}"
                : "  k-induction (k=1) did not close the proof with the candidate invariants");
            if (inductive) stdout.WriteLine($"  needed among them: {(r.Needed.IsEmpty ? "none" : string.Join("; ", r.Needed))}");
            if (!r.Dropped.IsEmpty) stdout.WriteLine($"  candidates that are not invariants: {string.Join("; ", r.Dropped)}");
            stdout.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  total {r.Elapsed.TotalMilliseconds:0} ms"));
        }
        return ExitCode.Ok;
    }

    /// <summary>
    /// <c>prove --setup FILE</c>: the setup's fragment (<see cref="SetupFragment.Build"/>), refused by name when the
    /// symbolic engine cannot express it (exit 2), then the bounded search; a collision is replayed in the model first.
    /// </summary>
    private static ExitCode ProveSetup(string file, string? eventsText, int depth, bool induction, TextWriter stdout, TextWriter stderr)
    {
        var (events, eventsError) = Properties.Setups.SetupSpaces.ParseEvents(eventsText);
        if (eventsError is not null) return Program.UsageError(stderr, "prove: " + eventsError);
        if (!SimulateCommand.TryLoad(file, stderr, out var setup)) return ExitCode.BadInput;
        if (!Available(stderr)) return ExitCode.BadInput;
        var (fragment, why, outside) = FragmentOf(file, setup, events);
        if (fragment is null)
        {
            stderr.WriteLine($"ctmodel: prove: {(outside ? file + ": " : "")}{why}");
            return ExitCode.BadInput;
        }
        SetupProof r;
        try
        {
            r = SetupProver.Search(fragment, depth);
        }
        catch (SetupProver.GaveUpException gaveUp)
        {
            stderr.WriteLine($"ctmodel: prove: unknown within the time limit: {gaveUp.Message}");
            return ExitCode.Internal;
        }
        var words = events == Properties.Setups.SetupEvents.None ? "no events" : "events " + Properties.Setups.SetupSpaces.EventsText(events);
        if (r.EncodingBug is not null)
        {
            stderr.WriteLine($"ctmodel: prove: ENCODING BUG: {r.EncodingBug}");
            if (r.Scenario is not null) stderr.Write(r.Scenario.ToScript());
            return ExitCode.Internal;
        }
        if (r.Found)
        {
            stdout.WriteLine(string.Create(CultureInfo.InvariantCulture, $"prove --setup {file} ({words}): COLLISION in {r.Depth} steps, replayed in the model:"));
            foreach (var line in r.Scenario!.ToScript().TrimEnd('\n').Split('\n')) stdout.WriteLine("  " + line);
            return ExitCode.Violation;
        }
        stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"prove --setup {file} ({words}): no collision in any run of up to {depth} steps: connects of {fragment.Classes.Length} kinds (from bound ports {SetupFragment.BoundLow}-65535 or automatic ones, NAT ports over their full ranges) and the events; no sends or closes ({r.Elapsed.TotalMilliseconds:0} ms)"));
        if (!induction) return ExitCode.Ok;
        SetupInduction k;
        try
        {
            k = SetupProver.Induct(fragment, depth);
        }
        catch (SetupProver.GaveUpException gaveUp)
        {
            stdout.WriteLine($"  1-induction: unknown within the time limit ({gaveUp.Message})");
            return ExitCode.Ok;
        }
        stdout.WriteLine($"  inductive alone: {(k.InductiveAlone ? "yes" : "no")}");
        stdout.WriteLine(k.Inductive
            ? $"  1-induction closes the proof for runs of any length with up to {k.Slots} connections, with the strengthening invariants: {string.Join("; ", k.Kept)}"
            : "  1-induction did not close the proof with the candidate invariants");
        if (k.Inductive) stdout.WriteLine($"  needed among them: {(k.Needed.IsEmpty ? "none" : string.Join("; ", k.Needed))}");
        if (!k.Dropped.IsEmpty) stdout.WriteLine($"  candidates that are not invariants: {string.Join("; ", k.Dropped)}");
        stdout.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  induction {k.Elapsed.TotalMilliseconds:0} ms"));
        return ExitCode.Ok;
    }

    /// <summary>
    /// A setup's fragment for <paramref name="events"/>, or why there is none: the setup space's error, or (with
    /// <c>Outside</c>) "outside the symbolic engine: " and the refusal. One path for <c>prove --setup</c> and <c>advise</c>'s cells.
    /// </summary>
    internal static (SetupFragment? Fragment, string Why, bool Outside) FragmentOf(string file, Model.Scenarios.Scenario setup, Properties.Setups.SetupEvents events,
        IReadOnlySet<int>? pinnedLines = null)
    {
        var (input, error) = SetupInputOf(file, setup, events, pinnedLines);
        if (input is null) return (null, error ?? "no setup space", false);
        var (fragment, why) = SetupFragment.Build(input);
        return fragment is null ? (null, "outside the symbolic engine: " + why, true) : (fragment, "", false);
    }

    /// <summary>The solver's view of a setup: what check --setup's space says, without the property project's types.</summary>
    internal static (SetupInput? Input, string? Error) SetupInputOf(string file, Model.Scenarios.Scenario setup, Properties.Setups.SetupEvents events,
        IReadOnlySet<int>? pinnedLines = null)
    {
        var (config, error) = Properties.Setups.SetupSpaces.From(file, setup, events, pinnedLines: pinnedLines);
        if (config?.Space is not { } space) return (null, error);
        return (new SetupInput(file, [.. config.Setup], space.Deferred, [.. space.Origins.Select(o => (o.Netns, o.Address))],
            [.. space.Targets.Select(t => (t.Address, t.Proto))], space.Tracking,
            events.HasFlag(Properties.Setups.SetupEvents.Late), events.HasFlag(Properties.Setups.SetupEvents.Flush), events.HasFlag(Properties.Setups.SetupEvents.Expiry))
        { WhereIs = space.WhereIs }, null);
    }

    /// <summary>
    /// One cell of <c>advise</c>'s proof table: the bounded proof of a mitigated setup under one event (the mitigation's
    /// pinned lines stay at boot under <c>late</c>, as in the search), then the induction where it holds, as the cell's
    /// text. <paramref name="file"/> is the row's saved setup (<c>setups/SLUG.scenario</c>, one header line before the script).
    /// </summary>
    internal static string ProveCell(string file, string script, IReadOnlySet<int> pinnedLines, Properties.Setups.SetupEvents e, int depth) =>
        ProveCellWith(file, script, pinnedLines, e, depth).Text;

    /// <summary><see cref="ProveCell"/>, with the collision's scenario when there is one (advise saves it).</summary>
    internal static (string Text, Model.Scenarios.Scenario? Collision) ProveCellWith(string file, string script, IReadOnlySet<int> pinnedLines, Properties.Setups.SetupEvents e, int depth)
    {
        // advise saves each row's setup under one header line: a refusal's FILE:LINE names that file's line.
        var parsed = Model.Scenarios.ScenarioParser.Parse(file, "#\n" + script);
        if (!parsed.Ok) return ("not run: " + parsed.Errors[0], null);
        var (fragment, why, outside) = FragmentOf(file, parsed.Scenario!, e, pinnedLines.Select(l => l + 1).ToHashSet());
        if (fragment is null) return (outside ? why : "not run: " + why, null);
        SetupProof r;
        try
        {
            r = SetupProver.Search(fragment, depth);
        }
        catch (SetupProver.GaveUpException gaveUp)
        {
            return ($"unknown within the time limit ({gaveUp.Message})", null);
        }
        if (r.EncodingBug is not null) return ("ENCODING BUG: " + r.EncodingBug, null);
        if (r.Found) return (string.Create(CultureInfo.InvariantCulture, $"collision: {r.Depth} steps"), r.Scenario);
        try
        {
            return (SetupProver.Induct(fragment, depth).Inductive
                ? string.Create(CultureInfo.InvariantCulture, $"proved safe for any length (up to {depth} connections)")
                : string.Create(CultureInfo.InvariantCulture, $"proved safe to depth {depth}"), null);
        }
        catch (SetupProver.GaveUpException)
        {
            return (string.Create(CultureInfo.InvariantCulture, $"proved safe to depth {depth}"), null);
        }
    }
}
