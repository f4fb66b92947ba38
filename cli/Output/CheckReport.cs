using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using ConntrackModel.Model.Diagnostics;
using ConntrackModel.Model.Iptables;
using ConntrackModel.Model.Kernel;
using ConntrackModel.Model.Reporting;
using ConntrackModel.Properties.Checking;
using ConntrackModel.Properties.Configs;
using ConntrackModel.Properties.Setups;

namespace ConntrackModel.Cli.Output;

/// <summary>
/// The files <c>ctmodel check</c> writes: <c>report.md</c> (read at a glance: verdict, minimal scenario, trace,
/// conntrack table around the fatal step, a Mermaid sequence diagram, coverage), <c>report.json</c> (the same
/// facts for tools) and <c>minimal.scenario</c> (runnable by <c>ctmodel simulate</c>).
/// </summary>
public static class CheckReport
{
    public static string CommandLine(CheckResult r)
    {
        ArgumentNullException.ThrowIfNull(r);
        return string.Create(CultureInfo.InvariantCulture, $"ctmodel check --engine fscheck {ConfigArgs(r.Options.Config)} --tests {r.Options.Tests} --seed {r.Seed}");
    }

    public static string ReplayLine(CheckResult r)
    {
        ArgumentNullException.ThrowIfNull(r);
        return r.Replay is { } t ? $"ctmodel check --engine fscheck {ConfigArgs(r.Options.Config)} --replay {t}" : CommandLine(r);
    }

    /// <summary>How the command line names the configuration: <c>--config NAME</c>, or <c>--setup FILE [--events LIST]</c>.</summary>
    public static string ConfigArgs(CheckConfig config) => config is null ? throw new ArgumentNullException(nameof(config)) : config.Space is not { } space
        ? $"--config {config.Name}"
        : $"--setup {space.File}{(space.Events == SetupEvents.None ? "" : " --events " + SetupSpaces.EventsText(space.Events))}{(space.ShrinkSetup ? " --shrink-setup" : "")}";

    /// <summary>The minimal scenario file: a description line, then the pinned choices and the commands.</summary>
    public static string MinimalScenario(CheckResult r, Counterexample cx)
    {
        ArgumentNullException.ThrowIfNull(r);
        ArgumentNullException.ThrowIfNull(cx);
        return $"# Minimal counterexample to {cx.Violation.Name} found by `{CommandLine(r)}`; its choose lines, if any, pin the choices the violation depends on.\n" +
               cx.Scenario.ToScript();
    }

    public static string Markdown(CheckResult r, Counterexample? cx, string? trace)
    {
        ArgumentNullException.ThrowIfNull(r);
        var c = r.Options.Config;
        var sb = new StringBuilder();
        sb.AppendLine(CultureInfo.InvariantCulture, $"# ctmodel check: `{c.Name}`");
        sb.AppendLine();
        sb.AppendLine(c.Description);
        sb.AppendLine();
        sb.AppendLine("| | |");
        sb.AppendLine("|---|---|");
        sb.AppendLine(CultureInfo.InvariantCulture, $"| verdict | {(r.Error is not null ? "error: " + r.Error : r.Failed ? $"**violation of `{cx!.Violation.Name}`**" : "no violation found")} |");
        sb.AppendLine(CultureInfo.InvariantCulture, $"| engine | FsCheck property run |");
        sb.AppendLine(CultureInfo.InvariantCulture, $"| seed | `{r.Seed}` |");
        sb.AppendLine(CultureInfo.InvariantCulture, $"| tests run | {r.TestsRun} of {r.Options.Tests} |");
        if (r.Failed)
        {
            sb.AppendLine(CultureInfo.InvariantCulture, $"| shrink steps | {r.ShrinkSteps} |");
            sb.AppendLine(CultureInfo.InvariantCulture, $"| length | {r.Original!.Length} commands generated, {r.Minimal!.Length} after shrinking |");
            sb.AppendLine(CultureInfo.InvariantCulture, $"| minimal | {(cx!.Minimality.Minimal ? "yes" : "no")}: {cx.Minimality.Describe(r.Minimal.Setup.Count)} |");
            if (c.Space is { ShrinkSetup: true } shrunk)
                sb.AppendLine(CultureInfo.InvariantCulture, $"| setup lines dropped (--shrink-setup) | {SetupDropped(shrunk, r.Minimal)} |");
        }
        sb.AppendLine(CultureInfo.InvariantCulture, $"| time | {r.Elapsed.TotalMilliseconds:0} ms, model {r.CommandsPerSecond:0} commands/s |");
        sb.AppendLine(CultureInfo.InvariantCulture, $"| rerun | `{CommandLine(r)}` |");
        if (r.Replay is not null) sb.AppendLine(CultureInfo.InvariantCulture, $"| replay the failing test | `{ReplayLine(r)}` |");
        sb.AppendLine();
        if (cx is not null)
        {
            Counterexample(sb, cx, trace, "Saved as `minimal.scenario`; `ctmodel simulate minimal.scenario` replays it.");
            if (c.Space is { } space) NatRules(sb, cx, space);
            sb.AppendLine("## As generated");
            sb.AppendLine();
            sb.AppendLine(CultureInfo.InvariantCulture, $"The trial FsCheck generated before shrinking ({r.Original!.Length} commands):");
            sb.AppendLine();
            sb.AppendLine("```sh");
            sb.Append(r.Original.ToScenario("original").ToScript());
            sb.AppendLine("```");
            sb.AppendLine();
        }
        sb.AppendLine("## Coverage");
        sb.AppendLine();
        sb.AppendLine(CultureInfo.InvariantCulture, $"In how many of the {r.TestsRun} tests each command, rule kind, state and event occurred (FsCheck classify).");
        sb.AppendLine();
        foreach (var group in r.Coverage.GroupBy(row => row.Category))
        {
            sb.AppendLine(CultureInfo.InvariantCulture, $"| {group.Key} | tests | % |");
            sb.AppendLine("|---|---:|---:|");
            foreach (var row in group.OrderByDescending(x => x.Tests).ThenBy(x => x.Item, StringComparer.Ordinal))
                sb.AppendLine(CultureInfo.InvariantCulture, $"| {row.Item} | {row.Tests} | {row.Percent:0.0} |");
            sb.AppendLine();
        }
        var missing = Enum.GetValues<OpKind>().Where(c.Allows).Select(k => OpKinds.Name(k))
            .Where(k => !r.Coverage.Any(row => row.Category == Coverage.Command && row.Item == k)).ToList();
        if (missing.Count > 0) sb.AppendLine(CultureInfo.InvariantCulture, $"Never generated although the configuration allows them: {string.Join(", ", missing)}.");
        return sb.ToString();
    }

