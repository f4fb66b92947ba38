using System.Globalization;
using ConntrackModel.Model.Addressing;
using ConntrackModel.Model.Choices;
using ConntrackModel.Model.Conntrack;
using ConntrackModel.Model.Nat;
using ConntrackModel.Model.Net;
using ConntrackModel.Model.Packets;
using ConntrackModel.Model.Scenarios;
using ConntrackModel.Model.Sockets;

namespace ConntrackModel.Model.Kernel;

/// <summary>UDP: datagram sockets (net/ipv4/udp.c, datagram.c) and the UDP tracker's place in <c>nf_conntrack_in</c>.</summary>
public static partial class LinuxKernel
{
    private sealed partial class StepContext
    {
        /// <summary>Is <paramref name="end"/> (NAME or NAME.server) an end of a UDP connection?</summary>
        private bool IsUdp(string end) => _sockets.Udp(Segment.ConnectionOf(end)) is not null;

        /// <summary>The server socket's name: <c>(udp IP:PORT)</c>, with the namespace outside the initial one.</summary>
        private string UdpServerName(int n, SockAddr local) => _namespaces[n].Name is { } name ? $"(udp {name} {local})" : UdpSock.ServerName(local);

        /// <summary>
        /// <c>connect -u</c>: <c>inet_dgram_connect</c> binds a port first if the socket has none (<c>inet_autobind</c>,
        /// wildcard address), then <c>__ip4_datagram_connect</c> looks up the route (none: -ENETUNREACH, the socket
        /// stays unconnected) and takes the route's source as the socket's address. Nothing is sent.
        /// </summary>
        private void ConnectUdp(int n, Command.Connect c)
        {
            var remote = Destination(c.Remote);
            // The automatic bind comes first: a connect that then fails leaves the socket on 0.0.0.0:PORT.
            int? autoPort = c.Local is null ? PickUdpPort(n, c.Name) : null;
            if (Fib.Lookup(_namespaces[n], remote.Ip) is not { } route)
            {
                var bound = c.Local ?? new SockAddr(default, autoPort!.Value);
                _sockets.PutUdp(new UdpSock(c.Name, bound, null, null, [], c.Local is not null, true) { Netns = n });
                Events.Add(new KernelEvent.Socket(Now, c.Name, "connect -u failed: ENETUNREACH (no route to the destination); the application closes the socket"));
                World.Record(_connections, new Connection(c.Name, ConnectResult.Unreachable, bound, c.Remote) { Proto = L4Proto.Udp });
                return;
            }
            SockAddr local;
            if (c.Local is { } l) local = l.Ip.Value == 0 ? l with { Ip = route.PrefSrc } : l;
            else local = new SockAddr(route.PrefSrc, autoPort!.Value);
            _sockets.PutUdp(new UdpSock(c.Name, local, remote, null, [], c.Local is not null, false) { Netns = n });
            Events.Add(new KernelEvent.Socket(Now, c.Name, $"UDP socket {local} connected to {remote} (connect(2) sends nothing)"));
            World.Record(_connections, new Connection(c.Name, ConnectResult.Established, local, remote) { Proto = L4Proto.Udp });
        }

        /// <summary>
        /// <c>udp_lib_get_port</c> with port 0: a random first port in <c>ip_local_port_range</c>, then the other ports in
        /// an order driven by the same random number (steps of an odd multiple of the hash size) until one no UDP socket
        /// of the namespace holds on any address. The model takes the first free port at or after the chosen start:
        /// every free port is the outcome of some choice, as in the kernel, though not with the kernel's odds.
        /// </summary>
        private int PickUdpPort(int n, string name)
        {
            var low = _namespaces[n].Sysctls.LocalPortLow;
            var high = _namespaces[n].Sysctls.LocalPortHigh;
            var remaining = high - low + 1;
            var point = new ChoicePoint(ChoiceKind.EphemeralPort, "ephemeral:" + name, remaining);
            var offset = choices.Choose(point);
            Events.Add(new KernelEvent.Choice(Now, new ChoiceMade(point, offset, []), name));
            for (var i = 0; i < remaining; i++)
            {
                var port = low + ((offset + i) % remaining);
                if (!_sockets.UdpPortInUse(port, n)) return port;
            }
            // inet_dgram_connect returns -EAGAIN when inet_autobind finds no port.
            throw new RejectedException($"connect -u {name}: no free local port in ip_local_port_range (EAGAIN)");
        }

