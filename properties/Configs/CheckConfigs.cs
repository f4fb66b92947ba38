using System.Collections.Immutable;
using ConntrackModel.Model.Diagnostics;
using ConntrackModel.Model.Scenarios;

namespace ConntrackModel.Properties.Configs;

/// <summary>The catalogue that <c>ctmodel check --list</c> prints.</summary>
public static class CheckConfigs
{
    private static readonly ImmutableArray<OpKind> Sockets = [OpKind.Listen, OpKind.Connect, OpKind.Send, OpKind.Close, OpKind.Abort, OpKind.Sleep];

    private static readonly ImmutableArray<RuleKind> Snat = [RuleKind.SnatPort, RuleKind.SnatRange, RuleKind.SnatRandom, RuleKind.SnatRandomFully, RuleKind.Masquerade];

    private static readonly ImmutableArray<RuleKind> BootRules = [.. Snat, RuleKind.Dnat, RuleKind.Accept];

    private static readonly ImmutableArray<RuleKind> AllRules = [.. BootRules, RuleKind.MasqueradeRandomFully];

    /// <summary>Short sleeps: time passes, retransmissions fire, but no default conntrack timeout (10 s and up) runs out.</summary>
    private const long ShortSleepMs = 1500;

    private static Command.Sysctl Sysctl(string key, string value) => new Command.Sysctl(key, value);

    /// <summary>The idle ESTABLISHED timeout the expiry configurations use instead of 5 days.</summary>
    public const int ExpiryTimeoutSeconds = 2;

    public static CheckConfig LateStart { get; } = new(
        "late-start",
        "Tracking may begin at any point: a NAT rule or modprobe can come after connections exist.",
        [], false, [.. Sockets, OpKind.RuleAdd, OpKind.Modprobe], Snat, ShortSleepMs, 16, 4);

    public static CheckConfig Boot { get; } = new(
        "boot",
        "Tracking is on from the first step (the first command adds a NAT rule); no conntrack -F, no expiry, rules are only added.",
        [], true, [.. Sockets, OpKind.RuleAdd], BootRules, ShortSleepMs, 16, null);

    public static CheckConfig Flush { get; } = new(
        "flush",
        "Tracking from the first step, and conntrack -F may run at any point.",
        [], true, [.. Sockets, OpKind.RuleAdd, OpKind.ConntrackFlush], Snat, ShortSleepMs, 16, 5);

    public static CheckConfig Expiry { get; } = new(
        "expiry",
        $"Tracking from the first step; the idle ESTABLISHED timeout is {ExpiryTimeoutSeconds} s and sleeps may outlast it.",
        [Sysctl("net.netfilter.nf_conntrack_tcp_timeout_established", $"{ExpiryTimeoutSeconds}")],
        true, [.. Sockets, OpKind.RuleAdd], Snat, 3 * ExpiryTimeoutSeconds * 1000L, 16, 4);

    public static CheckConfig LooseOff { get; } = new(
        "loose-off",
        "As flush, with nf_conntrack_tcp_loose=0: entries are never picked up mid-stream.",
        [Sysctl("net.netfilter.nf_conntrack_tcp_loose", "0")],
        true, [.. Sockets, OpKind.RuleAdd, OpKind.ConntrackFlush], Snat, ShortSleepMs, 16, 5);

    public static CheckConfig Dnat { get; } = new(
        "dnat",
        "DNAT of a service address (127.0.0.2:80) to the server; tracking may begin at any point; clients use ephemeral ports.",
        [], false, [.. Sockets, OpKind.RuleAdd, OpKind.Modprobe], [RuleKind.Dnat], ShortSleepMs, 16, 4);

    public static CheckConfig All { get; } = new(
        "all",
        "Every command and rule kind: late start, rules deleted and flushed (tracking stops), conntrack -F, loose and timeout sysctls, long sleeps.",
        [], false, [.. Enum.GetValues<OpKind>().Where(k => k != OpKind.Ip)], AllRules, 4 * ExpiryTimeoutSeconds * 1000L, 18, 4);

    private static readonly ImmutableArray<OpKind> NodeSockets = [OpKind.Connect, OpKind.Send, OpKind.Close, OpKind.Abort, OpKind.Sleep];

    private static CheckConfig OnNode(string name, string description, NodeTopology node, bool trackingFromStart, ImmutableArray<OpKind> alphabet, int? knownMinimum) =>
        new(name, description, node.Setup(), trackingFromStart, alphabet,
            [node.Service ? RuleKind.Dnat : node.RandomFully ? RuleKind.MasqueradeRandomFully : RuleKind.Masquerade], ShortSleepMs, 12, knownMinimum)
        {
            Node = node,
        };

