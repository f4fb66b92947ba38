using System.Globalization;
using System.Net;
using System.Text;
using ConntrackModel.Model.Kernel;

namespace ConntrackModel.Cli.Output;

/// <summary>
/// A sequence diagram of a run's packets: client ends on the left, the loopback path with its NAT and conntrack
/// decisions in the middle, server ends on the right. Each segment is an arrow from its sender to the middle
/// (labelled with the tuple on the wire) and one from the middle to the end that received it (labelled with its
/// reaction); drops, resets and violations are notes. Rendered as Mermaid (GitHub) or as inline SVG (offline HTML).
/// </summary>
public static class SequenceDiagram
{
    private const string Middle = "CT";

    /// <summary>A participant (id, label) list and the items in order.</summary>
    public sealed record Sequence(IReadOnlyList<(string Id, string Label)> Participants, IReadOnlyList<Item> Items);

    /// <summary>An arrow (<paramref name="Note"/> false) or a note spanning From..To.</summary>
    public sealed record Item(string From, string To, string Text, bool Note);

    public static Sequence Build(Simulation sim, int? lastStep = null)
    {
        ArgumentNullException.ThrowIfNull(sim);
        var steps = sim.Steps.Where(s => lastStep is null || s.Step <= lastStep).ToList();
        var ends = new List<string>();
        foreach (var ev in steps.SelectMany(s => s.Events))
        {
            switch (ev)
            {
                case KernelEvent.Captured c: Add(ends, c.Segment.Origin); break;
                case KernelEvent.Delivered d: Add(ends, d.End); break;
                case KernelEvent.Reset r: Add(ends, r.End); break;
            }
        }
        string Id(string end) => end == Middle ? Middle : "P" + ends.IndexOf(end).ToString(CultureInfo.InvariantCulture);
        var clients = ends.Where(e => !IsServerSide(e)).ToList();
        var servers = ends.Where(IsServerSide).ToList();
        // One namespace: every packet crosses lo. Several: each arrow names the namespace and device it left through.
        var many = sim.Final.Namespaces.Length > 1;
        var participants = clients.Select(c => (Id(c), c)).Append((Middle, many ? "network: NAT + conntrack" : "lo: NAT + conntrack")).Concat(servers.Select(s => (Id(s), s))).ToList();
        var first = participants[0].Item1;
        var last = participants[^1].Item1;
        var items = new List<Item>();
        foreach (var step in steps)
        {
            items.Add(new Item(first, last, $"[{step.Step}] {step.Line.Command.ToScript()}", true));
            foreach (var ev in step.Events)
            {
                var item = ev switch
                {
                    KernelEvent.Captured c => new Item(Id(c.Segment.Origin), Middle, $"{(many ? $"{c.Netns ?? "init"} {c.Device}: " : "")}{c.Segment.Tuple.Src} > {c.Segment.Tuple.Dst} [{c.Segment.FlagString()}]", false),
                    KernelEvent.Delivered d => new Item(Middle, Id(d.End), d.Reaction.Length > 0 ? d.Reaction : $"[{d.Segment.FlagString()}]", false),
                    KernelEvent.Dropped d => new Item(Middle, Middle, "dropped: " + Short(d.Reason), true),
                    KernelEvent.Reset r => new Item(Id(r.End), Id(r.End), $"reset by a RST of {r.By.Connection}", true),
                    KernelEvent.Ct c when c.Text.Contains("SNAT", StringComparison.Ordinal) || c.Text.Contains("DNAT", StringComparison.Ordinal) || c.Text.Contains("tracking", StringComparison.Ordinal) || c.Text.Contains("conntrack -F", StringComparison.Ordinal) =>
                        new Item(Middle, Middle, Short(c.Text), true),
                    _ => null,
                };
                if (item is not null) items.Add(item);
            }
            foreach (var v in step.Violations)
            {
                var who = Id(ends.FirstOrDefault(e => v.Message.Contains(e, StringComparison.Ordinal) && IsServerSide(e)) ?? Middle);
                items.Add(new Item(who, who, "VIOLATION " + v.Name, true));
            }
        }
        return new Sequence(participants, items);
    }

    public static string Write(Simulation sim, int? lastStep = null) => Mermaid(Build(sim, lastStep));

    public static string Mermaid(Sequence seq)
    {
        ArgumentNullException.ThrowIfNull(seq);
        var sb = new StringBuilder();
        sb.AppendLine("sequenceDiagram");
        foreach (var (id, label) in seq.Participants) sb.AppendLine(CultureInfo.InvariantCulture, $"    participant {id} as {Text(label)}");
        foreach (var i in seq.Items)
        {
            sb.AppendLine(i.Note
                ? $"    Note over {(i.From == i.To ? i.From : i.From + "," + i.To)}: {Text(i.Text)}"
                : $"    {i.From}->>{i.To}: {Text(i.Text)}");
        }
        return sb.ToString();
    }

