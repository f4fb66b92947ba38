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
/// <paramref name="Pods"/> &gt; 0 makes it a node configuration (<see cref="NodeTopology"/>): the setup is the node's
/// topology and listener, each connect comes from node or one of the pods to the server, and the rule step adds the
/// pods' MASQUERADE rule (with <c>--random-fully</c> when <paramref name="RandomFully"/>). <paramref name="OutsideFragment"/>
/// names why a configuration of the catalogue has no symbolic fragment (the Z3 engine refuses it with that reason).
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
    int? PortSpan = null,
    int Pods = 0,
    bool RandomFully = false,
    string? OutsideFragment = null)
{
    /// <summary>
    /// A UDP node configuration (<see cref="NodeTopology.Udp"/>): its steps are UDP flows (connect -u, a datagram, the
    /// server's answer) rather than TCP connects (<see cref="Encoding"/>'s UDP remarks).
    /// </summary>
    public bool Udp { get; init; }

    /// <summary>A node configuration (pods behind node's MASQUERADE) rather than one namespace on loopback?</summary>
    public bool IsNode => Pods > 0;

    /// <summary>The lines every decoded scenario starts with: the listener on loopback, or the node's setup (which has its own).</summary>
    public int FixedLines => (IsNode ? 0 : 1) + Setup.Length;

    public bool Equals(SymbolicConfig? other) => other is not null && Name == other.Name;

    public override int GetHashCode() => StringComparer.Ordinal.GetHashCode(Name);
}
