using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using ConntrackModel.Model.Diagnostics;
using ConntrackModel.Properties.Advice;
using ConntrackModel.Properties.Checking;
using ConntrackModel.Properties.Setups;

namespace ConntrackModel.Cli.Output;

/// <summary>
/// <c>ctmodel advise</c>'s outputs: the table in Markdown (stdout and <c>advice.md</c>) and JSON (<c>advice.json</c>), each
/// mitigated setup as <c>setups/ROW.scenario</c> and each cell's minimal counterexample as <c>cells/ROW-EVENT.scenario</c>.
/// </summary>
public static class AdviceReport
{
    /// <summary>Where a cell's minimal counterexample goes, relative to the output directory.</summary>
    public static string CellFile(AdviceCell cell)
    {
        ArgumentNullException.ThrowIfNull(cell);
        return $"cells/{Mitigations.Slug(cell.Mitigation)}-{SetupSpaces.EventsText(cell.Event)}.scenario";
    }

    /// <summary>Where Z3's collision for a cell goes, relative to the output directory.</summary>
    public static string Z3CellFile(MitigationKind kind, SetupEvents e) => $"cells/{Mitigations.Slug(kind)}-{SetupSpaces.EventsText(e)}-z3.scenario";

    /// <summary>Where a row's mitigated setup goes, relative to the output directory.</summary>
    public static string SetupFile(AdviceRow row)
    {
        ArgumentNullException.ThrowIfNull(row);
        return $"setups/{Mitigations.Slug(row.Mitigation)}.scenario";
    }

    /// <summary>The minimal counterexample of a collision cell, as a scenario that replays it (<c>ctmodel simulate</c>).</summary>
    public static string CellScenario(AdviceTable t, AdviceCell cell)
    {
        ArgumentNullException.ThrowIfNull(t);
        ArgumentNullException.ThrowIfNull(cell);
        var cx = Counterexample.Of(cell.Minimal!, CellFile(cell), cell.Config);
        return $"# {Mitigations.Name(cell.Mitigation)}, {SetupSpaces.EventsText(cell.Event)}: the minimal collision `ctmodel advise --setup {t.File}` found ({cx.Violation.Name} at step {cx.Violation.Step}).\n" +
               cx.Scenario.ToScript();
    }