    /// <summary>What <c>--shrink-setup</c> dropped of the setup: "none", or its lines as <c>FILE:LINE</c>.</summary>
    public static string SetupDropped(SetupSpace space, Properties.Generation.Trial minimal)
    {
        ArgumentNullException.ThrowIfNull(space);
        ArgumentNullException.ThrowIfNull(minimal);
        var dropped = SetupSpaces.Dropped(space, minimal.Commands);
        return dropped.IsEmpty
            ? "none: every line of the setup is needed"
            : $"{dropped.Length} line{(dropped.Length == 1 ? "" : "s")} of {space.File}: {SetupSpaces.Ranges(dropped)}";
    }

    /// <summary>
    /// Around a user's setup: each NAT decision of the counterexample, with the rule of the user's file whose target
    /// made it (a decision no rule made is a null binding: the tuple kept).
    /// </summary>
    private static void NatRules(StringBuilder sb, Counterexample cx, SetupSpace space)
    {
        var rows = new List<string>();
        foreach (var step in cx.Simulation.Steps)
        {
            foreach (var ev in step.Events.OfType<KernelEvent.Ct>().Where(e => e.NatRule is not null))
            {
                var rule = ev.NatRule!;
                var where = space.WhereIs(rule) ?? "not in the setup (a line of the workload)";
                rows.Add(string.Create(CultureInfo.InvariantCulture, $"| {step.Step} | `{ev.Text.Replace("|", "\\|", StringComparison.Ordinal)}` | `-t {rule.Table.Name()} -A {rule.ChainName} {rule.Spec.Replace("|", "\\|", StringComparison.Ordinal)}` | {where} |"));
            }
        }
        sb.AppendLine(CultureInfo.InvariantCulture, $"## The rules of `{space.File}` that chose each NAT binding");
        sb.AppendLine();
        if (rows.Count == 0)
        {
            sb.AppendLine("No rule's target made a NAT decision in this counterexample: every tuple was kept (null bindings).");
            sb.AppendLine();
            return;
        }
        sb.AppendLine("| step | decision | rule | written at |");
        sb.AppendLine("|---|---|---|---|");
        foreach (var row in rows) sb.AppendLine(row);
        sb.AppendLine();
    }

