using System.Collections.Immutable;
using ConntrackModel.Model.Conntrack;
using ConntrackModel.Model.Sockets;

namespace ConntrackModel.Model.Kernel;

/// <summary>
/// The whole state of one network namespace (with <c>lo</c> and 127.0.0.0/8) at time <paramref name="Now"/> (ms).
/// Immutable; <see cref="Kernel.Step"/> returns a new one.
/// </summary>
public sealed record World(
    long Now,
    Sysctls Sysctls,
    NetfilterConfig Netfilter,
    CtTable Conntrack,
    CtCounters Counters,
    SocketTable Sockets,
    ImmutableList<Connection> Connections,
    ImmutableSortedSet<TimerEntry> Timers,
    long NextCtId,
    long IsnCount,
    ImmutableDictionary<string, int> Decisions,
    ImmutableDictionary<string, int> ConnectionIndex)
{
    /// <summary>A fresh namespace: nothing tracked, no rules, default sysctls, time 0.</summary>
    public static World Initial { get; } = new(0, Sysctls.Default, NetfilterConfig.Empty, CtTable.Empty, CtCounters.Zero,
        SocketTable.Empty, [], [], 1, 0, ImmutableDictionary<string, int>.Empty.WithComparers(StringComparer.Ordinal),
        ImmutableDictionary<string, int>.Empty.WithComparers(StringComparer.Ordinal));

    public Connection? FindConnection(string name) => ConnectionIndex.TryGetValue(name, out var i) ? Connections[i] : null;

    /// <summary>Adds a connection or replaces the one with the same name.</summary>
    public World WithConnection(Connection c)
    {
        ArgumentNullException.ThrowIfNull(c);
        return ConnectionIndex.TryGetValue(c.Name, out var i)
            ? this with { Connections = Connections.SetItem(i, c) }
            : this with { Connections = Connections.Add(c), ConnectionIndex = ConnectionIndex.SetItem(c.Name, Connections.Count) };
    }

    public bool Equals(World? other) =>
        other is not null && Now == other.Now && Sysctls.Equals(other.Sysctls) && Netfilter.Equals(other.Netfilter) &&
        Conntrack.Equals(other.Conntrack) && Counters == other.Counters && Sockets.Equals(other.Sockets) &&
        Connections.SequenceEqual(other.Connections) && Timers.SetEquals(other.Timers) && NextCtId == other.NextCtId && IsnCount == other.IsnCount &&
        Decisions.Count == other.Decisions.Count && Decisions.All(kv => other.Decisions.TryGetValue(kv.Key, out var v) && v == kv.Value);

    public override int GetHashCode() => HashCode.Combine(Now, Conntrack, Sockets, Connections.Count);
}