        /// <summary>
        /// <c>send NAME</c>: <c>udp_sendmsg</c> on the connected client socket; a pending error (<c>sk_err</c>, left by an
        /// ICMP error) is returned instead and consumed (<c>sock_error</c>), and nothing is sent. <c>send NAME.server</c>:
        /// the server socket's sendto() to the address it last saw one of NAME's datagrams come from.
        /// </summary>
        private void SendUdp(string end, string label)
        {
            var conn = Segment.ConnectionOf(end);
            if (end == conn)
            {
                var sock = _sockets.Udp(conn)!;
                if (sock.Error is { } err)
                {
                    Events.Add(new KernelEvent.Socket(Now, end, $"send \"{label}\" failed: {err} (the pending error, now consumed); nothing sent"));
                    _sockets.PutUdp(sock with { Error = null, SendErrors = sock.SendErrors.Add(new UdpSendError(label, err)) });
                    return;
                }
                _wire.Enqueue((sock.Netns, Datagram(sock.Local, sock.Remote!.Value, label, end)));
                return;
            }
            var peer = _sockets.Peer(conn)!;
            var server = _sockets.Udp(peer.Server)!;
            _wire.Enqueue((server.Netns, Datagram(server.Local, peer.LastFrom, label, end)));
        }

        private static Segment Datagram(SockAddr from, SockAddr to, string label, string origin) =>
            new(new ConnTuple(from, to, L4Proto.Udp), TcpFlags.None, 0, 0, label, origin);

        /// <summary><c>close NAME</c> closes the client socket; <c>close NAME.server</c> the server socket NAME's datagrams reached (for every connection it serves).</summary>
        private void CloseUdp(string end)
        {
            var conn = Segment.ConnectionOf(end);
            var sock = end == conn ? _sockets.Udp(conn)! : _sockets.Udp(_sockets.Peer(conn)!.Server)!;
            _sockets.PutUdp(sock with { Closed = true });
            Events.Add(new KernelEvent.Socket(Now, end, $"UDP socket {sock.Local} closed"));
        }

        /// <summary>
        /// <c>nf_conntrack_in</c> for a UDP datagram: the entry of either tuple, or a new one (UDP needs no handshake to
        /// open an entry); then <see cref="UdpTracker.Packet"/>, and SEEN_REPLY for a reply after it.
        /// </summary>
        private bool ConntrackInUdp(int n, ref Skb skb)
        {
            var seg = skb.Seg;
            var sysctls = _namespaces[n].Sysctls;
            var hit = _ct.Find(seg.Tuple, Now, n);
            if (hit is null)
            {
                var opened = new CtEntry(_nextCtId, seg.Tuple, seg.Tuple.Invert(), CtStatus.None, TcpCtState.None, Now, TcpCtInfo.Empty) { Netns = n };
                var fresh = UdpTracker.Packet(opened, sysctls, Now);
                _nextCtId++;
                Events.Add(new KernelEvent.Ct(Now, new CtNote(CtNoteKind.NewEntry, fresh.Id, fresh.Orig, Netns: _namespaces[n].Name)));
                skb = skb with { Ct = fresh, Dir = CtDirection.Original, Confirmed = false };
                return true;
            }
            var (entry, dir) = hit.Value;
            var ct = UdpTracker.Packet(entry, sysctls, Now);
            if (dir == CtDirection.Reply && !ct.Has(CtStatus.SeenReply)) ct = ct with { Status = ct.Status | CtStatus.SeenReply };
            _ct.Update(ct);
            if (ct.Has(CtStatus.Assured) && !entry.Has(CtStatus.Assured))
                Events.Add(new KernelEvent.Ct(Now, string.Create(CultureInfo.InvariantCulture, $"{Where(n)}entry #{ct.Id} ASSURED (a stream: traffic both ways, still active 2 s after its first datagram)")));
            skb = skb with { Ct = ct, Dir = dir, Confirmed = true };
            return true;
        }

