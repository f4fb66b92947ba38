using System.Globalization;
using System.Text;
using ConntrackModel.Model.Choices;
using ConntrackModel.Model.Kernel;
using ConntrackModel.Model.Reporting;

namespace ConntrackModel.Cli.Output;

/// <summary>The human report of a run: the trace as tcpdump shows it, with the model's reasons beside it.</summary>
public static class TextReport
{
    /// <summary><c>HH:MM:SS.uuuuuu</c> from scenario start, as tcpdump prints times.</summary>
    public static string Time(long ms) =>
        string.Create(CultureInfo.InvariantCulture, $"{ms / 3_600_000:00}:{ms / 60_000 % 60:00}:{ms / 1000 % 60:00}.{ms % 1000 * 1000:000000}");

    public static string Write(Simulation sim, Observation o, WireExploration wire, ulong seed)
    {
        ArgumentNullException.ThrowIfNull(sim);
        ArgumentNullException.ThrowIfNull(o);
        ArgumentNullException.ThrowIfNull(wire);
        var sb = new StringBuilder();
        sb.AppendLine(CultureInfo.InvariantCulture, $"# {sim.Scenario.Name} (seed {seed})");
        // One namespace: the trace reads as tcpdump -i lo; several: each packet names where it left.
        var many = sim.Final.Namespaces.Length > 1;
        if (many)
        {
            sb.Append(Topology.Text(sim.Final));
            sb.AppendLine();
        }
        foreach (var step in sim.Steps)
        {
            sb.AppendLine(CultureInfo.InvariantCulture, $"[{step.Step}] {step.Line.Command.ToScript()}    # line {step.Line.Line}, t={step.StartTime / 1000.0:0.000}s");
            foreach (var ev in step.Events)
            {
                var line = ev switch
                {
                    KernelEvent.Captured c when many => $"{Time(c.Time)} {c.Netns ?? "init"} {c.Device} > {c.Segment.ToTcpdump()}",
                    KernelEvent.Captured c => $"{Time(c.Time)} {c.Segment.ToTcpdump()}",
                    KernelEvent.Dropped d => $"    dropped {d.Segment.Tuple.Src} > {d.Segment.Tuple.Dst} [{d.Segment.FlagString()}]: {d.Reason}",
                    KernelEvent.Ct c => $"    conntrack: {c.Text}",
                    KernelEvent.Logged l => $"    LOG: {l.Line}",
                    KernelEvent.Reset r => $"    {r.End} reset by a RST of {r.By.Connection}",
                    KernelEvent.Socket s => $"    {s.End}: {s.Text}",
                    KernelEvent.Delivered d when d.Reaction.Length > 0 => $"    -> {d.End}: {d.Reaction}",
                    KernelEvent.Choice { Made.Point.Kind: ChoiceKind.Order } c =>
                        $"    {c.Made.Point.Key}: {c.Made.Alternatives[c.Made.Value]}: one of {c.Made.Point.Arity} orders",
                    KernelEvent.Choice c when c.Made.Alternatives.Length > 1 =>
                        $"    choice {c.Made.Point.Key}: {c.Made.Alternatives[c.Made.Value]} (of {string.Join(", ", c.Made.Alternatives)})",
                    _ => null,
                };
                if (line is not null) sb.AppendLine(line);
            }
            foreach (var v in step.Violations) sb.AppendLine(CultureInfo.InvariantCulture, $"    !! {v.Name}: {v.Message}");
        }
        sb.AppendLine();
        foreach (var ns in sim.Final.Namespaces)
        {
            sb.AppendLine(many ? $"conntrack -L ({ns.Display}):" : "conntrack -L:");
            var live = sim.Final.Conntrack.Live(sim.Final.Now, ns.Index).ToList();
            foreach (var e in live) sb.AppendLine(e.ToConntrackLine(sim.Final.Now));
            sb.AppendLine(CultureInfo.InvariantCulture, $"conntrack v1.4.7 (conntrack-tools): {live.Count} flow entries have been shown.");
        }
        var c0 = sim.Final.Counters;
        sb.AppendLine(CultureInfo.InvariantCulture, $"conntrack -S: insert_failed={c0.InsertFailed} drop={c0.Drop} invalid={c0.Invalid}");
        sb.AppendLine();
        sb.AppendLine("connections:");
        foreach (var c in o.Connections)
        {
            sb.AppendLine(CultureInfo.InvariantCulture, $"  {c.Name}: connect {c.Connect}, local {c.Local}, server sees {(c.Wire.IsEmpty ? "nothing" : string.Join(" or ", c.Wire))}");
            sb.AppendLine(CultureInfo.InvariantCulture, $"     client {End(c.Client)}, received [{string.Join(", ", c.Received)}]");
            sb.AppendLine(CultureInfo.InvariantCulture, $"     server {(c.Server is null ? "(never accepted)" : End(c.Server))}, delivered [{string.Join(", ", c.Delivered)}]");
        }
        if (!wire.Complete)
            sb.AppendLine(CultureInfo.InvariantCulture, $"  (wire addresses from {wire.Runs} explored NAT outcomes; more exist: raise --runs)");
        sb.AppendLine();
        if (o.Violations.IsEmpty)
        {
            sb.AppendLine("no invariant violated");
        }
        else
        {
            sb.AppendLine("violations:");
            foreach (var v in o.Violations)
            {
                var line = sim.Steps[v.Step - 1].Line;
                sb.AppendLine(CultureInfo.InvariantCulture, $"  {sim.Scenario.Name}:{line.Line}: step {v.Step} ({line.Command.ToScript()}): {v.Invariant}: {v.Message}");
            }
            var names = o.Violations.Select(v => v.Invariant).Distinct(StringComparer.Ordinal);
            sb.AppendLine(CultureInfo.InvariantCulture, $"{o.Violations.Length} violation(s): {string.Join(", ", names)}");
        }
        return sb.ToString();
    }

    private static string End(EndObservation e) => e.Error is null ? e.State : $"{e.State} ({e.Error})";
}
