using ConntrackModel.Model.Addressing;
using ConntrackModel.Model.Collections;
using ConntrackModel.Model.Net;

namespace ConntrackModel.Model.Sockets;

/// <summary>
/// The queries on a namespace's TCP sockets, defined once for the immutable <see cref="SocketTable"/> and for the
/// <see cref="SocketTable.Builder"/> a step updates.
/// </summary>
public abstract class SocketView
{
    private protected SocketView()
    {
    }

    /// <summary>How a local port is held: by how many live ends, and whether one bound it explicitly (bind()).</summary>
    public readonly record struct PortOwners(int Count, int Bound);

    private protected abstract bool TryEnd(string name, out TcpEnd end);

    private protected abstract bool TryEstablished(ConnTuple incoming, out string name);

    private protected abstract bool TryOwners(SockAddr local, out PortOwners owners);

    public abstract bool IsListening(SockAddr addr, int netns = 0);

    public TcpEnd? End(string name) => TryEnd(name, out var e) ? e : null;

    /// <summary>__inet_lookup_established: the live end whose (local, remote) matches an incoming tuple.</summary>
    public TcpEnd? Established(ConnTuple incoming, int netns = 0) => TryEstablished(NetKey.Of(netns, incoming), out var n) && TryEnd(n, out var e) ? e : null;

    /// <summary>Is the local address held by a listener or a live end (bind() would fail with EADDRINUSE)?</summary>
    public bool PortInUse(SockAddr local, int netns = 0) => IsListening(local, netns) || TryOwners(NetKey.Of(netns, local), out _);

    /// <summary>May connect() pick this local port for that remote (<c>__inet_hash_connect</c>)?</summary>
    public bool EphemeralUsable(SockAddr local, SockAddr remote, int netns = 0)
    {
        if (IsListening(local, netns)) return false;
        if (TryOwners(NetKey.Of(netns, local), out var owners) && owners.Bound > 0) return false;
        return !TryEstablished(NetKey.Of(netns, new ConnTuple(remote, local)), out _);
    }
}

/// <summary>
/// The namespace's TCP sockets: listeners, connection ends (by name), the established hash (<c>ehash</c>: local and
/// remote address of every live end, TIME_WAIT included) and the port owners (<c>bhash</c>) that decide bind()
/// conflicts and which ports connect() may share. Immutable; compares by contents. A step updates it through a
/// <see cref="Builder"/>.
/// </summary>
public sealed class SocketTable : SocketView, IEquatable<SocketTable>
{
    private readonly PersistentDictionary<SockAddr, bool> _listeners;
    private readonly PersistentDictionary<string, TcpEnd> _ends;
    private readonly PersistentDictionary<ConnTuple, string> _ehash;
    private readonly PersistentDictionary<SockAddr, PortOwners> _bhash;

    public static SocketTable Empty { get; } = new(PersistentDictionary<SockAddr, bool>.Empty, PersistentDictionary<string, TcpEnd>.Empty,
        PersistentDictionary<ConnTuple, string>.Empty, PersistentDictionary<SockAddr, PortOwners>.Empty);

    private SocketTable(PersistentDictionary<SockAddr, bool> listeners, PersistentDictionary<string, TcpEnd> ends,
        PersistentDictionary<ConnTuple, string> ehash, PersistentDictionary<SockAddr, PortOwners> bhash)
    {
        _listeners = listeners;
        _ends = ends;
        _ehash = ehash;
        _bhash = bhash;
    }

    /// <summary>The listening addresses of every namespace.</summary>
    public IEnumerable<SockAddr> Listeners => _listeners.Keys.Select(k => NetKey.Split(k).Addr);

    /// <summary>Every end, in no particular order.</summary>
    public IEnumerable<TcpEnd> Ends => _ends.Values;

    public override bool IsListening(SockAddr addr, int netns = 0) => _listeners.ContainsKey(NetKey.Of(netns, addr));

    private protected override bool TryEnd(string name, out TcpEnd end) => _ends.TryGetValue(name, out end!);

    private protected override bool TryEstablished(ConnTuple incoming, out string name) => _ehash.TryGetValue(incoming, out name!);

    private protected override bool TryOwners(SockAddr local, out PortOwners owners) => _bhash.TryGetValue(local, out owners);

    public Builder ToBuilder() => new(this);

    /// <summary>
    /// What is wrong with the hashes, or null: ehash holds exactly the live ends under their incoming tuples, bhash
    /// exactly the live client ends' local addresses with their counts. For tests (see CtTable's).
    /// </summary>
    internal string? Inconsistency()
    {
        var live = _ends.Values.Where(e => !e.Gone).ToList();
        foreach (var e in live)
        {
            if (!_ehash.TryGetValue(NetKey.Of(e.Netns, e.IncomingTuple), out var n) || n != e.Name) return $"{e.Name}: not in ehash under {e.IncomingTuple}";
        }
        if (_ehash.Count != live.Count) return $"ehash has {_ehash.Count} keys for {live.Count} live ends";
        var owners = live.Where(e => !e.IsServer).GroupBy(e => NetKey.Of(e.Netns, e.Local))
            .ToDictionary(g => g.Key, g => new PortOwners(g.Count(), g.Count(e => e.ExplicitBind)));
        if (owners.Count != _bhash.Count) return $"bhash has {_bhash.Count} ports, the live client ends {owners.Count}";
        foreach (var (local, o) in _bhash)
        {
            if (!owners.TryGetValue(local, out var want) || want != o) return $"bhash {local}: {o}, ends {want}";
        }
        return null;
    }

