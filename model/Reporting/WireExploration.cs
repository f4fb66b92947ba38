using System.Collections.Immutable;
using ConntrackModel.Model.Choices;
using ConntrackModel.Model.Kernel;
using ConntrackModel.Model.Scenarios;

namespace ConntrackModel.Model.Reporting;

/// <summary>
/// Which source addresses each connection's server end may see, over the NAT choices: a depth-first walk of the
/// enumerated NAT alternatives (ports of ranges up to 128, addresses of small address ranges), re-running the
/// scenario once per combination, up to <paramref name="Runs"/> runs. Local ports picked by connect() stay as in
/// the described run. A decision over a larger range adds its whole range.
/// </summary>
/// <remarks>
/// Each run is a <see cref="RunSummary"/> (no trace kept), and each run's decisions are grouped by connection once,
/// so a run costs what the simulation costs: linear in the scenario, whatever the number of connections.
/// </remarks>
public sealed record WireExploration(ImmutableDictionary<string, ImmutableArray<string>> Wire, int Runs, bool Complete)
{
    public const int DefaultBudget = 64;

    /// <summary>
    /// Explores from <paramref name="baseChoices"/>; <paramref name="first"/>, when given, is the run those choices
    /// already gave (the caller's own), so it is not simulated again.
    /// </summary>
    public static WireExploration Explore(Scenario scenario, ChoiceSource baseChoices, int budget = DefaultBudget, RunSummary? first = null)
    {
        ArgumentNullException.ThrowIfNull(scenario);
        // What each connection's server saw: nothing yet (null), one address (a string), or, once a second address
        // shows, a set; so a scenario of 100,000 connections explored once does not keep 100,000 sets.
        var wire = new Dictionary<string, object?>(StringComparer.Ordinal);
        var stack = new Stack<(ImmutableDictionary<string, int> Overrides, int After)>();
        stack.Push((ImmutableDictionary<string, int>.Empty.WithComparers(StringComparer.Ordinal), -1));
        var runs = 0;
        while (stack.Count > 0 && runs < budget)
        {
            var (overrides, after) = stack.Pop();
            var run = runs == 0 && first is not null ? first : RunSummary.Of(scenario, overrides.IsEmpty ? baseChoices : new ScriptedChoices(overrides, baseChoices));
            runs++;
            // A decision over a range too large to enumerate that gave the server's peer could have given any port of it.
            var spans = run.OpenChoices.Where(x => x.Made.Span is not null).ToLookup(x => x.Owner, StringComparer.Ordinal);
            foreach (var c in run.Final.Connections)
            {
                wire.TryAdd(c.Name, null);
                if (c.Proto == Addressing.L4Proto.Udp)
                {
                    // Every source address the server saw one of the flow's datagrams come from.
                    if (run.Final.Sockets.Peer(c.Name) is { } udpPeer)
                    {
                        foreach (var a in udpPeer.Seen) Add(wire, c.Name, a.ToString());
                        foreach (var ch in spans[c.Name])
                        {
                            if (udpPeer.Seen.Any(a => a.ToString() == ch.Made.Outcome)) Add(wire, c.Name, ch.Made.Span!);
                        }
                    }
                    continue;
                }
                if (run.Final.Sockets.End(c.Name + ".server") is not { Accepted: true } server) continue;
                var peer = server.Remote.ToString();
                Add(wire, c.Name, peer);
                foreach (var ch in spans[c.Name])
                {
                    if (ch.Made.Outcome == peer) Add(wire, c.Name, ch.Made.Span!);
                }
            }
            var choicesMade = run.OpenChoices.Select(c => c.Made).ToList();
            for (var i = choicesMade.Count - 1; i > after; i--)
            {
                var m = choicesMade[i];
                if (m.Alternatives.Length < 2 || overrides.ContainsKey(m.Point.Key)) continue;
                for (var v = m.Alternatives.Length - 1; v >= 0; v--)
                {
                    if (v != m.Value) stack.Push((overrides.SetItem(m.Point.Key, v), i));
                }
            }
        }
        return new WireExploration(
            wire.ToImmutableDictionary(kv => kv.Key, kv => kv.Value switch
            {
                string one => Observation.Compress([one]),
                HashSet<string> set => Observation.Compress(set),
                _ => ImmutableArray<string>.Empty,
            }, StringComparer.Ordinal),
            runs,
            stack.Count == 0);
    }

    /// <summary>Adds <paramref name="address"/> to what <paramref name="connection"/>'s server saw.</summary>
    private static void Add(Dictionary<string, object?> wire, string connection, string address)
    {
        if (!wire.TryGetValue(connection, out var seen) || seen is null)
            wire[connection] = address;
        else if (seen is string one && !string.Equals(one, address, StringComparison.Ordinal))
            wire[connection] = new HashSet<string>(StringComparer.Ordinal) { one, address };
        else if (seen is HashSet<string> set)
            set.Add(address);
    }

    public bool Equals(WireExploration? other) =>
        other is not null && Runs == other.Runs && Complete == other.Complete && Wire.Count == other.Wire.Count &&
        Wire.All(kv => other.Wire.TryGetValue(kv.Key, out var v) && v.SequenceEqual(kv.Value));

    public override int GetHashCode() => HashCode.Combine(Runs, Complete, Wire.Count);
}
