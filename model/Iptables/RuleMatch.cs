using System.Collections.Immutable;
using ConntrackModel.Model.Addressing;
using ConntrackModel.Model.Conntrack;
using ConntrackModel.Model.Nat;

namespace ConntrackModel.Model.Iptables;

/// <summary>
/// The matches a rule may carry: <c>-p tcp|udp</c>, <c>-s</c>, <c>-d</c>, <c>--sport</c>, <c>--dport</c>, <c>-o</c>,
/// <c>-i</c> (with <c>+</c> wildcards), each of them negated with <c>!</c>, and the modules <c>-m tcp|udp</c>,
/// <c>multiport</c>, <c>comment</c>, <c>mark</c>, <c>connmark</c>, <c>addrtype</c> (with <c>--limit-iface-in|out</c>),
/// <c>statistic --mode random|nth</c>, <c>conntrack --ctstate|--ctstatus</c> and <c>state --state</c>. Null means "any";
/// every other module and option is refused by name, with its line and column.
/// </summary>
public sealed record RuleMatch(Cidr? Source, Cidr? Destination, PortRange? SourcePort, PortRange? DestinationPort, string? OutInterface, string? InInterface)
{
    public static RuleMatch Any { get; } = new(null, null, null, null, null, null);

    /// <summary><c>-p</c>: the protocol (<c>ipt_entry.ip.proto</c>), null for any.</summary>
    public L4Proto? Protocol { get; init; }

    /// <summary>
    /// Does a packet with <paramref name="tuple"/> that came in on <paramref name="inDevice"/> and goes out of
    /// <paramref name="outDevice"/> match (<c>ip_packet_match</c>)? A device a hook does not have is null: the empty
    /// name, which <c>-i X</c> does not match and <c>! -i X</c> does (iptables refuses <c>-o</c> in PREROUTING and
    /// INPUT, <c>-i</c> in OUTPUT and POSTROUTING; a user chain those hooks reach may have them).
    /// </summary>
    public bool Matches(ConnTuple tuple, string? inDevice, string? outDevice) => Matches(tuple, inDevice, outDevice, static _ => false, 0, CtStates.New);

    /// <summary>
    /// <see cref="Matches(ConnTuple, string?, string?)"/> with the namespace's local addresses, which
    /// <c>-m addrtype</c> asks about (<paramref name="isLocal"/>: is the address one of the namespace's, as
    /// <c>inet_addr_type</c>'s RTN_LOCAL says). Each match may be negated (<c>!</c>, the <c>IPT_INV_*</c> flags and the
    /// matches' own invert flags), and all must hold. <paramref name="state"/> is the packet's conntrack state as
    /// <c>-m conntrack --ctstate</c> sees it (<see cref="CtStates"/>: one of the ctinfo bits, with SNAT and DNAT added).
    /// </summary>
    public bool Matches(ConnTuple tuple, string? inDevice, string? outDevice, Func<IPv4Address, bool> isLocal, uint mark, CtStates state)
    {
        ArgumentNullException.ThrowIfNull(isLocal);
        return Matches(tuple, inDevice, outDevice, (ip, _) => isLocal(ip), mark, state, null);
    }

