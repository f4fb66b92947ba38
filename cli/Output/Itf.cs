using System.Globalization;
using System.Text.Encodings.Web;
using System.Text.Json;
using ConntrackModel.Model.Addressing;
using ConntrackModel.Model.Choices;
using ConntrackModel.Model.Conntrack;
using ConntrackModel.Model.Diagnostics;
using ConntrackModel.Model.Iptables;
using ConntrackModel.Model.Kernel;
using ConntrackModel.Model.Reporting;
using ConntrackModel.Model.Scenarios;

namespace ConntrackModel.Cli.Output;

/// <summary>
/// A run as an ITF trace (the Informal Trace Format of Apalache and Quint, ADR-015): <c>#meta</c>, <c>vars</c> and one
/// state per world, the initial one and the one after each command. Each state holds the command that led to it, the
/// time, every connection (protocol, how connect returned, its ends' states and errors), each namespace's conntrack
/// entries, nat rules and tracking switch, and the invariants the command broke. Integers are written
/// <c>{"#bigint": "N"}</c>, sets <c>{"#set": [...]}</c>, maps <c>{"#map": [[k, v], ...]}</c>, records as objects; there is
/// no null: an end that does not exist is <c>"none"</c>.
/// </summary>
public static class Itf
{
    public static readonly IReadOnlyList<string> Vars = ["command", "time_ms", "connections", "conntrack", "rules", "tracking", "violations"];

    public static void Write(Scenario scenario, ChoiceSource choices, Stream output)
    {
        ArgumentNullException.ThrowIfNull(scenario);
        ArgumentNullException.ThrowIfNull(choices);
        ArgumentNullException.ThrowIfNull(output);
        using var w = new Utf8JsonWriter(output, new JsonWriterOptions { Indented = false, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
        w.WriteStartObject();
        w.WriteStartObject("#meta");
        w.WriteString("format", "ITF");
        w.WriteString("format-description", "https://apalache-mc.org/docs/adr/015adr-trace.html");
        w.WriteString("source", scenario.Name);
        w.WriteString("description", "Created by ctmodel simulate --itf: the model's world after each command");
        w.WriteEndObject();
        w.WriteStartArray("vars");
        foreach (var v in Vars) w.WriteStringValue(v);
        w.WriteEndArray();
        w.WriteStartArray("states");
        State(w, 0, "init", World.Initial, []);
        var index = 1;
        foreach (var (step, after, rejected) in Simulation.Trace(scenario, choices, World.Initial))
        {
            if (rejected is not null) break;
            State(w, index++, step.Line.Command.ToScript(), after, step.Violations.Select(v => v.Invariant));
        }
        w.WriteEndArray();
        w.WriteEndObject();
    }

    private static void Int(Utf8JsonWriter w, string name, long value)
    {
        w.WriteStartObject(name);
        w.WriteString("#bigint", value.ToString(CultureInfo.InvariantCulture));
        w.WriteEndObject();
    }

    private static string Ns(World world, int index) => world.Namespaces[index].Display;

    private static void State(Utf8JsonWriter w, int index, string command, World world, IEnumerable<InvariantId> violations)
    {
        w.WriteStartObject();
        w.WriteStartObject("#meta");
        w.WritePropertyName("index");
        w.WriteNumberValue(index);
        w.WriteEndObject();
        w.WriteString("command", command);
        Int(w, "time_ms", world.Now);

        w.WriteStartObject("connections");
        w.WriteStartArray("#map");
        foreach (var c in world.Connections)
        {
            w.WriteStartArray();
            w.WriteStringValue(c.Name);
            w.WriteStartObject();
            w.WriteString("proto", c.Proto.Name());
            w.WriteString("connect", c.Proto == L4Proto.Udp && c.Result == ConnectResult.Established ? "connected" : Observation.ConnectName(c.Result));
            w.WriteString("local", c.Local.ToString());
            w.WriteString("remote", c.Remote.ToString());
            if (c.Proto == L4Proto.Udp)
            {
                var client = world.Sockets.Udp(c.Name);
                var peer = world.Sockets.Peer(c.Name);
                End(w, "client", client is null ? null : Observation.UdpEnd(client));
                End(w, "server", peer is null ? null : world.Sockets.Udp(peer.Server) is { } s ? Observation.UdpEnd(s) : null);
            }
            else
            {
                End(w, "client", world.Sockets.End(c.Name) is { } client ? Observation.End(client) : null);
                End(w, "server", world.Sockets.End(c.Name + ".server") is { Accepted: true } server ? Observation.End(server) : null);
            }
            w.WriteEndObject();
            w.WriteEndArray();
        }
        w.WriteEndArray();
        w.WriteEndObject();

        w.WriteStartObject("conntrack");
        w.WriteStartArray("#map");
        for (var n = 0; n < world.Namespaces.Length; n++)
        {
            w.WriteStartArray();
            w.WriteStringValue(Ns(world, n));
            w.WriteStartObject();
            w.WriteStartArray("#set");
            foreach (var e in world.Conntrack.Live(world.Now, n))
            {
                w.WriteStartObject();
                w.WriteString("proto", e.Proto.Name());
                w.WriteString("state", e.Proto == L4Proto.Udp ? "" : CtEntry.StateName(e.State));
                w.WriteString("orig", e.Orig.ToString());
                w.WriteString("reply", e.Reply.ToString());
                w.WriteBoolean("assured", e.Has(CtStatus.Assured));
                Int(w, "expires_ms", e.ExpiresAt);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
            w.WriteEndArray();
        }
        w.WriteEndArray();
        w.WriteEndObject();

        w.WriteStartObject("rules");
        w.WriteStartArray("#map");
        for (var n = 0; n < world.Namespaces.Length; n++)
        {
            w.WriteStartArray();
            w.WriteStringValue(Ns(world, n));
            w.WriteStartArray();
            // Every table's rules, each with its table: a filter rule and a nat rule may share a chain name.
            foreach (var r in world.Namespaces[n].Netfilter.Rules) w.WriteStringValue($"-t {r.Table.Name()} -A {r.ChainName} {r.Spec}");
            w.WriteEndArray();
            w.WriteEndArray();
        }
        w.WriteEndArray();
        w.WriteEndObject();

        w.WriteStartObject("tracking");
        w.WriteStartArray("#map");
        for (var n = 0; n < world.Namespaces.Length; n++)
        {
            w.WriteStartArray();
            w.WriteStringValue(Ns(world, n));
            w.WriteBooleanValue(world.Namespaces[n].Netfilter.Tracking);
            w.WriteEndArray();
        }
        w.WriteEndArray();
        w.WriteEndObject();

        w.WriteStartObject("violations");
        w.WriteStartArray("#set");
        foreach (var v in violations.Distinct().Order()) w.WriteStringValue(Invariants.Name(v));
        w.WriteEndArray();
        w.WriteEndObject();
        w.WriteEndObject();
    }

    private static void End(Utf8JsonWriter w, string name, EndObservation? e)
    {
        if (e is null)
        {
            w.WriteString(name, "none");
            return;
        }
        w.WriteStartObject(name);
        w.WriteString("state", e.State);
        w.WriteString("error", e.Error ?? "");
        w.WriteEndObject();
    }
}
