namespace ConntrackModel.Model.Addressing;

/// <summary>
/// The transport protocols the model has: the <c>protonum</c> of <c>struct nf_conntrack_tuple</c> (IPPROTO_TCP,
/// IPPROTO_UDP). TCP is the default value, so every tuple written before UDP existed is a TCP tuple.
/// </summary>
public enum L4Proto : byte
{
    Tcp = 0,
    Udp = 1,

    /// <summary>ICMP errors only (destination unreachable); the model tracks no ICMP flows of their own (no ping).</summary>
    Icmp = 2,
}

public static class L4ProtoNames
{
    /// <summary>The IANA protocol number (<c>IPPROTO_*</c>), as <c>conntrack -L</c> prints it after the name.</summary>
    public static int Number(this L4Proto p) => p switch { L4Proto.Udp => 17, L4Proto.Icmp => 1, _ => 6 };

    /// <summary>The lower-case name iptables, conntrack and the JSON use.</summary>
    public static string Name(this L4Proto p) => p switch { L4Proto.Udp => "udp", L4Proto.Icmp => "icmp", _ => "tcp" };
}
