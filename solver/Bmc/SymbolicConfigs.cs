using System.Collections.Immutable;
using ConntrackModel.Model.Scenarios;

namespace ConntrackModel.Solver.Bmc;

/// <summary>
/// The symbolic fragment of each named configuration of <c>ctmodel check --list</c> (same names; a test keeps
/// the two catalogues aligned). Sends, closes, rule deletion and ACCEPT rules are outside the fragment.
/// </summary>
public static class SymbolicConfigs
{
    private static ImmutableArray<Command> Setup(params string[] lines) => [.. lines.Select(ScenarioParser.ParseLine)];

    public static ImmutableArray<SymbolicConfig> Catalogue { get; } =
    [
        new("late-start", [], false, Snat: true, Dnat: false, Modprobe: true, Flush: false, Expiry: false),
        new("flush", [], true, Snat: true, Dnat: false, Modprobe: false, Flush: true, Expiry: false),
        new("expiry", Setup("sysctl -w net.netfilter.nf_conntrack_tcp_timeout_established=2"), true, Snat: true, Dnat: false, Modprobe: false, Flush: false, Expiry: true),
        new("loose-off", Setup("sysctl -w net.netfilter.nf_conntrack_tcp_loose=0"), true, Snat: true, Dnat: false, Modprobe: false, Flush: true, Expiry: false),
        new("dnat", [], false, Snat: false, Dnat: true, Modprobe: true, Flush: false, Expiry: false),
        new("boot", [], true, Snat: true, Dnat: true, Modprobe: false, Flush: false, Expiry: false),
        new("all", [], false, Snat: true, Dnat: true, Modprobe: true, Flush: true, Expiry: false),
        Node("node-late", new NodeTopology(2, false), false, flush: false),
        Node("node-flush", new NodeTopology(2, false), true, flush: true),
        Node("node-midstream", new NodeTopology(2, false), false, flush: false) with
        {
            OutsideFragment = "its collisions need a segment sent after the rule (a connection picked up mid-stream); the symbolic fragment has connects only",
        },
        Node("node-boot", new NodeTopology(3, false), true, flush: false),
        Node("node-random-fully", new NodeTopology(2, true), false, flush: false),
        Udp("udp-late", new NodeTopology(2, false) { Udp = true }, [], trackingFromStart: false, expiry: false),
        Udp("udp-expiry", new NodeTopology(2, false) { Udp = true },
            Setup("sysctl -w net.netfilter.nf_conntrack_udp_timeout=2", "sysctl -w net.netfilter.nf_conntrack_udp_timeout_stream=4"), trackingFromStart: true, expiry: true),
        Udp("udp-stale-dnat", new NodeTopology(2, false) { Service = true }, [], trackingFromStart: true, expiry: false) with
        {
            OutsideFragment = "its violations need a rule replaced or deleted under a live flow, and the UDP fragment has one rule, added once",
        },
        Udp("udp-boot", new NodeTopology(3, false) { Udp = true }, [], trackingFromStart: true, expiry: false),
    ];

    private static SymbolicConfig Node(string name, NodeTopology node, bool trackingFromStart, bool flush) =>
        new(name, node.Setup(), trackingFromStart, Snat: false, Dnat: false, Modprobe: false, Flush: flush, Expiry: false, Pods: node.Pods, RandomFully: node.RandomFully);

    /// <summary>A UDP node configuration: flows, datagrams and answers (<see cref="SymbolicConfig.Udp"/>).</summary>
    private static SymbolicConfig Udp(string name, NodeTopology node, ImmutableArray<Command> settings, bool trackingFromStart, bool expiry) =>
        new(name, [.. node.Setup(), .. settings], trackingFromStart, Snat: false, Dnat: node.Service, Modprobe: false, Flush: false, Expiry: expiry, Pods: node.Pods)
        {
            Udp = true,
        };

    public static SymbolicConfig? Find(string name) => Catalogue.FirstOrDefault(c => c.Name == name);
}