    /// <summary>
    /// The whole test (<c>ip_packet_match</c>, then each match module): <paramref name="isLocal"/> answers
    /// <c>inet_dev_addr_type</c>'s question, is the address local (on the device given, or on any when it is null: the
    /// local table's route for an address names the device that holds it); <paramref name="ct"/> is the packet's entry
    /// (<c>nf_ct_get</c>), null for an invalid or untracked packet, for <c>-m connmark</c> and <c>--ctstatus</c>.
    /// </summary>
    public bool Matches(ConnTuple tuple, string? inDevice, string? outDevice, Func<IPv4Address, string?, bool> isLocal, uint mark, CtStates state, CtEntry? ct)
    {
        ArgumentNullException.ThrowIfNull(isLocal);
        // addrtype_mt_v1: --limit-iface-in/out asks about the hook's in or out device only.
        var typeDevice = LimitIface switch { AddrTypeLimit.In => inDevice, AddrTypeLimit.Out => outDevice, _ => null };
        return (Protocol is null || (Protocol == tuple.Proto) != Not.HasFlag(Negated.Protocol)) &&
            (Source is null || Source.Value.Contains(tuple.Src.Ip) != Not.HasFlag(Negated.Source)) &&
            (Destination is null || Destination.Value.Contains(tuple.Dst.Ip) != Not.HasFlag(Negated.Destination)) &&
            (SourcePort is null || SourcePort.Value.Contains(tuple.Src.Port) != Not.HasFlag(Negated.SourcePort)) &&
            (DestinationPort is null || DestinationPort.Value.Contains(tuple.Dst.Port) != Not.HasFlag(Negated.DestinationPort)) &&
            // A device the hook does not have is the empty name (ip_packet_match's nulldevname; nft's meta iifname stores ""):
            // "-i X" does not match it and "! -i X" does. Measured: a host process's connect to its own address at Docker's
            // published port is DNATed by "-A DOCKER ! -i docker0 ...", which OUTPUT (no in device) reaches.
            (OutInterface is null || InterfaceMatches(OutInterface, outDevice ?? "") != Not.HasFlag(Negated.OutInterface)) &&
            (InInterface is null || InterfaceMatches(InInterface, inDevice ?? "") != Not.HasFlag(Negated.InInterface)) &&
            (MultiPorts is null || MultiPorts.Matches(tuple.Src.Port, tuple.Dst.Port) != Not.HasFlag(Negated.MultiPorts)) &&
            (DestinationType is null || IsType(tuple.Dst.Ip, DestinationType.Value, isLocal, typeDevice) != Not.HasFlag(Negated.DestinationType)) &&
            (SourceType is null || IsType(tuple.Src.Ip, SourceType.Value, isLocal, typeDevice) != Not.HasFlag(Negated.SourceType)) &&
            (PacketMark is not { } m || ((mark & m.Mask) == m.Value) != Not.HasFlag(Negated.Mark)) &&
            // connmark_mt: no entry, no match (whatever the !).
            (ConnMark is not { } cm || (ct is not null && ((ct.Mark & cm.Mask) == cm.Value) != Not.HasFlag(Negated.ConnMark))) &&
            ConntrackMatches(state, ct);
    }

    /// <summary>
    /// <c>conntrack_mt</c> (and <c>state_mt</c>): the states first (<c>!!(state_mask &amp; statebit) ^ invert</c>); with no
    /// entry the match holds only if it tested the states; then <c>--ctstatus</c>, any of the listed status bits.
    /// </summary>
    private bool ConntrackMatches(CtStates state, CtEntry? ct)
    {
        if (States is { } s && ((s & state) != 0) == Not.HasFlag(Negated.State)) return false;
        if (Status is not { } status) return true;
        // A -m state match is a module of its own: only conntrack's own --ctstate makes its --ctstatus hold without an entry.
        if (ct is null) return States is not null && !StateModule;
        return ((ct.Status & status) != 0) != Not.HasFlag(Negated.Status);
    }

    /// <summary><c>-m connmark [!] --mark VALUE[/MASK]</c>: <c>(ct-&gt;mark &amp; MASK) == VALUE</c> (<c>connmark_mt</c>), or null.</summary>
    public (uint Value, uint Mask)? ConnMark { get; init; }

    /// <summary>
    /// <c>-m conntrack [!] --ctstatus LIST</c>: the status bits of which any must be set (<c>status_mask &amp; ct-&gt;status</c>;
    /// NONE adds no bit, so alone it never matches; EXPECTED is a bit no entry of the model has), or null.
    /// </summary>
    public CtStatus? Status { get; init; }

    /// <summary><c>-m addrtype --limit-iface-in|--limit-iface-out</c>: the address types are asked of that device only.</summary>
    public AddrTypeLimit LimitIface { get; init; }