        /// <summary>
        /// <c>__udp4_lib_rcv</c> → <c>__udp4_lib_lookup</c>: the open socket bound to the destination, unless it is
        /// connected to another peer (<c>compute_score</c> rejects it). A client socket queues the datagram for its
        /// application; the server socket records whose datagram it was and where it came from. No socket: the datagram
        /// is dropped and the stack answers with ICMP port unreachable.
        /// </summary>
        private void ReceiveUdp(int n, Segment seg)
        {
            var sock = _sockets.UdpBound(seg.Tuple.Dst, n);
            if (sock is null || (sock.Remote is { } peerAddr && peerAddr != seg.Tuple.Src))
            {
                Events.Add(new KernelEvent.Delivered(Now, seg, "(no socket)", sock is null ? "no UDP socket on the port" : $"the socket on the port is connected to {sock.Remote}"));
                PortUnreachable(n, seg);
                return;
            }
            // The connection's record of where its datagrams went, either way (kept on its client socket).
            if (_sockets.Udp(seg.Connection) is { } sender)
                _sockets.PutUdp(sender with { Arrivals = sender.Arrivals.Add(new UdpArrival(seg.Payload!, n, seg.Tuple.Dst, seg.Tuple.Src)) });
            if (sock.IsServer)
            {
                var conn = seg.Connection;
                var clientSent = !seg.Origin.Contains('.', StringComparison.Ordinal);
                var other = clientSent ? _sockets.PeerAt(sock.Name, seg.Tuple.Src) : null;
                Events.Add(new KernelEvent.Delivered(Now, seg, sock.Name, $"received \"{seg.Payload}\" from {seg.Tuple.Src}")
                {
                    SameWireAs = other is not null && other != conn ? other : null,
                });
                if (!clientSent) return;
                var peer = _sockets.Peer(conn);
                _sockets.PutPeer(peer is null
                    ? new UdpPeer(conn, sock.Name, seg.Tuple.Src, [seg.Tuple.Src], [seg.Payload!])
                    : peer with { Server = sock.Name, LastFrom = seg.Tuple.Src, Seen = peer.Seen.Contains(seg.Tuple.Src) ? peer.Seen : peer.Seen.Add(seg.Tuple.Src), Received = peer.Received.Add(seg.Payload!) });
                return;
            }
            // Read again: the arrival above may have updated this very socket.
            var receiver = _sockets.Udp(sock.Name)!;
            // The application reads what arrives; a pending error comes first (__skb_recv_udp checks sock_error before the
            // queue) and the read that returns it consumes it. Measured: recv() gave ECONNREFUSED, then the datagram.
            var reaction = receiver.Error is { } pending ? $"read returns {pending} (the pending error, consumed), then \"{seg.Payload}\"" : $"received \"{seg.Payload}\"";
            Events.Add(new KernelEvent.Delivered(Now, seg, sock.Name, reaction) { Queued = seg.Payload });
            _sockets.PutUdp(receiver with { Received = receiver.Received.Add(seg.Payload!), Error = null });
        }

        // ------------------------------------------------------------ ICMP errors

        /// <summary>HZ of the measured kernel (CONFIG_HZ=250): the ICMP rate limiter counts jiffies.</summary>
        private const long MsPerJiffy = 4;

        /// <summary><c>net.ipv4.icmp_ratelimit</c> (1000 ms, measured on 6.18) in jiffies: one token's worth.</summary>
        private const long IcmpRateLimitJiffies = 1000 / MsPerJiffy;

        /// <summary><c>XRLIM_BURST_FACTOR</c>: a peer may bank six tokens.</summary>
        private const long XrlimBurstFactor = 6;

        /// <summary><c>ip_rt_error_burst</c> / <c>ip_rt_error_cost</c>: <c>ip_error</c> lets a peer bank five.</summary>
        private const long IpRtErrorBurstFactor = 5;

        /// <summary>
        /// One token from the ICMP bucket of destination <paramref name="to"/> (<c>inet_peer_xrlim_allow</c>, and the same
        /// arithmetic in <c>ip_error</c> on the same peer): tokens accrue one per jiffy up to <paramref name="burstFactor"/>
        /// costs; a new peer starts 60 s in the past (<c>rate_last = jiffies - 60 HZ</c>), so with a full bucket.
        /// </summary>
        private bool TakeIcmpToken(int n, IPv4Address to, long burstFactor)
        {
            var ns = _namespaces[n];
            var now = Now / MsPerJiffy;
            var peer = ns.IcmpPeers.TryGetValue(to, out var p) ? p : new IcmpPeer(0, now - 60 * 250);
            var tokens = Math.Min(peer.Tokens + (now - peer.Last), burstFactor * IcmpRateLimitJiffies);
            var allowed = tokens >= IcmpRateLimitJiffies;
            if (allowed) tokens -= IcmpRateLimitJiffies;
            _namespaces[n] = ns with { IcmpPeers = ns.IcmpPeers.SetItem(to, new IcmpPeer(tokens, now)) };
            return allowed;
        }

        /// <summary>
        /// <c>__udp4_lib_rcv</c> found no socket: <c>icmp_send(ICMP_DEST_UNREACH, ICMP_PORT_UNREACH)</c>, from the address the
        /// datagram was sent to, quoting it as it arrived (after any DNAT on the way in).
        /// </summary>
        private void PortUnreachable(int n, Segment seg) => SendIcmp(n, IcmpUnreach.Port, seg, seg.Tuple.Dst.Ip);

