namespace ConntrackModel.Model.Nat;

/// <summary>The chains of the iptables nat table, each attached to the netfilter hook of the same name.</summary>
public enum NatChain
{
    PreRouting,
    Input,
    Output,
    PostRouting,
}
