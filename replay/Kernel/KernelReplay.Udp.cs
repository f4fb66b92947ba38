using System.Collections.Immutable;
using System.Net;
using System.Net.Sockets;
using System.Text;
using ConntrackModel.Model.Addressing;
using ConntrackModel.Model.Packets;
using ConntrackModel.Model.Reporting;
using ConntrackModel.Model.Scenarios;

namespace ConntrackModel.Replay.Kernel;

/// <summary>
/// UDP in the replay: each <c>listen -u</c> is a bound datagram socket, each <c>connect -u</c> a connect(2)ed one;
/// labels are unique in a scenario, so every datagram read names the connection that sent it, which is how the
/// server learns each connection's address (as the model's server does) and where each arrival is recorded.
/// </summary>
public static partial class KernelReplay
{
    private sealed partial class Driver
    {
        /// <summary>A UDP socket the scenario made: a connection's client or a server.</summary>
        private sealed class UdpState(string name, string? netns, Socket? socket)
        {
            public string Name { get; } = name;

            public string? Netns { get; } = netns;

            public Socket? Socket { get; set; } = socket;

            public string? ErrorAtClose { get; set; }

            public bool Connected { get; set; }

            public List<string> Labels { get; } = [];

            public List<ArrivalObservation> Arrivals { get; } = [];

            public List<KeyValuePair<string, string>> SendErrors { get; } = [];

            public string Local { get; set; } = "";
        }

        /// <summary>
        /// What a server socket learned of one connection from its datagrams. The server is named by its address, as
        /// the model names it: a socket bound there again later (listen -u after close) answers for the flow.
        /// </summary>
        private sealed class UdpPeerState(Driver driver, (string? Netns, SockAddr Address) server, IPEndPoint lastFrom)
        {
            public (string? Netns, SockAddr Address) ServerKey { get; set; } = server;

            public UdpState Server => driver._udpServers[ServerKey];

            public IPEndPoint LastFrom { get; set; } = lastFrom;

            public List<string> Seen { get; } = [];

            public List<string> Received { get; } = [];
        }

        private readonly Dictionary<string, UdpState> _udpClients = new(StringComparer.Ordinal);
        private readonly Dictionary<(string? Netns, SockAddr Address), UdpState> _udpServers = [];
        private readonly Dictionary<string, UdpPeerState> _udpPeers = new(StringComparer.Ordinal);

        /// <summary>Which connection each label was sent for (client or server side).</summary>
        private readonly Dictionary<string, string> _labelOwner = new(StringComparer.Ordinal);

        private bool IsUdp(string end) => _udpClients.ContainsKey(Segment.ConnectionOf(end));

        /// <summary>The end if the model would refuse a send or close on it (see LinuxKernel.CheckUdpEnd), else null.</summary>
        private string? UdpEndUnusable(string end)
        {
            var conn = Segment.ConnectionOf(end);
            var client = _udpClients[conn];
            if (end == conn) return client.Socket is null || !client.Connected ? end : null;
            return _udpPeers.TryGetValue(conn, out var peer) && peer.Server.Socket is not null ? null : end;
        }

        private static Socket NewUdpSocket() => new(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);

        private void ListenUdp(RunNamespace where, SockAddr address)
        {
            var s = NewUdpSocket();
            try
            {
                s.Bind(Ep(address));
                s.Blocking = false;
            }
            catch
            {
                s.Dispose();
                throw;
            }
            _udpServers[(where.Name, address)] = new UdpState($"(udp {address})", where.Name, s) { Local = address.ToString() };
        }

        private void ConnectUdp(RunNamespace where, Command.Connect c)
        {
            var s = NewUdpSocket();
            var state = new UdpState(c.Name, where.Name, s);
            _udpClients[c.Name] = state;
            string result;
            try
            {
                if (c.Local is { } local) s.Bind(Ep(local));
                s.Connect(Ep(c.Remote));
                s.Blocking = false;
                state.Connected = true;
                result = "connected";
            }
            catch (SocketException x)
            {
                result = x.NativeErrorCode == 101 ? "unreachable" : "error " + Errno(x);
            }
            state.Local = LocalName(s);
            if (!state.Connected)
            {
                s.Dispose();
                state.Socket = null;
            }
            Note($"    connect -u {c.Name}: {result}, local {state.Local}");
            _connections.Add(new ConnectionInfo(c.Name, result, state.Local, null));
        }