    /// <summary>The report's counterexample sections, shared by both engines: invariant, minimal scenario, diagram, table, trace.</summary>
    public static void Counterexample(StringBuilder sb, Counterexample cx, string? trace, string minimalNote)
    {
        ArgumentNullException.ThrowIfNull(sb);
        ArgumentNullException.ThrowIfNull(cx);
        sb.AppendLine(CultureInfo.InvariantCulture, $"## The invariant: `{cx.Violation.Name}`");
        sb.AppendLine();
        sb.AppendLine(Invariants.Meaning(cx.Violation.Invariant));
        sb.AppendLine();
        var line = cx.Scenario.Lines[cx.FatalIndex];
        sb.AppendLine(CultureInfo.InvariantCulture, $"It broke at step {cx.Violation.Step}, `{line.Command.ToScript()}`: {cx.Violation.Message}");
        sb.AppendLine();
        sb.AppendLine("## Minimal scenario");
        sb.AppendLine();
        sb.AppendLine(minimalNote);
        sb.AppendLine();
        sb.AppendLine("```sh");
        sb.Append(cx.Scenario.ToScript());
        sb.AppendLine("```");
        sb.AppendLine();
        if (cx.Simulation.Final.Namespaces.Length > 1)
        {
            sb.AppendLine("## Topology");
            sb.AppendLine();
            sb.AppendLine("```mermaid");
            sb.Append(Topology.Mermaid(cx.Simulation.Final));
            sb.AppendLine("```");
            sb.AppendLine();
        }
        sb.AppendLine("## Packets");
        sb.AppendLine();
        sb.AppendLine("```mermaid");
        sb.Append(SequenceDiagram.Write(cx.Simulation, cx.Violation.Step));
        sb.AppendLine("```");
        sb.AppendLine();
        sb.AppendLine(CultureInfo.InvariantCulture, $"## Conntrack table around step {cx.Violation.Step}");
        sb.AppendLine();
        sb.AppendLine("Before:");
        sb.AppendLine();
        Table(sb, cx.Before);
        sb.AppendLine("After:");
        sb.AppendLine();
        Table(sb, cx.After);
        sb.AppendLine("## Trace");
        sb.AppendLine();
        sb.AppendLine("```");
        sb.Append(trace);
        sb.AppendLine("```");
        sb.AppendLine();
    }

    private static void Table(StringBuilder sb, World w)
    {
        var live = w.Conntrack.Live(w.Now).ToList();
        sb.AppendLine("```");
        if (!w.Netfilter.Tracking) sb.AppendLine("(conntrack hooks not registered: nothing is tracked)");
        foreach (var e in live) sb.AppendLine(e.ToConntrackLine(w.Now));
        sb.AppendLine(CultureInfo.InvariantCulture, $"{live.Count} flow entries");
        sb.AppendLine("```");
        sb.AppendLine();
    }

    public static string Json(CheckResult r, Counterexample? cx, string? minimalScript)
    {
        ArgumentNullException.ThrowIfNull(r);
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            w.WriteStartObject();
            w.WriteString("engine", "fscheck");
            w.WriteString("config", r.Options.Config.Name);
            w.WriteString("verdict", r.Error is not null ? "error" : r.Failed ? "violation" : "no-violation");
            if (r.Error is not null) w.WriteString("error", r.Error);
            w.WriteString("seed", r.Seed.ToString(CultureInfo.InvariantCulture));
            w.WriteNumber("tests", r.Options.Tests);
            w.WriteNumber("testsRun", r.TestsRun);
            w.WriteNumber("elapsedMs", Math.Round(r.Elapsed.TotalMilliseconds, 1));
            w.WriteNumber("commandsPerSecond", Math.Round(r.CommandsPerSecond));
            w.WriteString("rerun", CommandLine(r));
            if (r.Replay is { } token) w.WriteString("replay", token.ToString());
            if (cx is not null)
            {
                w.WriteStartObject("invariant");
                w.WriteString("id", cx.Violation.Name);
                w.WriteString("meaning", Invariants.Meaning(cx.Violation.Invariant));
                w.WriteNumber("step", cx.Violation.Step);
                w.WriteString("message", cx.Violation.Message);
                w.WriteEndObject();
                w.WriteNumber("shrinkSteps", r.ShrinkSteps);
                w.WriteNumber("originalLength", r.Original!.Length);
                w.WriteNumber("minimalLength", r.Minimal!.Length);
                w.WriteBoolean("minimal", cx.Minimality.Minimal);
                w.WriteNumber("removalsPassing", cx.Minimality.Passing);
                w.WriteNumber("removalsRejected", cx.Minimality.Rejected.Length);
                w.WriteNumber("removalsStillFailing", cx.Minimality.StillFailing.Length);
                Lines(w, "original", r.Original.ToScenario("original").ToScript());
                Lines(w, "minimalScenario", minimalScript ?? "");
                Lines(w, "conntrackBefore", string.Join("\n", cx.Before.Conntrack.Live(cx.Before.Now).Select(e => e.ToConntrackLine(cx.Before.Now))));
                Lines(w, "conntrackAfter", string.Join("\n", cx.After.Conntrack.Live(cx.After.Now).Select(e => e.ToConntrackLine(cx.After.Now))));
            }
            w.WriteStartArray("coverage");
            foreach (var row in r.Coverage)
            {
                w.WriteStartObject();
                w.WriteString("category", row.Category);
                w.WriteString("item", row.Item);
                w.WriteNumber("tests", row.Tests);
                w.WriteNumber("percent", Math.Round(row.Percent, 1));
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(stream.ToArray());
    }

    private static void Lines(Utf8JsonWriter w, string name, string text)
    {
        w.WriteStartArray(name);
        foreach (var l in text.Split('\n', StringSplitOptions.RemoveEmptyEntries)) w.WriteStringValue(l);
        w.WriteEndArray();
    }
}
