using System.Buffers.Binary;
using System.Text;
using ConntrackModel.Model.Addressing;
using ConntrackModel.Model.Kernel;
using ConntrackModel.Model.Packets;

namespace ConntrackModel.Cli.Output;

/// <summary>
/// The model's own packets as a pcapng file (<c>simulate --pcap</c>): one interface per namespace and device a packet
/// left through (<c>init/lo</c>, <c>pod1/eth0</c>, ...), link type IPv4 (LINKTYPE_IPV4, 228), real IPv4, TCP, UDP and
/// ICMP headers with their checksums, timestamps from the model's clock (microseconds from time 0), and a comment on
/// each packet naming the socket end that sent it and the conntrack and NAT decisions taken since the previous packet.
/// Readable by <c>tcpdump -r</c> and Wireshark; needs no root. What the model does not know is filled in plainly: TTL
/// 64, window 65535, no TCP options, IP ids counting up, a label's UTF-8 bytes as the payload.
/// </summary>
public static class Pcapng
{
    private const ushort LinktypeIpv4 = 228;

    public static void Write(Simulation sim, Stream output)
    {
        ArgumentNullException.ThrowIfNull(sim);
        ArgumentNullException.ThrowIfNull(output);
        var interfaces = new List<string>();
        var packets = new List<(int Interface, long TimeMs, byte[] Data, string Comment)>();
        var notes = new List<string>();
        ushort id = 0;
        foreach (var step in sim.Steps)
        {
            foreach (var ev in step.Events)
            {
                switch (ev)
                {
                    case KernelEvent.Ct ct:
                        notes.Add(ct.Text);
                        break;
                    case KernelEvent.Captured c:
                        var name = $"{c.Netns ?? "init"}/{c.Device}";
                        var index = interfaces.IndexOf(name);
                        if (index < 0)
                        {
                            index = interfaces.Count;
                            interfaces.Add(name);
                        }
                        var comment = notes.Count == 0 ? $"sent by {c.Segment.Origin}" : $"sent by {c.Segment.Origin}; {string.Join("; ", notes)}";
                        notes.Clear();
                        packets.Add((index, c.Time, Packet(c.Segment, id++), comment));
                        break;
                }
            }
        }
        using var w = new BinaryWriter(output, Encoding.UTF8, leaveOpen: true);
        SectionHeader(w);
        foreach (var name in interfaces) InterfaceDescription(w, name);
        foreach (var (index, time, data, comment) in packets) EnhancedPacket(w, index, time * 1000, data, comment);
    }

    // ------------------------------------------------------------ blocks (little-endian, as written on this machine)

    private static void SectionHeader(BinaryWriter w)
    {
        var body = new MemoryStream();
        using (var b = new BinaryWriter(body, Encoding.UTF8, leaveOpen: true))
        {
            b.Write(0x1A2B3C4Du);
            b.Write((ushort)1);
            b.Write((ushort)0);
            b.Write(-1L);
            Option(b, 4, "ctmodel simulate --pcap"); // shb_userappl
            EndOfOptions(b);
        }
        Block(w, 0x0A0D0D0Au, body.ToArray());
    }

    private static void InterfaceDescription(BinaryWriter w, string name)
    {
        var body = new MemoryStream();
        using (var b = new BinaryWriter(body, Encoding.UTF8, leaveOpen: true))
        {
            b.Write(LinktypeIpv4);
            b.Write((ushort)0);
            b.Write(65535u);
            Option(b, 2, name); // if_name
            EndOfOptions(b);
        }
        Block(w, 1, body.ToArray());
    }

    private static void EnhancedPacket(BinaryWriter w, int index, long micros, byte[] data, string comment)
    {
        var body = new MemoryStream();
        using (var b = new BinaryWriter(body, Encoding.UTF8, leaveOpen: true))
        {
            b.Write((uint)index);
            b.Write((uint)(micros >> 32));
            b.Write((uint)micros);
            b.Write((uint)data.Length);
            b.Write((uint)data.Length);
            b.Write(data);
            Pad(b, data.Length);
            Option(b, 1, comment); // opt_comment
            EndOfOptions(b);
        }
        Block(w, 6, body.ToArray());
    }

    private static void Block(BinaryWriter w, uint type, byte[] body)
    {
        var total = (uint)(12 + body.Length);
        w.Write(type);
        w.Write(total);
        w.Write(body);
        w.Write(total);
    }

    private static void Option(BinaryWriter b, ushort code, string value)
    {
        var bytes = Encoding.UTF8.GetBytes(value);
        b.Write(code);
        b.Write((ushort)bytes.Length);
        b.Write(bytes);
        Pad(b, bytes.Length);
    }

    private static void EndOfOptions(BinaryWriter b) => b.Write(0u);

    private static void Pad(BinaryWriter b, int length)
    {
        for (var i = length; i % 4 != 0; i++) b.Write((byte)0);
    }

    // ------------------------------------------------------------ packets (network byte order)

