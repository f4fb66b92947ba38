using System.Collections.Immutable;
using ConntrackModel.Model.Collections;
using ConntrackModel.Model.Conntrack;
using ConntrackModel.Model.Net;
using ConntrackModel.Model.Sockets;

namespace ConntrackModel.Model.Kernel;

/// <summary>
/// The whole state of the machine at time <paramref name="Now"/> (ms): its network namespaces (index 0 is the
/// scenario's initial one, with <c>lo</c> and 127.0.0.0/8), the conntrack table and the sockets of all of them (keyed
/// by namespace, as the kernel's global hashes are), the connections the scenario opened, and the armed socket timers.
/// Immutable; <see cref="LinuxKernel.Step"/> returns a new one. <paramref name="Decisions"/> counts the NAT decisions
/// per packet origin (it names their choice points).
/// </summary>
public sealed record World(
    long Now,
    ImmutableArray<Netns> Namespaces,
    CtTable Conntrack,
    SocketTable Sockets,
    PersistentDictionary<string, Connection> ConnectionsByName,
    ImmutableSortedSet<TimerEntry> Timers,
    long NextCtId,
    long IsnCount,
    PersistentDictionary<string, int> Decisions)
{
    /// <summary>A fresh machine: one namespace, nothing tracked, no rules, default sysctls, time 0.</summary>
    public static World Initial { get; } = new(0, [Netns.Initial], CtTable.Empty, SocketTable.Empty,
        PersistentDictionary<string, Connection>.Empty, [], 1, 0, PersistentDictionary<string, int>.Empty);

    /// <summary>The initial namespace's sysctls.</summary>
    public Sysctls Sysctls
    {
        get => Namespaces[0].Sysctls;
        init => Namespaces = Namespaces.SetItem(0, Namespaces[0] with { Sysctls = value });
    }

    /// <summary>The initial namespace's netfilter configuration.</summary>
    public NetfilterConfig Netfilter
    {
        get => Namespaces[0].Netfilter;
        init => Namespaces = Namespaces.SetItem(0, Namespaces[0] with { Netfilter = value });
    }

    /// <summary>The conntrack statistics summed over the namespaces (<c>conntrack -S</c> in each, added up).</summary>
    public CtCounters Counters
    {
        get
        {
            var sum = CtCounters.Zero;
            foreach (var ns in Namespaces) sum += ns.Counters;
            return sum;
        }
    }

    /// <summary>The namespace called <paramref name="name"/> (null: the initial one), or null if there is none.</summary>
    public Netns? FindNetns(string? name)
    {
        foreach (var ns in Namespaces)
        {
            if (ns.Name == name) return ns;
        }
        return null;
    }

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
        // One walk for a new name (the usual case); a name opened again keeps its place.
        if (connections.Exchange(c.Name, c with { Ordinal = connections.Count }, out var old)) connections.SetItem(c.Name, c with { Ordinal = old.Ordinal });
    }

    public bool Equals(World? other) =>
        other is not null && Now == other.Now && Namespaces.SequenceEqual(other.Namespaces) &&
        Conntrack.Equals(other.Conntrack) && Sockets.Equals(other.Sockets) &&
        ConnectionsByName.Equals(other.ConnectionsByName) && Timers.SetEquals(other.Timers) && NextCtId == other.NextCtId &&
        IsnCount == other.IsnCount && Decisions.Equals(other.Decisions);

    public override int GetHashCode() => HashCode.Combine(Now, Conntrack, Sockets, ConnectionsByName.Count, Namespaces.Length);
}
