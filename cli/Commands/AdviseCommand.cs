using System.Collections.Immutable;
using System.Globalization;
using ConntrackModel.Cli.CommandLine;
using ConntrackModel.Cli.Output;
using ConntrackModel.Properties.Advice;
using ConntrackModel.Properties.Setups;

namespace ConntrackModel.Cli.Commands;

/// <summary><c>ctmodel advise --setup FILE [--events LIST] [--tests N] [--seeds N] [--out DIR] [--json] [--quiet]</c>.</summary>
public static class AdviseCommand
{
    public static CommandSpec Spec { get; } = new("advise", "which mitigation closes the collision on your setup", null,
        "Runs the workload search of 'check --setup' on the setup as written and on the setup changed by each folklore fix " +
        $"({string.Join(", ", Mitigations.All.Skip(1).Select(Mitigations.Name))}), under each event, and prints the table: rows the mitigations, " +
        "columns the events, each cell the minimal collision found or 'none found in N tests' (a search, not a proof). " +
        "Writes advice.md, advice.json, each mitigated setup and each cell's minimal scenario to --out. Exit code 0 when the " +
        "table is written, 2 for bad input.",
        [
            new("--setup", "FILE", "the setup (as check --setup takes it: namespaces, links, addresses, routes, sysctls, rules, listeners)"),
            new("--events", "LIST", "the columns: any of late,flush,expiry (default all three)"),
            new("--tests", "N", $"tests per seed and cell (default {Advisor.DefaultTests})"),
            new("--seeds", "N", $"seeds 1..N per cell, stopping at the first collision (default {Advisor.DefaultSeeds})"),
            new("--out", "DIR", "where advice.md, advice.json, setups/ and cells/ go (default ctmodel-advise/NAME for NAME.scenario)"),
            new("--depth", "K", $"the bound of each cell's Z3 proof (default {DefaultProofDepth}; 0: no proofs)"),
            new("--kernel", null, "also run each collision's minimal scenario, the search's and Z3's, on this machine's kernel (conform; needs root) and say whether it collided there"),
            new("--json", null, "print advice.json on stdout instead of the table"),
            new("--quiet", null, "no progress on stderr"),
        ],
        Run);

    /// <summary>The bound of each cell's proof: depth 6 proves kube-node's cells in about half a second each.</summary>
    public const int DefaultProofDepth = 6;

