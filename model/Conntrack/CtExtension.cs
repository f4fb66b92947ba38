namespace ConntrackModel.Model.Conntrack;

/// <summary>The rarely present parts of a conntrack entry (<see cref="CtEntry"/>): one shared empty value for none.</summary>
internal sealed record CtExtension(string? MasqDevice, Nat.NatRule? DnatRule, long UdpStreamTs)
{
    public static CtExtension None { get; } = new(null, null, 0);
}
