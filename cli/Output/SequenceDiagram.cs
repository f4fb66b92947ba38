using System.Globalization;
using System.Text;
using ConntrackModel.Model.Kernel;
using ConntrackModel.Model.Packets;

namespace ConntrackModel.Cli.Output;

/// <summary>
/// A Mermaid <c>sequenceDiagram</c> of a run's packets, as GitHub renders it: client ends on the left, the
/// loopback path with its NAT and conntrack decisions in the middle, server ends on the right. Each segment is an
/// arrow from its sender to the middle (labelled with the tuple on the wire) and one from the middle to the end
/// that received it (labelled with its reaction); drops, resets and violations are notes.
/// </summary>
public static class SequenceDiagram
{
    private const string Middle = "CT";

    public static string Write(Simulation sim, int? lastStep = null)
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
        var sb = new StringBuilder();
        sb.AppendLine("sequenceDiagram");
        foreach (var c in clients) sb.AppendLine(CultureInfo.InvariantCulture, $"    participant {Id(c)} as {Text(c)}");
        sb.AppendLine(CultureInfo.InvariantCulture, $"    participant {Middle} as lo: NAT + conntrack");
        foreach (var s in servers) sb.AppendLine(CultureInfo.InvariantCulture, $"    participant {Id(s)} as {Text(s)}");
        var span = $"{Id(clients.FirstOrDefault() ?? Middle)},{Id(servers.LastOrDefault() ?? Middle)}";
        foreach (var step in steps)
        {
            sb.AppendLine(CultureInfo.InvariantCulture, $"    Note over {span}: [{step.Step}] {Text(step.Line.Command.ToScript())}");
            foreach (var ev in step.Events)
            {
                var line = ev switch
                {
                    KernelEvent.Captured c => $"{Id(c.Segment.Origin)}->>{Middle}: {Text($"{c.Segment.Tuple.Src} > {c.Segment.Tuple.Dst} [{c.Segment.FlagString()}]")}",
                    KernelEvent.Delivered d => $"{Middle}->>{Id(d.End)}: {Text(d.Reaction.Length > 0 ? d.Reaction : $"[{d.Segment.FlagString()}]")}",
                    KernelEvent.Dropped d => $"Note over {Middle}: {Text("dropped: " + Short(d.Reason))}",
                    KernelEvent.Reset r => $"Note over {Id(r.End)}: {Text($"reset by a RST of {r.By.Connection}")}",
                    KernelEvent.Conntrack c when c.Text.Contains("SNAT", StringComparison.Ordinal) || c.Text.Contains("DNAT", StringComparison.Ordinal) || c.Text.Contains("tracking", StringComparison.Ordinal) || c.Text.Contains("conntrack -F", StringComparison.Ordinal) =>
                        $"Note over {Middle}: {Text(Short(c.Text))}",
                    _ => null,
                };
                if (line is not null) sb.AppendLine("    " + line);
            }
            foreach (var v in step.Violations)
            {
                var who = Id(ends.FirstOrDefault(e => v.Message.Contains(e, StringComparison.Ordinal) && IsServerSide(e)) ?? Middle);
                sb.AppendLine(CultureInfo.InvariantCulture, $"    Note over {who}: {Text("VIOLATION " + v.Name)}");
            }
        }
        return sb.ToString();
    }

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
