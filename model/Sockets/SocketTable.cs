using System.Collections.Immutable;
using ConntrackModel.Model.Addressing;

namespace ConntrackModel.Model.Sockets;

/// <summary>
/// The namespace's TCP sockets: listeners, connection ends (by name), the established hash (<c>ehash</c>: local and
/// remote address of every live end, TIME_WAIT included) and the port owners (<c>bhash</c>) that decide bind()
/// conflicts and which ports connect() may share. Compares by contents.
/// </summary>
public sealed class SocketTable : IEquatable<SocketTable>
{
    private readonly ImmutableHashSet<SockAddr> _listeners;
    private readonly ImmutableDictionary<string, TcpEnd> _ends;
    private readonly ImmutableDictionary<ConnTuple, string> _ehash;
    private readonly ImmutableDictionary<SockAddr, PortOwners> _bhash;

    /// <summary>How a local port is held: by how many live ends, and whether one bound it explicitly (bind()).</summary>
    public readonly record struct PortOwners(int Count, int Bound);

    public static SocketTable Empty { get; } = new([], ImmutableDictionary<string, TcpEnd>.Empty.WithComparers(StringComparer.Ordinal),
        ImmutableDictionary<ConnTuple, string>.Empty, ImmutableDictionary<SockAddr, PortOwners>.Empty);

    private SocketTable(ImmutableHashSet<SockAddr> listeners, ImmutableDictionary<string, TcpEnd> ends,
        ImmutableDictionary<ConnTuple, string> ehash, ImmutableDictionary<SockAddr, PortOwners> bhash)
    {
        _listeners = listeners;
        _ends = ends;
        _ehash = ehash;
        _bhash = bhash;
    }

    public IEnumerable<SockAddr> Listeners => _listeners;

    public IEnumerable<TcpEnd> Ends => _ends.Values;

    public bool IsListening(SockAddr addr) => _listeners.Contains(addr);

    public TcpEnd? End(string name) => _ends.GetValueOrDefault(name);

    /// <summary>__inet_lookup_established: the live end whose (local, remote) matches an incoming tuple.</summary>
    public TcpEnd? Established(ConnTuple incoming) => _ehash.TryGetValue(incoming, out var n) ? _ends[n] : null;

    /// <summary>Is the local address held by a listener or a live end (bind() would fail with EADDRINUSE)?</summary>
    public bool PortInUse(SockAddr local) => _listeners.Contains(local) || _bhash.ContainsKey(local);

    /// <summary>May connect() pick this local port for that remote (<c>__inet_hash_connect</c>)?</summary>
    public bool EphemeralUsable(SockAddr local, SockAddr remote)
    {
        if (_listeners.Contains(local)) return false;
        if (_bhash.TryGetValue(local, out var owners) && owners.Bound > 0) return false;
        return !_ehash.ContainsKey(new ConnTuple(remote, local));
    }

    public SocketTable Listen(SockAddr addr) => new(_listeners.Add(addr), _ends, _ehash, _bhash);

    /// <summary>Adds or replaces an end, keeping the hashes in step with its liveness.</summary>
    public SocketTable Put(TcpEnd end)
    {
        ArgumentNullException.ThrowIfNull(end);
        if (!_ends.TryGetValue(end.Name, out var old)) return Hash(end);
        // Most updates change sequence state only: the hashes keep their keys, only the end itself is replaced.
        if (old.Gone == end.Gone && old.Local == end.Local && old.Remote == end.Remote && old.ExplicitBind == end.ExplicitBind)
            return new SocketTable(_listeners, _ends.SetItem(end.Name, end), _ehash, _bhash);
        return Unhash(old).Hash(end);
    }

    private SocketTable Unhash(TcpEnd e)
    {
        if (e.Gone) return new SocketTable(_listeners, _ends.Remove(e.Name), _ehash, _bhash);
        var ehash = _ehash.TryGetValue(e.IncomingTuple, out var n) && n == e.Name ? _ehash.Remove(e.IncomingTuple) : _ehash;
        var bhash = _bhash;
        if (!e.IsServer && bhash.TryGetValue(e.Local, out var o))
        {
            o = new PortOwners(o.Count - 1, o.Bound - (e.ExplicitBind ? 1 : 0));
            bhash = o.Count == 0 ? bhash.Remove(e.Local) : bhash.SetItem(e.Local, o);
        }
        return new SocketTable(_listeners, _ends.Remove(e.Name), ehash, bhash);
    }

    private SocketTable Hash(TcpEnd e)
    {
        var ends = _ends.SetItem(e.Name, e);
        if (e.Gone) return new SocketTable(_listeners, ends, _ehash, _bhash);
        var ehash = _ehash.SetItem(e.IncomingTuple, e.Name);
        var bhash = _bhash;
        // Accepted ends share the listener's port (inherited bind bucket); the listener already holds it.
        if (!e.IsServer)
        {
            var o = bhash.GetValueOrDefault(e.Local);
            bhash = bhash.SetItem(e.Local, new PortOwners(o.Count + 1, o.Bound + (e.ExplicitBind ? 1 : 0)));
        }
        return new SocketTable(_listeners, ends, ehash, bhash);
    }

    public bool Equals(SocketTable? other) =>
        other is not null && _listeners.SetEquals(other._listeners) && _ends.Count == other._ends.Count &&
        _ends.All(kv => other._ends.TryGetValue(kv.Key, out var e) && EndEquals(e, kv.Value));

    private static bool EndEquals(TcpEnd a, TcpEnd b) =>
        a with { Received = [], Unacked = [] } == b with { Received = [], Unacked = [] } &&
        a.Received.SequenceEqual(b.Received) && a.Unacked.SequenceEqual(b.Unacked);

    public override bool Equals(object? obj) => Equals(obj as SocketTable);

    public override int GetHashCode() => HashCode.Combine(_listeners.Count, _ends.Count);
}