    /// <summary>
    /// May the matches run at <paramref name="hook"/> (<c>addrtype_mt_checkentry_v1</c>: --limit-iface-in has no in device
    /// at LOCAL_OUT and POST_ROUTING, --limit-iface-out none at PRE_ROUTING and LOCAL_IN; measured: EINVAL)? Asked of a
    /// built-in chain's rule only (<see cref="XtTable.HookProblem"/>).
    /// </summary>
    public bool ValidAt(IptChain hook) => LimitIface switch
    {
        AddrTypeLimit.In => hook is not (IptChain.Output or IptChain.PostRouting),
        AddrTypeLimit.Out => hook is not (IptChain.PreRouting or IptChain.Input),
        _ => true,
    };

    /// <summary>Does adding the rule take a conntrack reference through its matches (conntrack, state, connmark: <c>nf_ct_netns_get</c> in their checkentry)?</summary>
    public bool UsesConntrack => States is not null || Status is not null || ConnMark is not null;

    /// <summary>
    /// <c>-m conntrack --ctstate LIST</c> or <c>-m state --state LIST</c> (<see cref="StateModule"/>): the states that
    /// match, or null. A rule with it takes a conntrack reference (<c>nf_ct_netns_get</c> in <c>conntrack_mt_check</c>,
    /// <c>state_mt_check</c>): adding it starts tracking in the namespace.
    /// </summary>
    public CtStates? States { get; init; }

    /// <summary>Was <see cref="States"/> written with <c>-m state</c> (else <c>-m conntrack</c>)? The kernel tests both alike.</summary>
    public bool StateModule { get; init; }

    /// <summary>
    /// <c>-m statistic --mode random --probability P</c>: a draw the model leaves open (<see cref="Choices.ChoiceKind.Statistic"/>),
    /// made by the traversal after every other match of the rule held (where it was written does not matter: a draw
    /// whose result nothing reads is not observable); null for none. <see cref="Matches(ConnTuple, string?, string?, Func{IPv4Address, bool}, uint, CtStates)"/>
    /// does not look at it.
    /// </summary>
    public double? Probability { get; init; }

    /// <summary>
    /// A <c>--probability</c> that needs no draw: iptables stores <c>lround(0x80000000 * P)</c> (libxt_statistic) and
    /// <c>statistic_mt</c> matches when a 31-bit random number is below it, so 0 never matches and 0x80000000 always does;
    /// null when the packet's draw decides.
    /// </summary>
    public static bool? StatisticCertain(double probability)
    {
        var threshold = (ulong)Math.Round(0x80000000 * probability, MidpointRounding.AwayFromZero);
        if (threshold >= 0x80000000) return true;
        if (threshold == 0) return false;
        return null;
    }

    /// <summary>
    /// <c>-m statistic --mode nth --every N --packet P</c>: the rule's own counter (<c>xt_statistic_priv</c>, one per rule
    /// as added: with iptables-nft a rule keeps it while other rules change), starting at N-1-P; each packet that
    /// reaches the match moves it on (<c>nval = oval == N-1 ? 0 : oval + 1</c>) and matches when it wraps to 0: packets
    /// P, P+N, P+2N, ... (measured: --every 3 --packet 1 DNATs connections 2, 5, 8, ...). Kept in the rule's table
    /// (<see cref="XtTable.NthStep"/>); null for none.
    /// </summary>
    public (uint Every, uint Packet)? Nth { get; init; }

    /// <summary><c>-m mark --mark VALUE[/MASK]</c>: <c>(skb-&gt;mark &amp; MASK) == VALUE</c> (<c>mark_mt</c>), or null.</summary>
    public (uint Value, uint Mask)? PacketMark { get; init; }

    /// <summary>The matches written with <c>!</c> before them.</summary>
    public Negated Not { get; init; }

    /// <summary><c>-m multiport --sports|--dports|--ports LIST</c> (xt_multiport), or null.</summary>
    public PortList? MultiPorts { get; init; }

    /// <summary><c>-m addrtype --dst-type TYPE</c> (xt_addrtype), or null.</summary>
    public AddrType? DestinationType { get; init; }

    /// <summary><c>-m addrtype --src-type TYPE</c>, or null.</summary>
    public AddrType? SourceType { get; init; }

