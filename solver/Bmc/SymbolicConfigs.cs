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
    ];

    public static SymbolicConfig? Find(string name) => Catalogue.FirstOrDefault(c => c.Name == name);
}
