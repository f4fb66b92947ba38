using System.Globalization;
using System.Text;
using ConntrackModel.Model.Addressing;

namespace ConntrackModel.Model.Packets;

/// <summary>The ICMP destination-unreachable codes the model sends (<c>ICMP_NET_UNREACH</c>, <c>ICMP_HOST_UNREACH</c>, <c>ICMP_PORT_UNREACH</c>).</summary>
public enum IcmpUnreach
{
    Net = 0,
    Host = 1,
    Protocol = 2,
    Port = 3,
    NetProhibited = 9,
    HostProhibited = 10,
    AdminProhibited = 13,
}

/// <summary>
/// An ICMP destination-unreachable error (type 3) and the header it quotes: <paramref name="Inner"/> is the tuple of
/// the packet that drew it, as that packet was when the error was made (and as NAT rewrote it since:
/// <c>nf_nat_icmp_reply_translation</c>); <paramref name="InnerPayload"/> its label, for the length tcpdump prints.
/// </summary>
public sealed record IcmpError(IcmpUnreach Code, ConnTuple Inner, string? InnerPayload)
{
    /// <summary>The code as the trace names it.</summary>
    public string KindText => Code switch
    {
        IcmpUnreach.Port => "port unreachable",
        IcmpUnreach.Host => "host unreachable",
        IcmpUnreach.Protocol => "protocol unreachable",
        IcmpUnreach.NetProhibited => "net prohibited",
        IcmpUnreach.HostProhibited => "host prohibited",
        IcmpUnreach.AdminProhibited => "admin prohibited",
        _ => "net unreachable",
    };

    /// <summary>
    /// The socket error the code converts to (<c>icmp_err_convert</c>: errno and whether it is fatal, which a connected
    /// UDP socket takes as its pending error; measured for each code REJECT sends, on TCP connects and a UDP send).
    /// </summary>
    public (Sockets.Errno Errno, bool Fatal) Convert() => Code switch
    {
        IcmpUnreach.Port => (Sockets.Errno.ECONNREFUSED, true),
        IcmpUnreach.Host => (Sockets.Errno.EHOSTUNREACH, false),
        IcmpUnreach.Protocol => (Sockets.Errno.ENOPROTOOPT, true),
        IcmpUnreach.NetProhibited => (Sockets.Errno.ENETUNREACH, true),
        IcmpUnreach.HostProhibited or IcmpUnreach.AdminProhibited => (Sockets.Errno.EHOSTUNREACH, true),
        _ => (Sockets.Errno.ENETUNREACH, false),
    };

    /// <summary>tcpdump's words: <c>192.168.1.20 udp port 53 unreachable</c>, <c>host 10.0.0.9 unreachable</c>.</summary>
    public string ToTcpdump() => Code switch
    {
        IcmpUnreach.Port => string.Create(CultureInfo.InvariantCulture, $"{Inner.Dst.Ip} {Inner.Proto.Name()} port {Inner.Dst.Port} unreachable"),
        IcmpUnreach.Host => $"host {Inner.Dst.Ip} unreachable",
        // tcpdump 4.99 (measured): "127.0.0.1 protocol 6 unreachable", "... - admin prohibited", "... - admin prohibited filter".
        IcmpUnreach.Protocol => string.Create(CultureInfo.InvariantCulture, $"{Inner.Dst.Ip} protocol {Inner.Proto.Number()} unreachable"),
        IcmpUnreach.NetProhibited => $"net {Inner.Dst.Ip} unreachable - admin prohibited",
        IcmpUnreach.HostProhibited => $"host {Inner.Dst.Ip} unreachable - admin prohibited",
        IcmpUnreach.AdminProhibited => $"host {Inner.Dst.Ip} unreachable - admin prohibited filter",
        _ => $"net {Inner.Dst.Ip} unreachable",
    };

    /// <summary>
    /// The ICMP payload length tcpdump prints: 8 bytes of ICMP header, the quoted IP header (20) and as much of the
    /// original as fits (<c>icmp_send</c> quotes up to 576 bytes in all; the model's packets are small, so all of it:
    /// UDP header 8 + data, TCP header 20 + data; the TCP header is 32 with the SYN's options, not modelled).
    /// </summary>
    public static int Length(ConnTuple inner, string? payload)
    {
        var data = payload is null ? 0 : Encoding.UTF8.GetByteCount(payload);
        return 8 + 20 + (inner.Proto == L4Proto.Udp ? 8 : 20) + data;
    }
}
