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

    private protected abstract bool TryUdp(string name, out UdpSock sock);

    private protected abstract bool TryUdpBound(SockAddr key, out string name);

    private protected abstract bool TryUdpPort(SockAddr key, out int count);

    private protected abstract bool TryPeer(string connection, out UdpPeer peer);

    private protected abstract bool TryPeerAt(UdpPeerKey key, out string connection);

    /// <summary>The connection a server socket last saw a datagram of from <paramref name="from"/>, if any.</summary>
    public string? PeerAt(string server, SockAddr from) => TryPeerAt(new UdpPeerKey(server, from), out var c) ? c : null;

    public TcpEnd? End(string name) => TryEnd(name, out var e) ? e : null;

    /// <summary>The UDP socket called <paramref name="name"/> (a connection's client socket, or a server's <c>(udp IP:PORT)</c>).</summary>
    public UdpSock? Udp(string name) => TryUdp(name, out var s) ? s : null;

    /// <summary>The open UDP socket bound to <paramref name="local"/> in the namespace (<c>udp_table</c>'s port hash).</summary>
    public UdpSock? UdpBound(SockAddr local, int netns = 0) => TryUdpBound(NetKey.Of(netns, local, L4Proto.Udp), out var n) ? Udp(n) : null;

    /// <summary>
    /// Does any open UDP socket of the namespace hold <paramref name="port"/>, on any address? What an automatic bind
    /// must avoid: it binds the wildcard address first (<c>inet_autobind</c> before <c>__ip4_datagram_connect</c>),
    /// which conflicts with every address (<c>udp_lib_lport_inuse</c>).
    /// </summary>
    public bool UdpPortInUse(int port, int netns = 0) => TryUdpPort(NetKey.Of(netns, new SockAddr(default, port), L4Proto.Udp), out _);

    /// <summary>What the server knows of connection <paramref name="connection"/>, null until it received one of its datagrams.</summary>
    public UdpPeer? Peer(string connection) => TryPeer(connection, out var p) ? p : null;

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
    private readonly UdpPart _udp;

    /// <summary>
    /// The UDP sockets (by name), the bound addresses of the open ones (<c>udp_table</c>, keyed with the UDP bit of
    /// <see cref="NetKey"/>), how many open sockets hold each port of a namespace, and what servers know of each
    /// connection. One record, so a table without UDP carries one shared reference.
    /// </summary>
    private sealed record UdpPart(
        PersistentDictionary<string, UdpSock> Socks,
        PersistentDictionary<SockAddr, string> Bound,
        PersistentDictionary<SockAddr, int> Ports,
        PersistentDictionary<string, UdpPeer> Peers,
        PersistentDictionary<UdpPeerKey, string> PeersAt)
    {
        public static UdpPart Empty { get; } = new(PersistentDictionary<string, UdpSock>.Empty, PersistentDictionary<SockAddr, string>.Empty,
            PersistentDictionary<SockAddr, int>.Empty, PersistentDictionary<string, UdpPeer>.Empty, PersistentDictionary<UdpPeerKey, string>.Empty);
    }

    public static SocketTable Empty { get; } = new(PersistentDictionary<SockAddr, bool>.Empty, PersistentDictionary<string, TcpEnd>.Empty,
        PersistentDictionary<ConnTuple, string>.Empty, PersistentDictionary<SockAddr, PortOwners>.Empty, UdpPart.Empty);

    private SocketTable(PersistentDictionary<SockAddr, bool> listeners, PersistentDictionary<string, TcpEnd> ends,
        PersistentDictionary<ConnTuple, string> ehash, PersistentDictionary<SockAddr, PortOwners> bhash, UdpPart udp)
    {
        _listeners = listeners;
        _ends = ends;
        _ehash = ehash;
        _bhash = bhash;
        _udp = udp;
    }

    /// <summary>Every UDP socket, open or closed, in no particular order.</summary>
    public IEnumerable<UdpSock> UdpSockets => _udp.Socks.Values;

    /// <summary>The listening addresses of every namespace.</summary>
    public IEnumerable<SockAddr> Listeners => _listeners.Keys.Select(k => NetKey.Split(k).Addr);

    /// <summary>Every listening address with its namespace.</summary>
    public IEnumerable<(int Netns, SockAddr Addr)> ListenersByNetns => _listeners.Keys.Select(NetKey.Split);

    /// <summary>Every end, in no particular order.</summary>
    public IEnumerable<TcpEnd> Ends => _ends.Values;

    public override bool IsListening(SockAddr addr, int netns = 0) => _listeners.ContainsKey(NetKey.Of(netns, addr));

    private protected override bool TryEnd(string name, out TcpEnd end) => _ends.TryGetValue(name, out end!);

    private protected override bool TryEstablished(ConnTuple incoming, out string name) => _ehash.TryGetValue(incoming, out name!);

    private protected override bool TryOwners(SockAddr local, out PortOwners owners) => _bhash.TryGetValue(local, out owners);

    private protected override bool TryUdp(string name, out UdpSock sock) => _udp.Socks.TryGetValue(name, out sock!);

    private protected override bool TryUdpBound(SockAddr key, out string name) => _udp.Bound.TryGetValue(key, out name!);

    private protected override bool TryUdpPort(SockAddr key, out int count) => _udp.Ports.TryGetValue(key, out count);

    private protected override bool TryPeer(string connection, out UdpPeer peer) => _udp.Peers.TryGetValue(connection, out peer!);

    private protected override bool TryPeerAt(UdpPeerKey key, out string connection) => _udp.PeersAt.TryGetValue(key, out connection!);

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
        _ends.All(kv => other._ends.TryGetValue(kv.Key, out var e) && EndEquals(e, kv.Value)) &&
        _udp.Socks.Count == other._udp.Socks.Count && _udp.Socks.All(kv => other._udp.Socks.TryGetValue(kv.Key, out var u) && UdpEquals(u, kv.Value)) &&
        _udp.Peers.Count == other._udp.Peers.Count && _udp.Peers.All(kv => other._udp.Peers.TryGetValue(kv.Key, out var p) && PeerEquals(p, kv.Value));

    private static bool UdpEquals(UdpSock a, UdpSock b) =>
        a with { Received = [], SendErrors = [], Arrivals = [] } == b with { Received = [], SendErrors = [], Arrivals = [] } && a.Received.SequenceEqual(b.Received) &&
        a.SendErrors.SequenceEqual(b.SendErrors) && a.Arrivals.SequenceEqual(b.Arrivals);

    private static bool PeerEquals(UdpPeer a, UdpPeer b) =>
        a with { Seen = [], Received = [] } == b with { Seen = [], Received = [] } && a.Seen.SequenceEqual(b.Seen) && a.Received.SequenceEqual(b.Received);

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
        private readonly PersistentDictionary<string, UdpSock>.Builder _udpSocks;
        private readonly PersistentDictionary<SockAddr, string>.Builder _udpBound;
        private readonly PersistentDictionary<SockAddr, int>.Builder _udpPorts;
        private readonly PersistentDictionary<string, UdpPeer>.Builder _peers;
        private readonly PersistentDictionary<UdpPeerKey, string>.Builder _peersAt;

        private readonly SocketTable _source;

        internal Builder(SocketTable t)
        {
            _source = t;
            _listeners = t._listeners.ToBuilder();
            _ends = t._ends.ToBuilder();
            _ehash = t._ehash.ToBuilder();
            _bhash = t._bhash.ToBuilder();
            _udpSocks = t._udp.Socks.ToBuilder();
            _udpBound = t._udp.Bound.ToBuilder();
            _udpPorts = t._udp.Ports.ToBuilder();
            _peers = t._udp.Peers.ToBuilder();
            _peersAt = t._udp.PeersAt.ToBuilder();
        }

        private protected override bool TryPeerAt(UdpPeerKey key, out string connection) => _peersAt.TryGetValue(key, out connection!);

        private protected override bool TryUdp(string name, out UdpSock sock) => _udpSocks.TryGetValue(name, out sock!);

        private protected override bool TryUdpBound(SockAddr key, out string name) => _udpBound.TryGetValue(key, out name!);

        private protected override bool TryUdpPort(SockAddr key, out int count) => _udpPorts.TryGetValue(key, out count);

        private protected override bool TryPeer(string connection, out UdpPeer peer) => _peers.TryGetValue(connection, out peer!);

        /// <summary>Adds or replaces a UDP socket, keeping the bound-address and port hashes in step with whether it is open.</summary>
        public void PutUdp(UdpSock sock)
        {
            ArgumentNullException.ThrowIfNull(sock);
            if (_udpSocks.TryGetValue(sock.Name, out var old) && !old.Closed)
            {
                if (!sock.Closed && old.Local == sock.Local && old.Netns == sock.Netns)
                {
                    _udpSocks.SetItem(sock.Name, sock);
                    return;
                }
                _udpBound.Remove(NetKey.Of(old.Netns, old.Local, L4Proto.Udp));
                var port = NetKey.Of(old.Netns, new SockAddr(default, old.Local.Port), L4Proto.Udp);
                var left = _udpPorts.GetValueOrDefault(port) - 1;
                if (left <= 0) _udpPorts.Remove(port);
                else _udpPorts.SetItem(port, left);
            }
            _udpSocks.SetItem(sock.Name, sock);
            if (sock.Closed) return;
            _udpBound.SetItem(NetKey.Of(sock.Netns, sock.Local, L4Proto.Udp), sock.Name);
            var key = NetKey.Of(sock.Netns, new SockAddr(default, sock.Local.Port), L4Proto.Udp);
            _udpPorts.SetItem(key, _udpPorts.GetValueOrDefault(key) + 1);
        }

        /// <summary>Records what a server knows of a connection, keeping the index by (server, last source) in step.</summary>
        public void PutPeer(UdpPeer peer)
        {
            ArgumentNullException.ThrowIfNull(peer);
            if (_peers.TryGetValue(peer.Connection, out var old))
            {
                var oldKey = new UdpPeerKey(old.Server, old.LastFrom);
                if (_peersAt.TryGetValue(oldKey, out var c) && c == old.Connection) _peersAt.Remove(oldKey);
            }
            _peers.SetItem(peer.Connection, peer);
            _peersAt.SetItem(new UdpPeerKey(peer.Server, peer.LastFrom), peer.Connection);
        }

        public override bool IsListening(SockAddr addr, int netns = 0) => _listeners.ContainsKey(NetKey.Of(netns, addr));

        private protected override bool TryEnd(string name, out TcpEnd end) => _ends.TryGetValue(name, out end!);

        private protected override bool TryEstablished(ConnTuple incoming, out string name) => _ehash.TryGetValue(incoming, out name!);

        private protected override bool TryOwners(SockAddr local, out PortOwners owners) => _bhash.TryGetValue(local, out owners);

        public void Listen(SockAddr addr, int netns = 0) => _listeners.SetItem(NetKey.Of(netns, addr), true);

        /// <summary>
        /// Adds or replaces an end, keeping the hashes in step with its liveness; gives the end it replaced (null: a new
        /// one). One walk of the ends' trie finds the old end and stores the new one.
        /// </summary>
        public TcpEnd? Put(TcpEnd end)
        {
            ArgumentNullException.ThrowIfNull(end);
            if (!_ends.Exchange(end.Name, end, out var old))
            {
                HashIndexes(end);
                return null;
            }
            // Most updates change sequence state only: the hashes keep their keys, only the end itself is replaced.
            if (old.Gone == end.Gone && old.Local == end.Local && old.Remote == end.Remote && old.Netns == end.Netns && old.ExplicitBind == end.ExplicitBind)
                return old;
            UnhashIndexes(old);
            HashIndexes(end);
            return old;
        }

        /// <summary>Removes an end from the established and bind hashes (the ends' table is the caller's).</summary>
        private void UnhashIndexes(TcpEnd e)
        {
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

        /// <summary>Adds a live end to the established and bind hashes (the ends' table is the caller's).</summary>
        private void HashIndexes(TcpEnd e)
        {
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
            var (socks, bound, ports, peers, peersAt) = (_udpSocks.ToImmutable(), _udpBound.ToImmutable(), _udpPorts.ToImmutable(), _peers.ToImmutable(), _peersAt.ToImmutable());
            var old = _source._udp;
            var udp = ReferenceEquals(socks, old.Socks) && ReferenceEquals(bound, old.Bound) && ReferenceEquals(ports, old.Ports) &&
                ReferenceEquals(peers, old.Peers) && ReferenceEquals(peersAt, old.PeersAt)
                ? old
                : new UdpPart(socks, bound, ports, peers, peersAt);
            return ReferenceEquals(listeners, _source._listeners) && ReferenceEquals(ends, _source._ends) &&
                ReferenceEquals(ehash, _source._ehash) && ReferenceEquals(bhash, _source._bhash) && ReferenceEquals(udp, old)
                ? _source
                : new SocketTable(listeners, ends, ehash, bhash, udp);
        }
    }
}
