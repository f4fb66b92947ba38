namespace ConntrackModel.Model.Nat;

/// <summary>A rule of the nat table: the chain it is in, its matches, its target and the text it was given as.</summary>
public sealed record NatRule(NatChain Chain, RuleMatch Match, NatTarget Target, string Spec)
{
    /// <summary>Rules compare as iptables -D compares them: by chain, matches and target, not by spelling.</summary>
    public bool SameRule(NatRule other) => other is not null && Chain == other.Chain && Match == other.Match && Target == other.Target;
}