    public static ExitCode Run(Options o, TextWriter stdout, TextWriter stderr)
    {
        ArgumentNullException.ThrowIfNull(o);
        ArgumentNullException.ThrowIfNull(stdout);
        ArgumentNullException.ThrowIfNull(stderr);
        var tests = (int)o.Number("--tests", Advisor.DefaultTests, 1, 1_000_000);
        var seeds = (int)o.Number("--seeds", Advisor.DefaultSeeds, 1, 1000);
        var proofDepth = (int)o.Number("--depth", DefaultProofDepth, 0, 16);
        if (o.Error is not null) return Program.UsageError(stderr, "advise: " + o.Error);
        if (o.Positionals.Count > 0) return Program.UsageError(stderr, $"advise: unexpected argument '{o.Positionals[0]}' (the setup is --setup FILE)");
        if (o.Value("--setup") is not { } file) return Program.UsageError(stderr, "advise: say which setup: --setup FILE");
        var events = Advisor.DefaultEvents;
        if (o.Value("--events") is { } text)
        {
            var (parsed, error) = SetupSpaces.ParseEvents(text);
            if (error is not null) return Program.UsageError(stderr, "advise: " + error);
            events = [.. Advisor.DefaultEvents.Where(e => parsed.HasFlag(e))];
            if (events.IsEmpty) return Program.UsageError(stderr, "advise: --events needs at least one of late, flush, expiry (the columns of the table)");
        }
        var outDir = o.Path("--out", Path.Combine("ctmodel-advise", Path.GetFileNameWithoutExtension(file)));
        if (o.Error is not null) return Program.UsageError(stderr, "advise: " + o.Error);
        if (FileErrors.CannotWriteDirectory(outDir) is { } why) return Program.UsageError(stderr, $"advise: cannot write to --out '{outDir}': {why}");
        if (!SimulateCommand.TryLoad(file, stderr, out var setup)) return ExitCode.BadInput;
        if (o.Has("--kernel") && !ReplayCommand.CheckRequirements(stderr, "advise --kernel", pcap: false)) return ExitCode.BadInput;

        var quiet = o.Has("--quiet");
        var cellsTotal = Mitigations.All.Length * events.Length;
        var done = 0;
        var (table, refused) = Advisor.Run(file, setup, events, tests, seeds, cell =>
        {
            done++;
            if (!quiet)
                stderr.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"  [{done}/{cellsTotal}] {Mitigations.Name(cell.Mitigation)}, {SetupSpaces.EventsText(cell.Event)}: {cell.Text} ({cell.Elapsed.TotalMilliseconds:0} ms)"));
        });
        if (table is null)
        {
            stderr.WriteLine($"ctmodel: advise: {refused}");
            return ExitCode.BadInput;
        }
        var kernel = new Dictionary<(MitigationKind, SetupEvents), string>();
        if (o.Has("--kernel"))
        {
            foreach (var cell in table.Rows.SelectMany(r => r.Cells).Where(c => c.Verdict == AdviceVerdict.Collision))
            {
                var said = kernel[(cell.Mitigation, cell.Event)] = OnTheKernel(table, cell);
                if (!quiet) stderr.WriteLine($"  kernel: {Mitigations.Name(cell.Mitigation)}, {SetupSpaces.EventsText(cell.Event)}: {said}");
            }
        }
        var proofs = new Dictionary<(MitigationKind, SetupEvents), string>();
        var z3Collisions = new Dictionary<(MitigationKind, SetupEvents), Model.Scenarios.Scenario>();
        if (proofDepth > 0)
        {
            if (Solver.Native.Z3Runtime.Problem is { } missing)
            {
                if (!quiet) stderr.WriteLine($"  no Z3 proofs: {missing}");
            }
            else
            {
                foreach (var cell in table.Rows.SelectMany(r => r.Cells).Where(c => c.Verdict is AdviceVerdict.Collision or AdviceVerdict.NoneFound))
                {
                    var row = table.Rows.Single(r => r.Mitigation == cell.Mitigation);
                    var clock = System.Diagnostics.Stopwatch.StartNew();
                    var (said, collision) = Z3Commands.ProveCellWith(AdviceReport.SetupFile(row), row.Setup.Script, row.Setup.PinnedLines, cell.Event, proofDepth);
                    proofs[(cell.Mitigation, cell.Event)] = said;
                    if (collision is not null) z3Collisions[(cell.Mitigation, cell.Event)] = collision;
                    if (!quiet) stderr.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  z3: {Mitigations.Name(cell.Mitigation)}, {SetupSpaces.EventsText(cell.Event)}: {said} ({clock.ElapsedMilliseconds} ms)"));
                }
            }
        }
        // Z3's collisions on the kernel too: each is the shortest there is, with the ports Z3 chose for it.
        var z3Kernel = new Dictionary<(MitigationKind, SetupEvents), string>();
        if (o.Has("--kernel"))
        {
            foreach (var ((kind, e), scenario) in z3Collisions)
            {
                var said = z3Kernel[(kind, e)] = OnTheKernel(scenario, AdviceReport.Z3CellFile(kind, e));
                if (!quiet) stderr.WriteLine($"  kernel, z3: {Mitigations.Name(kind)}, {SetupSpaces.EventsText(e)}: {said}");
            }
        }
        var json = AdviceReport.Json(table, kernel, proofs, z3Kernel);
        try
        {
            Directory.CreateDirectory(outDir);
            Directory.CreateDirectory(Path.Combine(outDir, "setups"));
            Directory.CreateDirectory(Path.Combine(outDir, "cells"));
            File.WriteAllText(Path.Combine(outDir, "advice.md"), AdviceReport.Markdown(table, links: true, kernel, proofs, proofDepth, z3Collisions.Keys.ToHashSet(), z3Kernel));
            File.WriteAllText(Path.Combine(outDir, "advice.json"), json);
            foreach (var row in table.Rows.Where(r => r.Setup.NotApplicable is null))
                File.WriteAllText(Path.Combine(outDir, AdviceReport.SetupFile(row)), $"# {file} with {Mitigations.Name(row.Mitigation)} (ctmodel advise)" +
                    (row.Setup.PinnedLines.IsEmpty ? "" : $"; its lines {string.Join(", ", row.Setup.PinnedLines.Order().Select(l => l + 1))} are the mitigation's and stay at boot in the late column (check --setup --events late on this file would defer them too)") +
                    "\n" + row.Setup.Script);
            foreach (var cell in table.Rows.SelectMany(r => r.Cells).Where(c => c.Minimal is not null))
                File.WriteAllText(Path.Combine(outDir, AdviceReport.CellFile(cell)), AdviceReport.CellScenario(table, cell));
            // Z3's collisions, each the shortest there is, replayed in the model: `ctmodel simulate` runs them.
            foreach (var ((kind, e), scenario) in z3Collisions)
                File.WriteAllText(Path.Combine(outDir, AdviceReport.Z3CellFile(kind, e)),
                    $"# {file} with {Mitigations.Name(kind)}, {SetupSpaces.EventsText(e)}: Z3's shortest collision (prove --setup), replayed in the model\n" + scenario.ToScript());
        }
        catch (Exception e) when (FileErrors.IsFileError(e))
        {
            stderr.WriteLine($"ctmodel: advise: cannot write to '{outDir}': {FileErrors.Reason(e)}");
            return ExitCode.BadInput;
        }
        stdout.Write(o.Has("--json") ? json : AdviceReport.Markdown(table, links: false, kernel, proofs, proofDepth, z3Kernel: z3Kernel));
        if (!o.Has("--json")) stdout.WriteLine($"\nreport: {Path.Combine(outDir, "advice.md")}, advice.json, setups/, cells/");
        return ExitCode.Ok;
    }

    /// <summary>A collision cell's minimal scenario on the kernel: see <see cref="OnTheKernel(Model.Scenarios.Scenario, string)"/>.</summary>
    internal static string OnTheKernel(Properties.Advice.AdviceTable table, AdviceCell cell)
    {
        var text = AdviceReport.CellScenario(table, cell);
        var parsed = Model.Scenarios.ScenarioParser.Parse(AdviceReport.CellFile(cell), text);
        return parsed.Ok ? OnTheKernel(parsed.Scenario!, AdviceReport.CellFile(cell)) : "not run: " + parsed.Errors[0];
    }

    /// <summary>
    /// A collision's scenario on the kernel (<see cref="ConformCommand.Compare"/>: the kernel run, then the model guided
    /// by the kernel's own choices): whether the kernel collided too, agreed without colliding (its random draw was
    /// another), or disagreed.
    /// </summary>
    internal static string OnTheKernel(Model.Scenarios.Scenario scenario, string file)
    {
        try
        {
            var r = ConformCommand.Compare(scenario, file);
            if (!r.Agree) return string.Create(CultureInfo.InvariantCulture, $"disagrees ({r.Differences.Length} differences: run conform on {file})");
            return r.Model.Violations.IsEmpty
                ? "agrees, no collision there: its random draw was another"
                : "collided too";
        }
        catch (Replay.Host.ReplayException e)
        {
            return "not run: " + e.Message;
        }
    }
}