    public bool Equals(SocketTable? other) =>
        other is not null && _listeners.Equals(other._listeners) && _ends.Count == other._ends.Count &&
        _ends.All(kv => other._ends.TryGetValue(kv.Key, out var e) && EndEquals(e, kv.Value));

    private static bool EndEquals(TcpEnd a, TcpEnd b) =>
        a with { Received = [], Unacked = [] } == b with { Received = [], Unacked = [] } &&
        a.Received.SequenceEqual(b.Received) && a.Unacked.SequenceEqual(b.Unacked);

    public override bool Equals(object? obj) => Equals(obj as SocketTable);

    public override int GetHashCode() => HashCode.Combine(_listeners.Count, _ends.Count);

    /// <summary>The sockets being changed by one step: the same queries, and the updates in place.</summary>
    public sealed class Builder : SocketView
    {
        private readonly PersistentDictionary<SockAddr, bool>.Builder _listeners;
        private readonly PersistentDictionary<string, TcpEnd>.Builder _ends;
        private readonly PersistentDictionary<ConnTuple, string>.Builder _ehash;
        private readonly PersistentDictionary<SockAddr, PortOwners>.Builder _bhash;

        private readonly SocketTable _source;

        internal Builder(SocketTable t)
        {
            _source = t;
            _listeners = t._listeners.ToBuilder();
            _ends = t._ends.ToBuilder();
            _ehash = t._ehash.ToBuilder();
            _bhash = t._bhash.ToBuilder();
        }

        public override bool IsListening(SockAddr addr, int netns = 0) => _listeners.ContainsKey(NetKey.Of(netns, addr));

        private protected override bool TryEnd(string name, out TcpEnd end) => _ends.TryGetValue(name, out end!);

        private protected override bool TryEstablished(ConnTuple incoming, out string name) => _ehash.TryGetValue(incoming, out name!);

        private protected override bool TryOwners(SockAddr local, out PortOwners owners) => _bhash.TryGetValue(local, out owners);

        public void Listen(SockAddr addr, int netns = 0) => _listeners.SetItem(NetKey.Of(netns, addr), true);

        /// <summary>Adds or replaces an end, keeping the hashes in step with its liveness.</summary>
        public void Put(TcpEnd end)
        {
            ArgumentNullException.ThrowIfNull(end);
            if (_ends.TryGetValue(end.Name, out var old))
            {
                // Most updates change sequence state only: the hashes keep their keys, only the end itself is replaced.
                if (old.Gone == end.Gone && old.Local == end.Local && old.Remote == end.Remote && old.Netns == end.Netns && old.ExplicitBind == end.ExplicitBind)
                {
                    _ends.SetItem(end.Name, end);
                    return;
                }
                Unhash(old);
            }
            Hash(end);
        }

        private void Unhash(TcpEnd e)
        {
            _ends.Remove(e.Name);
            if (e.Gone) return;
            var incoming = NetKey.Of(e.Netns, e.IncomingTuple);
            var local = NetKey.Of(e.Netns, e.Local);
            if (_ehash.TryGetValue(incoming, out var n) && n == e.Name) _ehash.Remove(incoming);
            if (!e.IsServer && _bhash.TryGetValue(local, out var o))
            {
                o = new PortOwners(o.Count - 1, o.Bound - (e.ExplicitBind ? 1 : 0));
                if (o.Count == 0) _bhash.Remove(local);
                else _bhash.SetItem(local, o);
            }
        }

        private void Hash(TcpEnd e)
        {
            _ends.SetItem(e.Name, e);
            if (e.Gone) return;
            _ehash.SetItem(NetKey.Of(e.Netns, e.IncomingTuple), e.Name);
            // Accepted ends share the listener's port (inherited bind bucket); the listener already holds it.
            if (!e.IsServer)
            {
                var local = NetKey.Of(e.Netns, e.Local);
                var o = _bhash.GetValueOrDefault(local);
                _bhash.SetItem(local, new PortOwners(o.Count + 1, o.Bound + (e.ExplicitBind ? 1 : 0)));
            }
        }

        /// <summary>The sockets as they are now; the table the builder came from if nothing changed.</summary>
        public SocketTable ToImmutable()
        {
            var (listeners, ends, ehash, bhash) = (_listeners.ToImmutable(), _ends.ToImmutable(), _ehash.ToImmutable(), _bhash.ToImmutable());
            return ReferenceEquals(listeners, _source._listeners) && ReferenceEquals(ends, _source._ends) &&
                ReferenceEquals(ehash, _source._ehash) && ReferenceEquals(bhash, _source._bhash)
                ? _source
                : new SocketTable(listeners, ends, ehash, bhash);
        }
    }
}
