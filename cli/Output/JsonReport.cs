using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using ConntrackModel.Model.Reporting;

namespace ConntrackModel.Cli.Output;

/// <summary>Writes an <see cref="Observation"/> in exactly the JSON shape the README documents.</summary>
public static class JsonReport
{
    public static string Write(Observation o)
    {
        ArgumentNullException.ThrowIfNull(o);
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            w.WriteStartObject();
            w.WriteStartArray("connections");
            foreach (var c in o.Connections)
            {
                w.WriteStartObject();
                w.WriteString("name", c.Name);
                w.WriteString("connect", c.Connect);
                w.WriteString("local", c.Local);
                Strings(w, "wire", c.Wire);
                End(w, "client", c.Client);
                End(w, "server", c.Server);
                Strings(w, "delivered", c.Delivered);
                Strings(w, "received", c.Received);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteStartArray("conntrack");
            foreach (var e in o.Conntrack)
            {
                w.WriteStartObject();
                w.WriteString("proto", e.Proto);
                w.WriteString("state", e.State);
                w.WriteString("orig", e.Orig);
                w.WriteString("reply", e.Reply);
                w.WriteBoolean("assured", e.Assured);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteStartObject("counters");
            w.WriteNumber("insert_failed", o.InsertFailed);
            w.WriteNumber("drop", o.Drop);
            w.WriteEndObject();
            w.WriteStartArray("violations");
            foreach (var v in o.Violations)
            {
                w.WriteStartObject();
                w.WriteString("invariant", v.Invariant);
                w.WriteNumber("step", v.Step);
                w.WriteString("message", v.Message);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(stream.ToArray());
    }

    private static void Strings(Utf8JsonWriter w, string name, IEnumerable<string> values)
    {
        w.WriteStartArray(name);
        foreach (var v in values) w.WriteStringValue(v);
        w.WriteEndArray();
    }

    private static void End(Utf8JsonWriter w, string name, EndObservation? e)
    {
        if (e is null)
        {
            w.WriteNull(name);
            return;
        }
        w.WriteStartObject(name);
        w.WriteString("state", e.State);
        if (e.Error is null) w.WriteNull("error");
        else w.WriteString("error", e.Error);
        w.WriteEndObject();
    }
}