    private static readonly ImmutableArray<OpKind> UdpSockets = [OpKind.Connect, OpKind.Send, OpKind.Close, OpKind.Sleep];

    /// <summary>The UDP timeouts of udp-expiry: 2 s unreplied, 4 s as a stream.</summary>
    public const int UdpExpirySeconds = 2;

    public static CheckConfig UdpLate { get; } = OnNode(
        "udp-late",
        "A node MASQUERADEs two pods' UDP to a server (192.168.1.20:53); node's own UDP sockets talk to it too; the MASQUERADE rule may come after flows exist.",
        new NodeTopology(2, false) { Udp = true }, false, [.. UdpSockets, OpKind.RuleAdd], 5);

    public static CheckConfig UdpExpiry { get; } = OnNode(
        "udp-expiry",
        "As udp-late with the MASQUERADE rule from the first step and short UDP timeouts (2 s, 4 s as a stream): flows pause longer than that, their entries expire, and the server answers late.",
        new NodeTopology(2, false) { Udp = true }, true, [.. UdpSockets, OpKind.RuleAdd], 6) with
    {
        Setup = [.. new NodeTopology(2, false) { Udp = true }.Setup(),
            ScenarioParser.ParseLine($"sysctl -w net.netfilter.nf_conntrack_udp_timeout={UdpExpirySeconds}"),
            ScenarioParser.ParseLine($"sysctl -w net.netfilter.nf_conntrack_udp_timeout_stream={2 * UdpExpirySeconds}")],
        MaxSleepMs = 3000L * UdpExpirySeconds,
    };

    public static CheckConfig UdpStaleDnat { get; } = OnNode(
        "udp-stale-dnat",
        "Two pods talk UDP to a Service (10.96.0.10:53) DNATed to a backend from the first step; the rule is replaced by one to a second backend or deleted while they send, and conntrack -D may or may not follow; stale-nat-binding is checked.",
        new NodeTopology(2, false) { Service = true }, true, [.. UdpSockets, OpKind.RuleAdd, OpKind.RuleReplace, OpKind.RuleDelete, OpKind.ConntrackDelete], 5) with
    {
        Invariants = [InvariantId.StaleNatBinding],
    };

    public static CheckConfig UdpBoot { get; } = OnNode(
        "udp-boot",
        "Three pods' UDP behind node's MASQUERADE, with node's own UDP sockets, tracked from the first step; no conntrack -F, no expiry.",
        new NodeTopology(3, false) { Udp = true }, true, [.. UdpSockets, OpKind.RuleAdd], null);

    public static CheckConfig NodeLate { get; } = OnNode(
        "node-late",
        "A node MASQUERADEs two pods to a server; host-network processes on node talk to the server too; the MASQUERADE rule may come after connections exist.",
        new NodeTopology(2, false), false, [.. NodeSockets, OpKind.RuleAdd], 3);

    public static CheckConfig NodeFlush { get; } = OnNode(
        "node-flush",
        "As node-late with the MASQUERADE rule from the first step, and conntrack -F on node at any point.",
        new NodeTopology(2, false), true, [.. NodeSockets, OpKind.RuleAdd, OpKind.ConntrackFlush], 4);

    public static CheckConfig NodeMidstream { get; } = OnNode(
        "node-midstream",
        "As node-late, but connections open only before the MASQUERADE rule: the rule comes while they run and their next segments are NATed mid-stream.",
        new NodeTopology(2, false), false, [.. NodeSockets, OpKind.RuleAdd], 4) with { ConnectsBeforeRuleOnly = true };

    public static CheckConfig NodeBoot { get; } = OnNode(
        "node-boot",
        "Three pods behind node's MASQUERADE, tracked from the first step; no conntrack -F, no expiry.",
        new NodeTopology(3, false), true, [.. NodeSockets, OpKind.RuleAdd], null);

    public static CheckConfig NodeRandomFully { get; } = OnNode(
        "node-random-fully",
        "As node-late with MASQUERADE --random-fully: the pods' node port is random, and a collision needs it to land on a live untracked connection's port.",
        new NodeTopology(2, true), false, [.. NodeSockets, OpKind.RuleAdd], 3);

    public static ImmutableArray<CheckConfig> Catalogue { get; } =
        [LateStart, Flush, Expiry, LooseOff, Dnat, Boot, All, NodeLate, NodeFlush, NodeMidstream, NodeBoot, NodeRandomFully, UdpLate, UdpExpiry, UdpStaleDnat, UdpBoot];

    public static CheckConfig? Find(string name) => Catalogue.FirstOrDefault(c => c.Name == name);
}
