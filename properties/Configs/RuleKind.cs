using ConntrackModel.Model.Iptables;
using ConntrackModel.Model.Nat;

namespace ConntrackModel.Properties.Configs;

/// <summary>The shapes of nat rule the generator writes; also the coverage category of a rule.</summary>
public enum RuleKind
{
    /// <summary><c>-j SNAT --to-source IP:PORT</c>: one port, the reference's rule.</summary>
    SnatPort,

    /// <summary><c>-j SNAT --to-source IP:LOW-HIGH</c>.</summary>
    SnatRange,

    /// <summary>SNAT with <c>--random</c>.</summary>
    SnatRandom,

    /// <summary>SNAT with <c>--random-fully</c>.</summary>
    SnatRandomFully,

    /// <summary><c>-j MASQUERADE</c>: on lo with <c>--to-ports</c> (it drops its packet there); on a node the pods' egress rule.</summary>
    Masquerade,

    /// <summary><c>-j MASQUERADE --random-fully</c>: the pods' egress rule with a random port.</summary>
    MasqueradeRandomFully,

    /// <summary><c>-j DNAT --to-destination IP:PORT</c> in OUTPUT, for a service address.</summary>
    Dnat,

    /// <summary><c>-j ACCEPT</c> in the nat table: tracking, no translation.</summary>
    Accept,
}

/// <summary>Names and classification of <see cref="RuleKind"/>.</summary>
public static class RuleKinds
{
    public static string Name(RuleKind k) => k switch
    {
        RuleKind.SnatPort => "snat-port",
        RuleKind.SnatRange => "snat-range",
        RuleKind.SnatRandom => "snat-random",
        RuleKind.SnatRandomFully => "snat-random-fully",
        RuleKind.Masquerade => "masquerade",
        RuleKind.MasqueradeRandomFully => "masquerade-random-fully",
        RuleKind.Dnat => "dnat",
        RuleKind.Accept => "accept",
        _ => throw new ArgumentOutOfRangeException(nameof(k)),
    };

    /// <summary>The kind a parsed rule falls under, for coverage.</summary>
    public static RuleKind Of(IptRule rule) => TryOf(rule) ?? throw new ArgumentOutOfRangeException(nameof(rule), $"no rule kind for '{rule.Spec}'");

    /// <summary>The rule's kind, or null for a rule no configuration generates (a jump, a RETURN, a rule of a user chain).</summary>
    public static RuleKind? TryOf(IptRule rule)
    {
        ArgumentNullException.ThrowIfNull(rule);
        if (rule.UserChain is not null) return null;
        return rule.Target switch
        {
            IptTarget.Snat { Range.RandomFully: true } => RuleKind.SnatRandomFully,
            IptTarget.Snat { Range.Random: true } => RuleKind.SnatRandom,
            IptTarget.Snat s when s.Range.ProtoSpecified && s.Range.MinPort != s.Range.MaxPort => RuleKind.SnatRange,
            IptTarget.Snat => RuleKind.SnatPort,
            IptTarget.Masquerade { Range.RandomFully: true } => RuleKind.MasqueradeRandomFully,
            IptTarget.Masquerade => RuleKind.Masquerade,
            IptTarget.Dnat => RuleKind.Dnat,
            IptTarget.Accept => RuleKind.Accept,
            _ => null,
        };
    }
}