    /// <summary>The table, with what each cell means and what it cost.</summary>
    public static string Markdown(AdviceTable t, bool links, IReadOnlyDictionary<(MitigationKind, SetupEvents), string>? kernel = null,
        IReadOnlyDictionary<(MitigationKind, SetupEvents), string>? proofs = null, int proofDepth = 0, IReadOnlySet<(MitigationKind, SetupEvents)>? z3Linked = null,
        IReadOnlyDictionary<(MitigationKind, SetupEvents), string>? z3Kernel = null)
    {
        ArgumentNullException.ThrowIfNull(t);
        var sb = new StringBuilder();
        sb.AppendLine(CultureInfo.InvariantCulture, $"# ctmodel advise: {t.File}");
        sb.AppendLine();
        sb.AppendLine(CultureInfo.InvariantCulture, $"Each cell: workloads generated around the setup with the mitigation applied, under the event of its column (as `check --setup FILE --events EVENT`), seeds 1..{t.Seeds} of {t.Tests} tests each, stopping at the first collision. \"none found\" is a search that found nothing, not a proof. {t.Elapsed.TotalSeconds:0.0} s in all.");
        sb.AppendLine();
        sb.AppendLine("| mitigation | " + string.Join(" | ", t.Events.Select(SetupSpaces.EventsText)) + " |");
        sb.AppendLine("|---|" + string.Concat(t.Events.Select(_ => "---|")));
        foreach (var row in t.Rows)
        {
            var cells = row.Cells.Select(c => (c.Verdict == AdviceVerdict.Collision && links ? $"[{c.Text}]({CellFile(c)})" : c.Text) +
                (kernel?.GetValueOrDefault((c.Mitigation, c.Event)) is { } k ? "; kernel: " + k : ""));
            sb.AppendLine(CultureInfo.InvariantCulture, $"| {Mitigations.Name(row.Mitigation)} | {string.Join(" | ", cells)} |");
        }
        sb.AppendLine();
        var notes = t.Rows.SelectMany(r => r.Cells).Where(c => c.Why is not null && c.Verdict == AdviceVerdict.NotApplicable).Select(c => $"{Mitigations.Name(c.Mitigation)}: {c.Why}").Distinct().ToList();
        if (notes.Count > 0)
        {
            sb.AppendLine("Not applicable:");
            foreach (var n in notes) sb.AppendLine("- " + n);
            sb.AppendLine();
        }
        if (proofs is { Count: > 0 })
        {
            sb.AppendLine(CultureInfo.InvariantCulture, $"Z3 (`prove --setup`), each cell a bounded proof over every port: no collision in any run of up to {proofDepth} steps (connects and the column's event), then 1-induction (\"for any length\": any number of steps, up to {proofDepth} connections); or the first collision, replayed in the model. Its connects are the search's, without sends and closes.");
            sb.AppendLine();
            sb.AppendLine("| mitigation | " + string.Join(" | ", t.Events.Select(SetupSpaces.EventsText)) + " |");
            sb.AppendLine("|---|" + string.Concat(t.Events.Select(_ => "---|")));
            foreach (var row in t.Rows)
                sb.AppendLine(CultureInfo.InvariantCulture, $"| {Mitigations.Name(row.Mitigation)} | {string.Join(" | ", row.Cells.Select(c =>
                    (proofs.GetValueOrDefault((c.Mitigation, c.Event)) is { } p ? (z3Linked?.Contains((c.Mitigation, c.Event)) == true ? $"[{p}]({Z3CellFile(c.Mitigation, c.Event)})" : p) : c.Text) +
                    (z3Kernel?.GetValueOrDefault((c.Mitigation, c.Event)) is { } k ? "; kernel: " + k : "")))} |");
            sb.AppendLine();
        }
        sb.AppendLine("Time per cell (ms):");
        sb.AppendLine();
        sb.AppendLine("| mitigation | " + string.Join(" | ", t.Events.Select(SetupSpaces.EventsText)) + " |");
        sb.AppendLine("|---|" + string.Concat(t.Events.Select(_ => "---:|")));
        foreach (var row in t.Rows)
            sb.AppendLine(CultureInfo.InvariantCulture, $"| {Mitigations.Name(row.Mitigation)} | {string.Join(" | ", row.Cells.Select(c => c.Elapsed.TotalMilliseconds.ToString("0", CultureInfo.InvariantCulture)))} |");
        return sb.ToString();
    }

    public static string Json(AdviceTable t, IReadOnlyDictionary<(MitigationKind, SetupEvents), string>? kernel = null,
        IReadOnlyDictionary<(MitigationKind, SetupEvents), string>? proofs = null, IReadOnlyDictionary<(MitigationKind, SetupEvents), string>? z3Kernel = null)
    {
        ArgumentNullException.ThrowIfNull(t);
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            w.WriteStartObject();
            w.WriteString("setup", t.File);
            w.WriteString("engine", "fscheck search (not a proof)");
            w.WriteNumber("tests", t.Tests);
            w.WriteNumber("seeds", t.Seeds);
            w.WriteNumber("elapsedMs", Math.Round(t.Elapsed.TotalMilliseconds, 1));
            w.WriteStartArray("events");
            foreach (var e in t.Events) w.WriteStringValue(SetupSpaces.EventsText(e));
            w.WriteEndArray();
            w.WriteStartArray("rows");
            foreach (var row in t.Rows)
            {
                w.WriteStartObject();
                w.WriteString("mitigation", Mitigations.Slug(row.Mitigation));
                w.WriteString("name", Mitigations.Name(row.Mitigation));
                w.WriteNumber("changes", row.Setup.Changes);
                if (row.Setup.NotApplicable is null) w.WriteString("setup", SetupFile(row));
                w.WriteStartArray("cells");
                foreach (var c in row.Cells)
                {
                    w.WriteStartObject();
                    w.WriteString("event", SetupSpaces.EventsText(c.Event));
                    w.WriteString("verdict", c.Verdict switch
                    {
                        AdviceVerdict.Collision => "collision",
                        AdviceVerdict.NoneFound => "none-found",
                        AdviceVerdict.Excluded => "ruled-out",
                        _ => "not-applicable",
                    });
                    w.WriteString("text", c.Text);
                    if (c.Why is not null) w.WriteString("why", c.Why);
                    if (c.Minimal is { } m)
                    {
                        w.WriteNumber("steps", m.Body.Count);
                        w.WriteString("scenario", CellFile(c));
                        w.WriteString("invariant", Invariants.Name(m.Replay().Violations.First().Invariant));
                    }
                    if (kernel?.GetValueOrDefault((c.Mitigation, c.Event)) is { } k) w.WriteString("kernel", k);
                    if (proofs?.GetValueOrDefault((c.Mitigation, c.Event)) is { } proof) w.WriteString("z3", proof);
                    if (z3Kernel?.GetValueOrDefault((c.Mitigation, c.Event)) is { } zk) w.WriteString("z3Kernel", zk);
                    if (c.Odds is { } odds)
                    {
                        w.WriteStartObject("odds");
                        w.WriteString("choice", odds.Key);
                        w.WriteNumber("hits", odds.Hits);
                        w.WriteNumber("of", odds.Of);
                        w.WriteBoolean("atLeast", odds.AtLeast);
                        w.WriteEndObject();
                    }
                    w.WriteNumber("testsRun", c.TestsRun);
                    w.WriteNumber("seedsRun", c.SeedsRun);
                    w.WriteNumber("elapsedMs", Math.Round(c.Elapsed.TotalMilliseconds, 1));
                    w.WriteEndObject();
                }
                w.WriteEndArray();
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(stream.ToArray()) + "\n";
    }
}