        /// <summary><c>ip_route_input_slow</c> found no route for a packet to forward (ENETUNREACH).</summary>
        /// <remarks>
        /// <c>ip_error</c> (net/ipv4/route.c) answers with ICMP net unreachable, through its own limiter on the same
        /// per-source bucket (<c>ip_rt_error_burst</c> 5 HZ, <c>ip_rt_error_cost</c> HZ) before <c>icmp_send</c>'s
        /// (<see cref="SendIcmp"/>): a new peer's first two errors pass both, the third finds the bucket empty (measured on
        /// 6.18: eight datagrams from a pod to an address node has no route to drew two net unreachables). With forwarding
        /// off it sends nothing; the caller does not come here then. The
        /// packet's new conntrack entry is never confirmed, so the error leaves untracked. Its source is chosen by the
        /// route back (<c>__icmp_send</c>: saddr 0 for a packet that was not for this host).
        /// </remarks>
        private void ForwardUnreachable(int n, Segment seg)
        {
            if (seg.Icmp is not null) return;
            var to = seg.Tuple.Src.Ip;
            if (!TakeIcmpToken(n, to, IpRtErrorBurstFactor))
            {
                Events.Add(new KernelEvent.Socket(Now, Segment.ConnectionOf(seg.Origin) + ".kernel", $"{Where(n)}ICMP net unreachable to {to} not sent: rate limited (ip_error)"));
                return;
            }
            if (Fib.Lookup(_namespaces[n], to) is not { } back) return;
            SendIcmp(n, IcmpUnreach.Net, seg, back.PrefSrc);
        }

        /// <summary>
        /// <c>__icmp_send</c>: never about an ICMP error; rate limited per destination (<c>icmpv4_xrlim_allow</c>: types in
        /// <c>icmp_ratemask</c>, which has destination unreachable, and never towards a loopback route); then out through
        /// the stack like any local packet (LOCAL_OUT, where conntrack relates it to the quoted packet's entry).
        /// </summary>
        /// <remarks>
        /// Not modelled: the namespace-wide limit (<c>icmp_global_allow</c>, <c>icmp_msgs_per_sec</c> 1000 with a burst
        /// of 50, measured defaults): it needs more than 50 errors within 50 ms, which no scenario sends.
        /// </remarks>
        private void SendIcmp(int n, IcmpUnreach code, Segment cause, IPv4Address from)
        {
            if (cause.Icmp is not null) return;
            var to = cause.Tuple.Src.Ip;
            var ns = _namespaces[n];
            var route = Fib.Lookup(ns, to);
            if (route is { Local: false })
            {
                if (!TakeIcmpToken(n, to, XrlimBurstFactor))
                {
                    Events.Add(new KernelEvent.Socket(Now, Segment.ConnectionOf(cause.Origin) + ".kernel",
                        $"{Where(n)}ICMP {new IcmpError(code, cause.Tuple, cause.Payload).KindText} to {to} not sent: rate limited (icmp_ratelimit, 6 at once, then 1 per second)"));
                    return;
                }
            }
            var error = new Segment(new ConnTuple(new SockAddr(from, 0), new SockAddr(to, 0), L4Proto.Icmp), TcpFlags.None, 0, 0, null,
                Segment.ConnectionOf(cause.Origin) + ".kernel") { Icmp = new IcmpError(code, cause.Tuple, cause.Payload) };
            _wire.Enqueue((n, error));
        }

        /// <summary>
        /// <c>nf_conntrack_in</c> for an ICMP error (<c>nf_conntrack_icmpv4_error</c> → <c>nf_conntrack_inet_error</c>):
        /// the entry of the quoted packet (looked up by the quoted tuple inverted) is attached as RELATED, in the direction
        /// it matched; nothing about the entry changes (no refresh, no SEEN_REPLY). No entry: accepted untracked.
        /// </summary>
        private bool ConntrackInIcmp(int n, ref Skb skb)
        {
            var inner = skb.Seg.Icmp!.Inner;
            var hit = _ct.Find(inner.Invert(), Now, n);
            if (hit is null)
            {
                Events.Add(new KernelEvent.Ct(Now, $"{Where(n)}ICMP error quoting {inner}: no entry (nf_conntrack_inet_error): untracked"));
                return true;
            }
            var (entry, dir) = hit.Value;
            Events.Add(new KernelEvent.Ct(Now, string.Create(CultureInfo.InvariantCulture,
                $"{Where(n)}ICMP error quoting {inner}: RELATED to entry #{entry.Id} ({(dir == CtDirection.Reply ? "reply" : "original")} direction)")));
            skb = skb with { Ct = entry, Dir = dir, Confirmed = true };
            return true;
        }

