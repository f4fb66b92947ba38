using System.Collections.Immutable;
using ConntrackModel.Model.Scenarios;

namespace ConntrackModel.Solver.Bmc;

/// <summary>
/// What the symbolic engine may do in a configuration: the connection-level fragment of its alphabet. Every run
/// starts with <c>listen 127.0.0.1:8080</c> and the configuration's settings; then each step is a connect (bound
/// or from an ephemeral port, to the server or to the DNAT service address), adding the SNAT or DNAT rule,
/// <c>modprobe nf_conntrack</c>, <c>conntrack -F</c>, or (where the idle timeout is short) a sleep past it.
/// <paramref name="PortSpan"/>, when set, confines bound ports and the SNAT range to that many ports from 40000
/// (for measuring how the search scales with the range; by default ports range over everything).
/// </summary>
public sealed record SymbolicConfig(
    string Name,
    ImmutableArray<Command> Setup,
    bool TrackingFromStart,
    bool Snat,
    bool Dnat,
    bool Modprobe,
    bool Flush,
    bool Expiry,
    int? PortSpan = null)
{
    public bool Equals(SymbolicConfig? other) => other is not null && Name == other.Name;

    public override int GetHashCode() => StringComparer.Ordinal.GetHashCode(Name);
}
