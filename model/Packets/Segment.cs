using System.Globalization;
using System.Text;
using ConntrackModel.Model.Addressing;

namespace ConntrackModel.Model.Packets;

/// <summary>
/// A packet: a TCP segment, a UDP datagram (<see cref="ConnTuple.Proto"/> UDP, the label as payload, no flags) or an
/// ICMP error (<see cref="Icmp"/> set; its tuple holds the outer addresses with port 0). <paramref name="Payload"/> is the data label (null for none); <paramref name="Origin"/>
/// names the socket end that emitted it (e.g. <c>A</c>, <c>A.server</c>) and is bookkeeping for the invariants,
/// never looked at by the kernel rules.
/// </summary>
public sealed record Segment(ConnTuple Tuple, TcpFlags Flags, uint Seq, uint Ack, string? Payload, string Origin)
{
    /// <summary>The ICMP error this packet is, null for TCP and UDP.</summary>
    public IcmpError? Icmp { get; init; }

    public bool IsUdp => Tuple.Proto == L4Proto.Udp;

    public int Length => Payload is null ? 0 : Encoding.UTF8.GetByteCount(Payload);

    public bool Has(TcpFlags f) => (Flags & f) == f;

    /// <summary>seq + len + SYN + FIN: the sequence space the segment occupies (TCP_SKB_CB end_seq).</summary>
    public uint EndSeq => Seq + (uint)Length + (Has(TcpFlags.Syn) ? 1u : 0u) + (Has(TcpFlags.Fin) ? 1u : 0u);

    /// <summary>The connection the segment belongs to: the origin's name up to the first dot.</summary>
    public string Connection => ConnectionOf(Origin);

    /// <summary>Do two end names belong to the same connection? (<see cref="ConnectionOf"/> of both, without allocating.)</summary>
    public static bool SameConnection(string endA, string endB)
    {
        ArgumentNullException.ThrowIfNull(endA);
        ArgumentNullException.ThrowIfNull(endB);
        return Prefix(endA).SequenceEqual(Prefix(endB));
    }

    private static ReadOnlySpan<char> Prefix(string endName)
    {
        var dot = endName.IndexOf('.', StringComparison.Ordinal);
        return dot < 0 ? endName : endName.AsSpan(0, dot);
    }

    public static string ConnectionOf(string endName)
    {
        ArgumentNullException.ThrowIfNull(endName);
        var dot = endName.IndexOf('.', StringComparison.Ordinal);
        return dot < 0 ? endName : endName[..dot];
    }

    /// <summary>tcpdump's flag string: <c>[S]</c>, <c>[S.]</c>, <c>[R]</c>, <c>[P.]</c>, <c>[F.]</c>.</summary>
    public string FlagString()
    {
        if (Icmp is { } icmp) return "ICMP " + icmp.KindText;
        if (IsUdp) return "UDP";
        var sb = new StringBuilder();
        if (Has(TcpFlags.Syn)) sb.Append('S');
        if (Has(TcpFlags.Fin)) sb.Append('F');
        if (Has(TcpFlags.Rst)) sb.Append('R');
        if (Has(TcpFlags.Psh)) sb.Append('P');
        if (Has(TcpFlags.Ack)) sb.Append('.');
        return sb.Length == 0 ? "none" : sb.ToString();
    }

    /// <summary>The segment as <c>tcpdump -nn -S</c> prints it (absolute sequence numbers).</summary>
    public string ToTcpdump()
    {
        if (Icmp is { } icmp)
            return string.Create(CultureInfo.InvariantCulture, $"IP {Tuple.Src.Ip} > {Tuple.Dst.Ip}: ICMP {icmp.ToTcpdump()}, length {IcmpError.Length(icmp.Inner, icmp.InnerPayload)}");
        if (IsUdp) return string.Create(CultureInfo.InvariantCulture, $"IP {Tuple.Src.ToTcpdump()} > {Tuple.Dst.ToTcpdump()}: UDP, length {Length} \"{Payload}\"");
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"IP {Tuple.Src.ToTcpdump()} > {Tuple.Dst.ToTcpdump()}: Flags [{FlagString()}]");
        if (Length > 0) sb.Append(CultureInfo.InvariantCulture, $", seq {Seq}:{Seq + (uint)Length}");
        else if (!Has(TcpFlags.Ack) || Has(TcpFlags.Syn) || Has(TcpFlags.Rst) || Has(TcpFlags.Fin)) sb.Append(CultureInfo.InvariantCulture, $", seq {Seq}");
        if (Has(TcpFlags.Ack)) sb.Append(CultureInfo.InvariantCulture, $", ack {Ack}");
        sb.Append(CultureInfo.InvariantCulture, $", length {Length}");
        if (Payload is not null) sb.Append(CultureInfo.InvariantCulture, $" \"{Payload}\"");
        return sb.ToString();
    }
}