    /// <summary>The IPv4 packet of a model segment: TCP, UDP, or an ICMP destination-unreachable error.</summary>
    public static byte[] Packet(Segment s, ushort id)
    {
        ArgumentNullException.ThrowIfNull(s);
        var payload = s.Payload is null ? [] : Encoding.UTF8.GetBytes(s.Payload);
        if (s.Icmp is { } icmp)
        {
            // The quoted packet whole (icmp_send quotes up to 576 bytes, more than the model's packets have): its IP
            // header, ports, a UDP length (a TCP header's other fields are not in the error and are left 0), its data.
            var innerPayload = icmp.InnerPayload is null ? [] : Encoding.UTF8.GetBytes(icmp.InnerPayload);
            var transport = icmp.Inner.Proto == L4Proto.Udp ? 8 : 20;
            var innerLength = transport + innerPayload.Length;
            var quoted = new byte[20 + innerLength];
            Ipv4(quoted, icmp.Inner.Src.Ip, icmp.Inner.Dst.Ip, icmp.Inner.Proto == L4Proto.Udp ? (byte)17 : (byte)6, 20 + innerLength, 0);
            BinaryPrimitives.WriteUInt16BigEndian(quoted.AsSpan(20), (ushort)icmp.Inner.Src.Port);
            BinaryPrimitives.WriteUInt16BigEndian(quoted.AsSpan(22), (ushort)icmp.Inner.Dst.Port);
            if (icmp.Inner.Proto == L4Proto.Udp) BinaryPrimitives.WriteUInt16BigEndian(quoted.AsSpan(24), (ushort)innerLength);
            else quoted[20 + 12] = 5 << 4;
            innerPayload.CopyTo(quoted, 20 + transport);
            var message = new byte[8 + quoted.Length];
            message[0] = 3;
            message[1] = (byte)icmp.Code;
            quoted.CopyTo(message, 8);
            BinaryPrimitives.WriteUInt16BigEndian(message.AsSpan(2), Checksum(message, 0));
            return Ip(s.Tuple.Src.Ip, s.Tuple.Dst.Ip, 1, message, id);
        }
        if (s.IsUdp)
        {
            var udp = new byte[8 + payload.Length];
            BinaryPrimitives.WriteUInt16BigEndian(udp, (ushort)s.Tuple.Src.Port);
            BinaryPrimitives.WriteUInt16BigEndian(udp.AsSpan(2), (ushort)s.Tuple.Dst.Port);
            BinaryPrimitives.WriteUInt16BigEndian(udp.AsSpan(4), (ushort)udp.Length);
            payload.CopyTo(udp, 8);
            var sum = Checksum(udp, Pseudo(s.Tuple.Src.Ip, s.Tuple.Dst.Ip, 17, udp.Length));
            BinaryPrimitives.WriteUInt16BigEndian(udp.AsSpan(6), sum == 0 ? (ushort)0xFFFF : sum);
            return Ip(s.Tuple.Src.Ip, s.Tuple.Dst.Ip, 17, udp, id);
        }
        var tcp = new byte[20 + payload.Length];
        BinaryPrimitives.WriteUInt16BigEndian(tcp, (ushort)s.Tuple.Src.Port);
        BinaryPrimitives.WriteUInt16BigEndian(tcp.AsSpan(2), (ushort)s.Tuple.Dst.Port);
        BinaryPrimitives.WriteUInt32BigEndian(tcp.AsSpan(4), s.Seq);
        BinaryPrimitives.WriteUInt32BigEndian(tcp.AsSpan(8), s.Has(TcpFlags.Ack) ? s.Ack : 0);
        tcp[12] = 5 << 4;
        tcp[13] = (byte)s.Flags;
        BinaryPrimitives.WriteUInt16BigEndian(tcp.AsSpan(14), 65535);
        payload.CopyTo(tcp, 20);
        BinaryPrimitives.WriteUInt16BigEndian(tcp.AsSpan(16), Checksum(tcp, Pseudo(s.Tuple.Src.Ip, s.Tuple.Dst.Ip, 6, tcp.Length)));
        return Ip(s.Tuple.Src.Ip, s.Tuple.Dst.Ip, 6, tcp, id);
    }

    private static byte[] Ip(IPv4Address src, IPv4Address dst, byte proto, byte[] transport, ushort id)
    {
        var packet = new byte[20 + transport.Length];
        Ipv4(packet, src, dst, proto, packet.Length, id);
        transport.CopyTo(packet, 20);
        return packet;
    }

    private static void Ipv4(byte[] b, IPv4Address src, IPv4Address dst, byte proto, int totalLength, ushort id)
    {
        b[0] = 0x45;
        BinaryPrimitives.WriteUInt16BigEndian(b.AsSpan(2), (ushort)totalLength);
        BinaryPrimitives.WriteUInt16BigEndian(b.AsSpan(4), id);
        BinaryPrimitives.WriteUInt16BigEndian(b.AsSpan(6), proto == 1 ? (ushort)0 : (ushort)0x4000);
        b[8] = 64;
        b[9] = proto;
        BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(12), src.Value);
        BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(16), dst.Value);
        BinaryPrimitives.WriteUInt16BigEndian(b.AsSpan(10), Checksum(b.AsSpan(0, 20).ToArray(), 0));
    }

    /// <summary>The pseudo-header's sum (source, destination, protocol, length) for TCP and UDP checksums.</summary>
    private static uint Pseudo(IPv4Address src, IPv4Address dst, byte proto, int length) =>
        (src.Value >> 16) + (src.Value & 0xFFFF) + (dst.Value >> 16) + (dst.Value & 0xFFFF) + proto + (uint)length;

    /// <summary>The Internet checksum (RFC 1071) of <paramref name="data"/>, starting from <paramref name="sum"/>.</summary>
    public static ushort Checksum(byte[] data, uint sum)
    {
        ArgumentNullException.ThrowIfNull(data);
        for (var i = 0; i + 1 < data.Length; i += 2) sum += (uint)((data[i] << 8) | data[i + 1]);
        if (data.Length % 2 == 1) sum += (uint)(data[^1] << 8);
        while (sum >> 16 != 0) sum = (sum & 0xFFFF) + (sum >> 16);
        return (ushort)~sum;
    }
}