        /// <summary>
        /// <c>nf_nat_icmp_reply_translation</c> at a hook doing <paramref name="manip"/>, when the entry has that NAT in the
        /// packet's direction: the quoted header gets the opposite manipulation towards the other direction's tuple (so it
        /// reads as the packet its sender sent), the outer header the hook's own manipulation towards that tuple's inverse.
        /// </summary>
        private static Segment NatIcmp(Segment seg, CtEntry ct, CtDirection dir, Manip manip)
        {
            var other = ct.Tuple(dir == CtDirection.Original ? CtDirection.Reply : CtDirection.Original);
            var icmp = seg.Icmp!;
            var inner = manip == Manip.Src ? icmp.Inner with { Dst = other.Dst } : icmp.Inner with { Src = other.Src };
            var target = other.Invert();
            var outer = manip == Manip.Src
                ? seg.Tuple with { Src = target.Src with { Port = 0 } }
                : seg.Tuple with { Dst = target.Dst with { Port = 0 } };
            return seg with { Tuple = outer, Icmp = icmp with { Inner = inner } };
        }

        /// <summary>
        /// <c>icmp_rcv</c> → <c>icmp_unreach</c> → the quoted protocol's error handler. UDP (<c>__udp4_lib_err</c>): the
        /// socket bound to the quoted source and connected to the quoted destination (or unconnected); a connected socket
        /// takes a hard error (port unreachable: ECONNREFUSED) as its pending error, an unconnected one ignores it (no
        /// IP_RECVERR). TCP (<c>tcp_v4_err</c>): a socket in SYN_SENT is done with the error.
        /// </summary>
        private void ReceiveIcmp(int n, Segment seg)
        {
            var icmp = seg.Icmp!;
            var inner = icmp.Inner;
            var (err, fatal) = icmp.Convert();
            if (inner.Proto == L4Proto.Udp)
            {
                var sock = _sockets.UdpBound(inner.Src, n);
                if (sock is null || (sock.Remote is { } r && r != inner.Dst))
                {
                    Events.Add(new KernelEvent.Delivered(Now, seg, "(no socket)", "ICMP error for no socket: dropped"));
                    return;
                }
                // icmp_err_convert: port unreachable is fatal; net and host unreachable are not (harderr 0). Measured: a
                // connected socket whose datagrams drew net unreachables went on sending, no error returned.
                if (sock.Remote is null || !fatal)
                {
                    Events.Add(new KernelEvent.Delivered(Now, seg, sock.Name, sock.Remote is null ? "ICMP error ignored (unconnected socket, no IP_RECVERR)" : "ICMP error ignored (not a hard error)"));
                    return;
                }
                _sockets.PutUdp(sock with { Error = err });
                Events.Add(new KernelEvent.Delivered(Now, seg, sock.Name, $"ICMP {icmp.KindText}: pending error {err} (__udp4_lib_err)"));
                return;
            }
            var end = _sockets.Established(new ConnTuple(inner.Dst, inner.Src), n);
            if (end is null || end.Gone)
            {
                Events.Add(new KernelEvent.Delivered(Now, seg, "(no socket)", "ICMP error for no socket: dropped"));
                return;
            }
            if (end.State != TcpState.SynSent)
            {
                Events.Add(new KernelEvent.Delivered(Now, seg, end.Name, $"ICMP {icmp.KindText} in {Tcp.StateName(end.State)}: a soft error (sk_err_soft), the connection goes on"));
                return;
            }
            if (end.Name == _ownedByUser)
            {
                // tcp_v4_err: the socket is owned by the user (connect() is still sending its SYN): sk_err_soft only; the
                // SYN is re-sent on its timer and the next error ends the connect (measured: unreachable after 1.02 s,
                // SO_ERROR then reads the soft error).
                Events.Add(new KernelEvent.Delivered(Now, seg, end.Name, $"ICMP {icmp.KindText} in SYN_SENT while connect() holds the socket: soft error {err} (sk_err_soft)"));
                Put(end with { SoftError = err });
                return;
            }
            Events.Add(new KernelEvent.Delivered(Now, seg, end.Name, $"ICMP {icmp.KindText} in SYN_SENT: connect fails with {err} (tcp_v4_err: tcp_done_with_error)"));
            Put(Tcp.Expire(end) with { Error = err });
        }
    }
}