    /// <summary>The same diagram as a standalone SVG element (no script, no external resources).</summary>
    public static string Svg(Sequence seq)
    {
        ArgumentNullException.ThrowIfNull(seq);
        const int colWidth = 230, top = 40, rowHeight = 22, margin = 20;
        var x = seq.Participants.Select((p, i) => (p.Id, X: margin + (colWidth / 2) + (i * colWidth))).ToDictionary(p => p.Id, p => p.X, StringComparer.Ordinal);
        var width = (margin * 2) + (seq.Participants.Count * colWidth);
        var height = top + 20 + (seq.Items.Count * rowHeight) + 20;
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"<svg class=\"sequence\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" font-family=\"sans-serif\" font-size=\"11\">");
        sb.Append("<defs><marker id=\"arrow\" markerWidth=\"8\" markerHeight=\"8\" refX=\"7\" refY=\"4\" orient=\"auto\"><path d=\"M0,0 L8,4 L0,8 z\" fill=\"#333\"/></marker></defs>");
        foreach (var (id, label) in seq.Participants)
        {
            sb.Append(CultureInfo.InvariantCulture, $"<rect x=\"{x[id] - 95}\" y=\"8\" width=\"190\" height=\"24\" rx=\"4\" fill=\"#eef\" stroke=\"#88a\"/>");
            sb.Append(CultureInfo.InvariantCulture, $"<text x=\"{x[id]}\" y=\"24\" text-anchor=\"middle\">{Esc(label)}</text>");
            sb.Append(CultureInfo.InvariantCulture, $"<line x1=\"{x[id]}\" y1=\"{top}\" x2=\"{x[id]}\" y2=\"{height - 10}\" stroke=\"#bbb\" stroke-dasharray=\"4 3\"/>");
        }
        var y = top + 20;
        foreach (var i in seq.Items)
        {
            if (i.Note)
            {
                // Wide enough for the text (about 6 px a character at 11 px sans-serif), never narrower than a column.
                var half = Math.Max(100, (int)(i.Text.Length * 3.2) + 8);
                var (a, b) = i.From == i.To
                    ? (x[i.From] - half, x[i.From] + half)
                    : (Math.Min(x[i.From], x[i.To]) - 100, Math.Max(x[i.From], x[i.To]) + 100);
                var fill = i.Text.StartsWith("VIOLATION", StringComparison.Ordinal) ? "#fcc" : i.Text.StartsWith('[') ? "#eee" : "#ffd";
                sb.Append(CultureInfo.InvariantCulture, $"<rect x=\"{a}\" y=\"{y - 13}\" width=\"{b - a}\" height=\"18\" fill=\"{fill}\" stroke=\"#ccb\"/>");
                sb.Append(CultureInfo.InvariantCulture, $"<text x=\"{(a + b) / 2}\" y=\"{y}\" text-anchor=\"middle\">{Esc(i.Text)}</text>");
            }
            else
            {
                sb.Append(CultureInfo.InvariantCulture, $"<line x1=\"{x[i.From]}\" y1=\"{y}\" x2=\"{x[i.To]}\" y2=\"{y}\" stroke=\"#333\" marker-end=\"url(#arrow)\"/>");
                sb.Append(CultureInfo.InvariantCulture, $"<text x=\"{(x[i.From] + x[i.To]) / 2}\" y=\"{y - 4}\" text-anchor=\"middle\">{Esc(i.Text)}</text>");
            }
            y += rowHeight;
        }
        sb.Append("</svg>");
        return sb.ToString();
    }

    private static string Esc(string s) => WebUtility.HtmlEncode(s);

    private static void Add(List<string> ends, string end)
    {
        if (!ends.Contains(end)) ends.Add(end);
    }

    /// <summary>Server-side ends: accepted ends and the listener (events name it "(listener ...)").</summary>
    private static bool IsServerSide(string end) => end.EndsWith(".server", StringComparison.Ordinal) || end.StartsWith('(');

    private static string Short(string text) => text.Length <= 90 ? text : text[..87] + "...";

    /// <summary>Mermaid message text: no '#' (entity codes), ';' (statement separator) or line breaks.</summary>
    private static string Text(string s) =>
        s.Replace("#", "", StringComparison.Ordinal).Replace(";", ",", StringComparison.Ordinal).Replace("\n", " ", StringComparison.Ordinal);
}
