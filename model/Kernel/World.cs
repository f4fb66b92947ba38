using System.Collections.Immutable;
using ConntrackModel.Model.Collections;
using ConntrackModel.Model.Conntrack;
using ConntrackModel.Model.Sockets;

namespace ConntrackModel.Model.Kernel;

/// <summary>
/// The whole state of one network namespace (with <c>lo</c> and 127.0.0.0/8) at time <paramref name="Now"/> (ms).
/// Immutable; <see cref="LinuxKernel.Step"/> returns a new one. <paramref name="Timers"/> holds exactly the armed socket
/// timers; <paramref name="Decisions"/> counts the NAT decisions per packet origin (it names their choice points).
/// </summary>
public sealed record World(
    long Now,
    Sysctls Sysctls,
    NetfilterConfig Netfilter,
    CtTable Conntrack,
    CtCounters Counters,
    SocketTable Sockets,
    PersistentDictionary<string, Connection> ConnectionsByName,
    ImmutableSortedSet<TimerEntry> Timers,
    long NextCtId,
    long IsnCount,
    PersistentDictionary<string, int> Decisions)
{
    /// <summary>A fresh namespace: nothing tracked, no rules, default sysctls, time 0.</summary>
    public static World Initial { get; } = new(0, Sysctls.Default, NetfilterConfig.Empty, CtTable.Empty, CtCounters.Zero,
        SocketTable.Empty, PersistentDictionary<string, Connection>.Empty, [], 1, 0, PersistentDictionary<string, int>.Empty);

    /// <summary>The connections in the order the scenario opened them. Sorts: O(n log n) per call.</summary>
    public IReadOnlyList<Connection> Connections => [.. ConnectionsByName.Values.OrderBy(c => c.Ordinal)];

    public int ConnectionCount => ConnectionsByName.Count;

    public Connection? FindConnection(string name) => ConnectionsByName.GetValueOrDefault(name);

    /// <summary>Adds a connection (numbered in opening order) or replaces the one with the same name.</summary>
    public World WithConnection(Connection c)
    {
        var connections = ConnectionsByName.ToBuilder();
        Record(connections, c);
        return this with { ConnectionsByName = connections.ToImmutable() };
    }

    /// <summary>The one numbering rule, for the world and for a step in progress: a new name comes last, a known one keeps its place.</summary>
    internal static void Record(PersistentDictionary<string, Connection>.Builder connections, Connection c)
    {
        ArgumentNullException.ThrowIfNull(connections);
        ArgumentNullException.ThrowIfNull(c);
        var ordinal = connections.TryGetValue(c.Name, out var old) ? old.Ordinal : connections.Count;
        connections.SetItem(c.Name, c with { Ordinal = ordinal });
    }

    public bool Equals(World? other) =>
        other is not null && Now == other.Now && Sysctls.Equals(other.Sysctls) && Netfilter.Equals(other.Netfilter) &&
        Conntrack.Equals(other.Conntrack) && Counters == other.Counters && Sockets.Equals(other.Sockets) &&
        ConnectionsByName.Equals(other.ConnectionsByName) && Timers.SetEquals(other.Timers) && NextCtId == other.NextCtId &&
        IsnCount == other.IsnCount && Decisions.Equals(other.Decisions);

    public override int GetHashCode() => HashCode.Combine(Now, Conntrack, Sockets, ConnectionsByName.Count);
}