        private void SendUdp(string end, string label)
        {
            var conn = Segment.ConnectionOf(end);
            _labelOwner[label] = conn;
            if (end != conn) _serverLabels.Add(label);
            var bytes = Encoding.UTF8.GetBytes(label);
            if (end == conn)
            {
                var client = _udpClients[conn];
                try
                {
                    var n = client.Socket!.Send(bytes);
                    Note($"    send {end}: {n} bytes");
                }
                catch (SocketException x)
                {
                    client.SendErrors.Add(KeyValuePair.Create(label, Errno(x)));
                    Note($"    send {end}: {Errno(x)}");
                }
                return;
            }
            var peer = _udpPeers[conn];
            try
            {
                var n = peer.Server.Socket!.SendTo(bytes, peer.LastFrom);
                Note($"    send {end} to {peer.LastFrom}: {n} bytes");
            }
            catch (SocketException x)
            {
                Note($"    send {end}: {Errno(x)}");
            }
        }

        private void CloseUdp(string end)
        {
            var conn = Segment.ConnectionOf(end);
            var sock = end == conn ? _udpClients[conn] : _udpPeers[conn].Server;
            if (sock.Socket is not { } s) return;
            Drain();
            var err = SoError(s);
            sock.ErrorAtClose = err == 0 ? null : ErrnoName(err);
            s.Dispose();
            sock.Socket = null;
        }

        /// <summary>
        /// Reads every datagram that has arrived on every UDP socket. A read that returns an error consumed the socket's
        /// pending error (<c>__skb_recv_udp</c> reports <c>sock_error</c> before queued data), as the model's read does.
        /// </summary>
        private void DrainUdp()
        {
            foreach (var sock in _udpClients.Values.Concat(_udpServers.Values))
            {
                if (sock.Socket is not { } s) continue;
                var buf = new byte[2048];
                for (var guard = 0; guard < 10_000; guard++)
                {
                    int available;
                    try
                    {
                        available = s.Available;
                    }
                    catch (SocketException)
                    {
                        break;
                    }
                    if (available <= 0 && guard > 0) break;
                    EndPoint from = new IPEndPoint(IPAddress.Any, 0);
                    int got;
                    try
                    {
                        if (available <= 0) break;
                        got = s.ReceiveFrom(buf, ref from);
                    }
                    catch (SocketException x) when (x.SocketErrorCode == SocketError.WouldBlock)
                    {
                        break;
                    }
                    catch (SocketException x)
                    {
                        Note($"    {sock.Name} read: {Errno(x)} (the pending error, consumed)");
                        continue;
                    }
                    var label = Encoding.UTF8.GetString(buf, 0, got);
                    var source = (IPEndPoint)from;
                    Note($"    {sock.Name} read \"{label}\" from {source}");
                    var owner = _labelOwner.GetValueOrDefault(label);
                    if (owner is not null && _udpClients.TryGetValue(owner, out var ownerState))
                        ownerState.Arrivals.Add(new ArrivalObservation(label, sock.Netns, sock.Local, $"{source.Address}:{source.Port}"));
                    if (_udpClients.ContainsKey(sock.Name))
                    {
                        sock.Labels.Add(label);
                        continue;
                    }
                    // A server socket: the datagram of a connection's client teaches it where that connection is.
                    if (owner is null || !_udpClients.ContainsKey(owner) || IsServerLabel(label)) continue;
                    var key = _udpServers.First(kv => ReferenceEquals(kv.Value, sock)).Key;
                    if (!_udpPeers.TryGetValue(owner, out var peer)) _udpPeers[owner] = peer = new UdpPeerState(this, key, source);
                    peer.ServerKey = key;
                    peer.LastFrom = source;
                    var seen = $"{source.Address}:{source.Port}";
                    if (!peer.Seen.Contains(seen)) peer.Seen.Add(seen);
                    peer.Received.Add(label);
                }
            }
        }

        /// <summary>Labels the server side sent (send NAME.server), which teach no server anything.</summary>
        private readonly HashSet<string> _serverLabels = new(StringComparer.Ordinal);

        private bool IsServerLabel(string label) => _serverLabels.Contains(label);

        private ConnectionObservation ObserveUdp(ConnectionInfo c)
        {
            var client = _udpClients[c.Name];
            var peer = _udpPeers.GetValueOrDefault(c.Name);
            return new ConnectionObservation(
                c.Name, c.Result, c.Local,
                peer is null ? [] : [.. peer.Seen],
                UdpEndOf(client),
                peer is null ? null : UdpEndOf(peer.Server),
                peer is null ? [] : [.. peer.Received],
                [.. client.Labels])
            {
                Proto = "udp",
                Arrivals = [.. client.Arrivals],
                SendErrors = [.. client.SendErrors],
            };
        }

        private static EndObservation UdpEndOf(UdpState s)
        {
            if (s.Socket is null) return new EndObservation("CLOSED_BY_APP", s.ErrorAtClose);
            var err = SoError(s.Socket);
            return new EndObservation("UDP", err == 0 ? null : ErrnoName(err));
        }
    }
}
