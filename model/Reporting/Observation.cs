using System.Collections.Immutable;
using ConntrackModel.Model.Addressing;
using System.Globalization;
using ConntrackModel.Model.Conntrack;
using ConntrackModel.Model.Kernel;
using ConntrackModel.Model.Sockets;

namespace ConntrackModel.Model.Reporting;

/// <summary>
/// What a run shows an observer, in the shape <c>simulate --json</c> prints and the kernel replay fills in:
/// connections, the conntrack table, the insert_failed and drop counters, violations.
/// </summary>
public sealed record Observation(
    ImmutableArray<ConnectionObservation> Connections,
    ImmutableArray<CtObservation> Conntrack,
    long InsertFailed,
    long Drop,
    ImmutableArray<ViolationObservation> Violations)
{
    /// <summary>Observes a finished run; <paramref name="wire"/> gives each connection's possible peer addresses.</summary>
    public static Observation Of(Simulation sim, IReadOnlyDictionary<string, ImmutableArray<string>> wire)
    {
        ArgumentNullException.ThrowIfNull(sim);
        return Of(sim.Final, sim.Violations, wire);
    }

    /// <summary>Observes a run folded without its trace (<see cref="RunSummary"/>).</summary>
    public static Observation Of(RunSummary run, IReadOnlyDictionary<string, ImmutableArray<string>> wire)
    {
        ArgumentNullException.ThrowIfNull(run);
        return Of(run.Final, run.Violations, wire);
    }

    private static Observation Of(World w, IEnumerable<Diagnostics.Violation> found, IReadOnlyDictionary<string, ImmutableArray<string>> wire)
    {
        ArgumentNullException.ThrowIfNull(wire);
        var connections = w.Connections.Select(c =>
        {
            if (c.Proto == Addressing.L4Proto.Udp) return Udp(w, c, wire);
            var client = w.Sockets.End(c.Name)!;
            var server = w.Sockets.End(c.Name + ".server") is { Accepted: true } s ? s : null;
            return new ConnectionObservation(
                c.Name,
                ConnectName(c.Result),
                LocalAfterConnect(c, client),
                wire.TryGetValue(c.Name, out var ws) ? ws : server is null ? [] : [server.Remote.ToString()],
                End(client),
                server is null ? null : End(server),
                server is null ? [] : [.. server.Received],
                [.. client.Received]);
        }).ToImmutableArray();
        var table = w.Conntrack.Live(w.Now)
            .Select(e => new CtObservation(e.Proto.Name(), e.Proto == Addressing.L4Proto.Udp ? null : CtEntry.StateName(e.State), e.Orig.ToString(), e.Reply.ToString(),
                e.Has(CtStatus.Assured), w.Namespaces[e.Netns].Name) { Mark = e.Mark })
            .ToImmutableArray();
        var violations = found.Select(v => new ViolationObservation(v.Name, v.Step, v.Message)).ToImmutableArray();
        return new Observation(connections, table, w.Counters.InsertFailed, w.Counters.Drop, violations);
    }

    /// <summary>
    /// A UDP connection: "connected" (or "unreachable"); its socket and the server socket its datagrams reached (null
    /// until one did), each "UDP" or CLOSED_BY_APP; the source addresses the server saw; what each side read; where
    /// each datagram arrived; the sends that failed.
    /// </summary>
    private static ConnectionObservation Udp(World w, Connection c, IReadOnlyDictionary<string, ImmutableArray<string>> wire)
    {
        var client = w.Sockets.Udp(c.Name)!;
        var peer = w.Sockets.Peer(c.Name);
        var server = peer is null ? null : w.Sockets.Udp(peer.Server);
        return new ConnectionObservation(
            c.Name,
            c.Result == ConnectResult.Established ? "connected" : ConnectName(c.Result),
            c.Local.ToString(),
            wire.TryGetValue(c.Name, out var ws) ? ws : peer is null ? [] : [.. peer.Seen.Select(a => a.ToString())],
            UdpEnd(client),
            server is null ? null : UdpEnd(server),
            peer is null ? [] : [.. peer.Received],
            [.. client.Received])
        {
            Proto = "udp",
            Arrivals = [.. client.Arrivals.Select(a => new ArrivalObservation(a.Label, w.Namespaces[a.Netns].Name, a.At.ToString(), a.From.ToString()))],
            SendErrors = [.. client.SendErrors.Select(e => KeyValuePair.Create(e.Label, e.Error.ToString()))],
        };
    }

    /// <summary>A UDP socket: CLOSED_BY_APP once closed, else "UDP" and its pending error.</summary>
    public static EndObservation UdpEnd(UdpSock s)
    {
        ArgumentNullException.ThrowIfNull(s);
        return new EndObservation(s.Closed ? "CLOSED_BY_APP" : "UDP", s.Error?.ToString());
    }

    /// <summary>
    /// What getsockname() reports after connect(): after a refused, reset or unreachable connect the failure path
    /// (<c>__inet_stream_connect</c>'s sock_error) runs tcp_disconnect, which resets the source address unless bind()
    /// fixed it (inet_reset_saddr unless SOCK_BINDADDR_LOCK) but keeps the port (kernel runs: an unbound refused
    /// connect reads 0.0.0.0:PORT, and so does one an ICMP net unreachable ended after its SYN left).
    /// </summary>
    private static string LocalAfterConnect(Connection c, TcpEnd client) =>
        c.Result is ConnectResult.Refused or ConnectResult.Reset or ConnectResult.Unreachable or ConnectResult.ProtocolUnreachable && !client.ExplicitBind
            ? new Addressing.SockAddr(default, c.Local.Port).ToString()
            : c.Local.ToString();

    public static string ConnectName(ConnectResult r) => r switch
    {
        ConnectResult.Established => "established",
        ConnectResult.Timeout => "timeout",
        ConnectResult.Refused => "refused",
        ConnectResult.Reset => "reset",
        ConnectResult.Unreachable => "unreachable",
        ConnectResult.ProtocolUnreachable => "error ENOPROTOOPT",
        _ => throw new ArgumentOutOfRangeException(nameof(r)),
    };

    /// <summary>CLOSED_BY_APP once the application closed or aborted the socket; else the kernel state and error.</summary>
    public static EndObservation End(TcpEnd e)
    {
        ArgumentNullException.ThrowIfNull(e);
        // SO_ERROR: sk_err, else sk_err_soft (sock_getsockopt).
        var error = (e.Error ?? e.SoftError)?.ToString();
        if (e.AppClosed) return new EndObservation("CLOSED_BY_APP", error);
        return new EndObservation(Tcp.StateName(e.Gone ? TcpState.Close : e.State), error);
    }

    /// <summary>Sorted addresses, with runs of eight or more consecutive ports on one address written IP:LOW-HIGH.</summary>
    public static ImmutableArray<string> Compress(IEnumerable<string> addresses)
    {
        ArgumentNullException.ThrowIfNull(addresses);
        var singles = new SortedSet<(uint Ip, int Port)>();
        var spans = new List<string>();
        foreach (var a in addresses)
        {
            var colon = a.LastIndexOf(':');
            var dash = colon < 0 ? -1 : a.IndexOf('-', colon);
            if (dash >= 0 || !Addressing.SockAddr.TryParse(a, out var sa))
            {
                spans.Add(a);
                continue;
            }
            singles.Add((sa.Ip.Value, sa.Port));
        }
        var result = new List<string>();
        var list = singles.ToList();
        for (var i = 0; i < list.Count;)
        {
            var j = i;
            while (j + 1 < list.Count && list[j + 1].Ip == list[i].Ip && list[j + 1].Port == list[j].Port + 1) j++;
            var ip = new Addressing.IPv4Address(list[i].Ip);
            if (j - i + 1 >= 8) result.Add(string.Create(CultureInfo.InvariantCulture, $"{ip}:{list[i].Port}-{list[j].Port}"));
            else for (var k = i; k <= j; k++) result.Add(string.Create(CultureInfo.InvariantCulture, $"{ip}:{list[k].Port}"));
            i = j + 1;
        }
        result.AddRange(spans.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal));
        return [.. result];
    }

    public bool Equals(Observation? other) =>
        other is not null && InsertFailed == other.InsertFailed && Drop == other.Drop &&
        Connections.SequenceEqual(other.Connections) && Conntrack.SequenceEqual(other.Conntrack) && Violations.SequenceEqual(other.Violations);

    public override int GetHashCode() => HashCode.Combine(Connections.Length, Conntrack.Length, InsertFailed, Drop);
}
