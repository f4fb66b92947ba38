using System.Globalization;
using System.Text;
using ConntrackModel.Model.Reporting;

namespace ConntrackModel.Cli.Output;

/// <summary>An observation for people: connections, the conntrack table and counters.</summary>
public static class ObservationText
{
    public static string Write(Observation o, string title)
    {
        ArgumentNullException.ThrowIfNull(o);
        var sb = new StringBuilder();
        sb.AppendLine(CultureInfo.InvariantCulture, $"# {title}");
        sb.AppendLine("connections:");
        foreach (var c in o.Connections)
        {
            sb.AppendLine(CultureInfo.InvariantCulture, $"  {c.Name}: connect {c.Connect}, local {c.Local}, server sees {(c.Wire.IsEmpty ? "nothing" : string.Join(" or ", c.Wire))}");
            sb.AppendLine(CultureInfo.InvariantCulture, $"     client {End(c.Client)}, received [{string.Join(", ", c.Received)}]");
            sb.AppendLine(CultureInfo.InvariantCulture, $"     server {(c.Server is null ? "(never accepted)" : End(c.Server))}, delivered [{string.Join(", ", c.Delivered)}]");
        }
        sb.AppendLine("conntrack -L:");
        foreach (var e in o.Conntrack) sb.AppendLine(CultureInfo.InvariantCulture, $"  {e.Proto} {e.State} {e.Orig} | {e.Reply}{(e.Assured ? " [ASSURED]" : "")}");
        sb.AppendLine(CultureInfo.InvariantCulture, $"  {o.Conntrack.Length} flow entries");
        sb.AppendLine(CultureInfo.InvariantCulture, $"conntrack -S: insert_failed={o.InsertFailed} drop={o.Drop}");
        return sb.ToString();
    }

    private static string End(EndObservation e) => e.Error is null ? e.State : $"{e.State} ({e.Error})";
}
