namespace ConntrackModel.Model.Iptables;

/// <summary>
/// A rule of an iptables table: the table and chain it is in, its matches, its target and the text it was given as. A rule of a user
/// chain (<c>iptables -t nat -N NAME</c>) names it in <see cref="UserChain"/>; <paramref name="Chain"/> is then unused.
/// </summary>
public sealed record IptRule(IptChain Chain, RuleMatch Match, IptTarget Target, string Spec)
{
    /// <summary>The table the rule is in (<c>-t</c>; iptables' default is filter, the model's rules were nat's first).</summary>
    public IptTable Table { get; init; }

    /// <summary>The user chain the rule is in, or null for the built-in chain <see cref="Chain"/>.</summary>
    public string? UserChain { get; init; }

    /// <summary>The chain's name as iptables writes it.</summary>
    public string ChainName => UserChain ?? BuiltinName(Chain);

    /// <summary>Rules compare as iptables -D compares them: by chain, matches and target, not by spelling.</summary>
    public bool SameRule(IptRule other) =>
        other is not null && Table == other.Table && Chain == other.Chain && UserChain == other.UserChain && Match == other.Match && Target == other.Target;

    /// <summary>A built-in chain's name.</summary>
    public static string BuiltinName(IptChain chain) => chain switch
    {
        IptChain.PreRouting => "PREROUTING",
        IptChain.Input => "INPUT",
        IptChain.Output => "OUTPUT",
        IptChain.PostRouting => "POSTROUTING",
        IptChain.Forward => "FORWARD",
        _ => throw new ArgumentOutOfRangeException(nameof(chain)),
    };
}
