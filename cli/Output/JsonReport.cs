using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using ConntrackModel.Model.Reporting;

namespace ConntrackModel.Cli.Output;

/// <summary>Writes an <see cref="Observation"/> in exactly the JSON shape the README documents.</summary>
public static class JsonReport
{
    /// <summary>How much JSON is buffered before it goes to the writer: output starts at once and memory stays flat.</summary>
    private const int ChunkBytes = 1 << 16;

    public static string Write(Observation o)
    {
        using var text = new StringWriter();
        Write(o, text);
        return text.ToString();
    }

    /// <summary>Writes the document to <paramref name="output"/> in chunks, as it is produced.</summary>
    public static void Write(Observation o, TextWriter output)
    {
        ArgumentNullException.ThrowIfNull(o);
        ArgumentNullException.ThrowIfNull(output);
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
                if (c.Proto == "udp") Udp(w, c);
                w.WriteEndObject();
                if (w.BytesPending + stream.Length >= ChunkBytes) Drain(w, stream, output);
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
                if (e.Netns is null) w.WriteNull("netns");
                else w.WriteString("netns", e.Netns);
                w.WriteEndObject();
                if (w.BytesPending + stream.Length >= ChunkBytes) Drain(w, stream, output);
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
            Drain(w, stream, output);
        }
    }

    /// <summary>A UDP connection's own fields: its protocol, where each of its datagrams arrived, the sends that failed.</summary>
    private static void Udp(Utf8JsonWriter w, ConnectionObservation c)
    {
        w.WriteString("proto", "udp");
        w.WriteStartArray("arrivals");
        foreach (var a in c.Arrivals)
        {
            w.WriteStartObject();
            w.WriteString("label", a.Label);
            if (a.Netns is null) w.WriteNull("netns");
            else w.WriteString("netns", a.Netns);
            w.WriteString("at", a.At);
            w.WriteString("from", a.From);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteStartObject("send_errors");
        foreach (var (label, error) in c.SendErrors) w.WriteString(label, error);
        w.WriteEndObject();
    }

    private static void Drain(Utf8JsonWriter w, MemoryStream stream, TextWriter output)
    {
        w.Flush();
        output.Write(Encoding.UTF8.GetString(stream.GetBuffer(), 0, (int)stream.Length));
        stream.SetLength(0);
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
