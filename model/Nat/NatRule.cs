namespace ConntrackModel.Model.Nat;

/// <summary>
/// A rule of the nat table: the chain it is in, its matches, its target and the text it was given as. A rule of a user
/// chain (<c>iptables -t nat -N NAME</c>) names it in <see cref="UserChain"/>; <paramref name="Chain"/> is then unused.
/// </summary>
public sealed record NatRule(NatChain Chain, RuleMatch Match, NatTarget Target, string Spec)
{
    /// <summary>The user chain the rule is in, or null for the built-in chain <see cref="Chain"/>.</summary>
    public string? UserChain { get; init; }

    /// <summary>The chain's name as iptables writes it.</summary>
    public string ChainName => UserChain ?? BuiltinName(Chain);

    /// <summary>Rules compare as iptables -D compares them: by chain, matches and target, not by spelling.</summary>
    public bool SameRule(NatRule other) =>
        other is not null && Chain == other.Chain && UserChain == other.UserChain && Match == other.Match && Target == other.Target;

    /// <summary>A built-in chain's name.</summary>
    public static string BuiltinName(NatChain chain) => chain switch
    {
        NatChain.PreRouting => "PREROUTING",
        NatChain.Input => "INPUT",
        NatChain.Output => "OUTPUT",
        NatChain.PostRouting => "POSTROUTING",
        _ => throw new ArgumentOutOfRangeException(nameof(chain)),
    };
}
