using ConntrackModel.Model.Addressing;

namespace ConntrackModel.Model.Nat;

/// <summary>
/// The matches a nat rule may carry: <c>-p tcp</c>, <c>-s</c>, <c>-d</c>, <c>--sport</c>, <c>--dport</c>, <c>-o</c>,
/// <c>-i</c>. Null means "any". Only TCP traffic exists in the model, so <c>-p tcp</c> and no <c>-p</c> match alike.
/// </summary>
public sealed record RuleMatch(Cidr? Source, Cidr? Destination, PortRange? SourcePort, PortRange? DestinationPort, string? OutInterface, string? InInterface)
{
    public static RuleMatch Any { get; } = new(null, null, null, null, null, null);

    /// <summary>Does a packet with <paramref name="tuple"/> travelling out of / into <paramref name="device"/> match?</summary>
    public bool Matches(ConnTuple tuple, string device) =>
        (Source is null || Source.Value.Contains(tuple.Src.Ip)) &&
        (Destination is null || Destination.Value.Contains(tuple.Dst.Ip)) &&
        (SourcePort is null || SourcePort.Value.Contains(tuple.Src.Port)) &&
        (DestinationPort is null || DestinationPort.Value.Contains(tuple.Dst.Port)) &&
        (OutInterface is null || OutInterface == device) &&
        (InInterface is null || InInterface == device);
}