    /// <summary>
    /// <c>addrtype_mt</c>'s question for an IPv4 address, as <c>__inet_dev_addr_type</c> answers it: 0.0.0.0/8 and
    /// 255.255.255.255 are BROADCAST, 224.0.0.0/4 MULTICAST, then the local table: LOCAL for the namespace's own
    /// addresses, UNICAST otherwise. Not modelled: the local table's subnet-broadcast routes (a subnet's first and last
    /// address count as UNICAST here, as BROADCAST in the kernel).
    /// </summary>
    /// With a device (<c>--limit-iface-*</c>) an address local to another device is UNICAST: <c>__inet_dev_addr_type</c>
    /// takes the local route's type only when its device is the one asked about.
    private static bool IsType(IPv4Address ip, AddrType type, Func<IPv4Address, string?, bool> isLocal, string? device) => type switch
    {
        AddrType.Local => isLocal(ip, device),
        AddrType.Multicast => (ip.Value & 0xF0000000) == 0xE0000000,
        AddrType.Broadcast => ip.Value == 0xFFFFFFFF || (ip.Value & 0xFF000000) == 0,
        AddrType.Unicast => (ip.Value & 0xF0000000) != 0xE0000000 && ip.Value != 0xFFFFFFFF && (ip.Value & 0xFF000000) != 0 && !isLocal(ip, device),
        _ => false,
    };

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

/// <summary>The matches of a rule written with <c>!</c> before them.</summary>
[Flags]
public enum Negated
{
    None = 0,
    Protocol = 1,
    Source = 2,
    Destination = 4,
    SourcePort = 8,
    DestinationPort = 16,
    OutInterface = 32,
    InInterface = 64,
    MultiPorts = 128,
    DestinationType = 256,
    SourceType = 512,
    Mark = 1024,
    State = 2048,
    ConnMark = 4096,
    Status = 8192,

    /// <summary><c>! --probability</c> or <c>! --every</c>: the statistic match inverted (XT_STATISTIC_INVERT).</summary>
    Statistic = 16384,
}

/// <summary><c>-m addrtype</c>'s device limit (<c>XT_ADDRTYPE_LIMIT_IFACE_IN</c>, <c>_OUT</c>).</summary>
public enum AddrTypeLimit
{
    None,
    In,
    Out,
}

/// <summary>
/// The states <c>--ctstate</c> and <c>--state</c> name, as bits like the kernel's (<c>XT_CONNTRACK_STATE_BIT</c>:
/// <c>1 &lt;&lt; (ctinfo % IP_CT_IS_REPLY + 1)</c>, so a reply's ESTABLISHED is ESTABLISHED; INVALID when the packet has no
/// entry; SNAT and DNAT (conntrack only) from the entry's IPS_SRC_NAT / IPS_DST_NAT). The values of Snat, Dnat and Untracked are the model's own; only membership is compared.
/// </summary>
[Flags]
public enum CtStates
{
    None = 0,
    Invalid = 1,
    Established = 2,
    Related = 4,
    New = 8,
    Snat = 256,
    Dnat = 512,
    Untracked = 1024,
}

/// <summary>The address types <c>-m addrtype</c> takes that the model knows.</summary>
public enum AddrType
{
    Unicast,
    Local,
    Broadcast,
    Multicast,
}

/// <summary>
/// <c>-m multiport --sports|--dports|--ports P[:Q],...</c>: up to 15 ports, a range counting as two (xt_multiport's
/// XT_MULTI_PORTS). <see cref="Which"/>: which ports it tests.
/// </summary>
public sealed record PortList(PortList.Side Which, ImmutableArray<PortRange> Ranges)
{
    public enum Side
    {
        Source,
        Destination,
        Either,
    }

    public bool Matches(int sport, int dport) => Which switch
    {
        Side.Source => Ranges.Any(r => r.Contains(sport)),
        Side.Destination => Ranges.Any(r => r.Contains(dport)),
        _ => Ranges.Any(r => r.Contains(sport) || r.Contains(dport)),
    };

    public bool Equals(PortList? other) => other is not null && Which == other.Which && Ranges.SequenceEqual(other.Ranges);

    public override int GetHashCode() => HashCode.Combine(Which, Ranges.Length);

    public override string ToString() => string.Join(",", Ranges.Select(r => r.ToString()));
}
