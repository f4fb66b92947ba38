using ConntrackModel.Model.Addressing;

namespace ConntrackModel.Model.Nat;

/// <summary>
/// The matches a nat rule may carry: <c>-p tcp|udp</c>, <c>-s</c>, <c>-d</c>, <c>--sport</c>, <c>--dport</c>, <c>-o</c>,
/// <c>-i</c>. Null means "any".
/// </summary>
public sealed record RuleMatch(Cidr? Source, Cidr? Destination, PortRange? SourcePort, PortRange? DestinationPort, string? OutInterface, string? InInterface)
{
    public static RuleMatch Any { get; } = new(null, null, null, null, null, null);

    /// <summary><c>-p</c>: the protocol (<c>ipt_entry.ip.proto</c>), null for any.</summary>
    public L4Proto? Protocol { get; init; }

    /// <summary>
    /// Does a packet with <paramref name="tuple"/> that came in on <paramref name="inDevice"/> and goes out of
    /// <paramref name="outDevice"/> match (<c>ip_packet_match</c>)? A device a hook does not have is null, and a rule
    /// naming it does not match there (iptables refuses <c>-o</c> in PREROUTING and INPUT, <c>-i</c> in OUTPUT and
    /// POSTROUTING).
    /// </summary>
    public bool Matches(ConnTuple tuple, string? inDevice, string? outDevice) =>
        (Protocol is null || Protocol == tuple.Proto) &&
        (Source is null || Source.Value.Contains(tuple.Src.Ip)) &&
        (Destination is null || Destination.Value.Contains(tuple.Dst.Ip)) &&
        (SourcePort is null || SourcePort.Value.Contains(tuple.Src.Port)) &&
        (DestinationPort is null || DestinationPort.Value.Contains(tuple.Dst.Port)) &&
        (OutInterface is null || (outDevice is not null && InterfaceMatches(OutInterface, outDevice))) &&
        (InInterface is null || (inDevice is not null && InterfaceMatches(InInterface, inDevice)));

    /// <summary>
    /// <c>ifname_compare_aligned</c> with the mask iptables builds (<c>xtables_parse_interface</c>): a trailing
    /// <c>+</c> matches every name with that prefix, otherwise the whole name must be equal.
    /// </summary>
    public static bool InterfaceMatches(string pattern, string device)
    {
        ArgumentNullException.ThrowIfNull(pattern);
        ArgumentNullException.ThrowIfNull(device);
        return pattern.EndsWith('+') ? device.StartsWith(pattern[..^1], StringComparison.Ordinal) : pattern == device;
    }
}
