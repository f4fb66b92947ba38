using System.Collections.Immutable;
using ConntrackModel.Model.Nat;

namespace ConntrackModel.Model.Kernel;

/// <summary>
/// The namespace's netfilter configuration: the nat table's rules, whether the nat table exists (its hooks then
/// give every new tracked connection a NAT decision, a null binding if no rule matched), and the conntrack users
/// (<c>nf_ct_netns_get</c> / <c>nf_ct_netns_put</c>): each NAT rule is one, <c>modprobe nf_conntrack</c> one more.
/// Conntrack hooks are registered while there is at least one user.
/// </summary>
public sealed record NetfilterConfig
{
    private readonly ImmutableList<NatRule> _rules = [];

    public NetfilterConfig(ImmutableList<NatRule> rules, bool natTableExists, bool modprobed)
    {
        Rules = rules;
        NatTableExists = natTableExists;
        Modprobed = modprobed;
    }

    public static NetfilterConfig Empty { get; } = new([], false, false);

    /// <summary>The nat table's rules in chain order (every chain in one list, as iptables -S prints them).</summary>
    public ImmutableList<NatRule> Rules
    {
        get => _rules;
        init
        {
            _rules = value;
            // Counted and split once per rule change, not per packet: every packet asks whether the hooks are
            // registered and walks the chain of each nat hook it passes.
            RuleUsers = value.Count(r => r.Target.UsesConntrack);
            _chains = [.. Enum.GetValues<NatChain>().Select(c => value.Where(r => r.UserChain is null && r.Chain == c).ToImmutableList())];
            _user = value.Where(r => r.UserChain is not null).GroupBy(r => r.UserChain!, StringComparer.Ordinal)
                .ToImmutableDictionary(g => g.Key, g => g.ToImmutableList(), StringComparer.Ordinal);
        }
    }

    /// <summary>Each user chain's rules in order (a chain without rules has no key).</summary>
    private readonly ImmutableDictionary<string, ImmutableList<NatRule>> _user = ImmutableDictionary.Create<string, ImmutableList<NatRule>>(StringComparer.Ordinal);

    /// <summary>
    /// The user chains (<c>iptables -t nat -N</c>) in the order they were made: the order nf_tables keeps them in, and the
    /// one <c>iptables -X</c> meets them in (measured: of two busy chains it names the older, whatever their names).
    /// </summary>
    public ImmutableList<string> UserChains { get; init; } = [];

    /// <summary>A user chain's rules in order (empty for one without rules, or none of that name).</summary>
    public ImmutableList<NatRule> UserChain(string name) => _user.TryGetValue(name, out var rules) ? rules : [];

    /// <summary>The rules of the chain called <paramref name="name"/>, built-in or user.</summary>
    public ImmutableList<NatRule> ChainNamed(string name) => BuiltinChain(name) is { } c ? Chain(c) : UserChain(name);

    /// <summary>The built-in chain called <paramref name="name"/>, if it is one.</summary>
    public static NatChain? BuiltinChain(string name) => name switch
    {
        "PREROUTING" => NatChain.PreRouting,
        "INPUT" => NatChain.Input,
        "OUTPUT" => NatChain.Output,
        "POSTROUTING" => NatChain.PostRouting,
        _ => null,
    };

    /// <summary>Is <paramref name="name"/> a chain of the table (built-in, or a user chain that exists)?</summary>
    public bool HasChain(string name) => BuiltinChain(name) is not null || UserChains.Contains(name);

    /// <summary>Does any rule jump to the user chain <paramref name="name"/>?</summary>
    public bool IsReferenced(string name) => _rules.Any(r => r.Target is NatTarget.Jump j && j.Chain == name);

    /// <summary>
    /// The rule list after <c>-I CHAIN POSITION RULE</c> (the rule goes before the chain's rule at that position, or
    /// after the chain's last rule), <c>-R CHAIN INDEX RULE</c> (index given) or <c>-D CHAIN N</c> / <c>-D CHAIN RULE</c>
    /// (the victim, a rule of this table): one definition for the kernel's check and its change.
    /// </summary>
    public ImmutableList<NatRule> Inserted(NatRule rule, int position)
    {
        ArgumentNullException.ThrowIfNull(rule);
        var chain = ChainNamed(rule.ChainName);
        return _rules.Insert(position - 1 < chain.Count ? IndexOf(chain[position - 1]) : _rules.Count, rule);
    }

    /// <inheritdoc cref="Inserted"/>
    public ImmutableList<NatRule> Replaced(NatRule rule, int index)
    {
        ArgumentNullException.ThrowIfNull(rule);
        return _rules.SetItem(IndexOf(ChainNamed(rule.ChainName)[index - 1]), rule);
    }

    /// <inheritdoc cref="Inserted"/>
    public ImmutableList<NatRule> Deleted(NatRule victim) => _rules.RemoveAt(IndexOf(victim));

    private int IndexOf(NatRule rule)
    {
        for (var i = 0; i < _rules.Count; i++)
        {
            if (ReferenceEquals(_rules[i], rule)) return i;
        }
        throw new InvalidOperationException("the rule is not in the table");
    }

    /// <summary>
    /// What the kernel says of this table when a change made it (nf_tables, measured with iptables 1.8.9): a jump loop
    /// that a built-in chain reaches (<c>nf_tables_check_loops</c>: ELOOP, "Too many links"), or a NAT target in a
    /// chain a hook reaches where that target may not run (the target's hook mask: EINVAL, "Invalid argument");
    /// null when neither. Loops among chains no built-in chain reaches are allowed, as the kernel allows them.
    /// </summary>
    public string? HookProblem()
    {
        foreach (var hook in Enum.GetValues<NatChain>())
        {
            var path = new List<string>();
            if (Walk(NatRule.BuiltinName(hook), Chain(hook), hook, path) is { } problem) return problem;
        }
        return null;
    }

    private string? Walk(string name, ImmutableList<NatRule> rules, NatChain hook, List<string> path)
    {
        if (path.Contains(name)) return "Too many links";
        path.Add(name);
        foreach (var r in rules)
        {
            if (!r.Target.ValidAt(hook)) return "Invalid argument";
            if (r.Target is NatTarget.Jump j && Walk(j.Chain, UserChain(j.Chain), hook, path) is { } problem) return problem;
        }
        path.RemoveAt(path.Count - 1);
        return null;
    }

    /// <summary>
    /// Each chain's rules in order, indexed by <see cref="NatChain"/>. Lists, not arrays: appending to an array copies
    /// it, and a script that adds rules one by one was quadratic again (32,000 rules: 2.1 s, against 0.6 s for 16,000).
    /// </summary>
    private readonly ImmutableArray<ImmutableList<NatRule>> _chains = [.. Enum.GetValues<NatChain>().Select(_ => ImmutableList<NatRule>.Empty)];

    public bool NatTableExists { get; init; }

    public bool Modprobed { get; init; }

    private int RuleUsers { get; init; }

    public int ConntrackUsers => (Modprobed ? 1 : 0) + RuleUsers;

    /// <summary>Are the conntrack hooks (<c>ipv4_conntrack_ops</c>) registered in the namespace?</summary>
    public bool Tracking => ConntrackUsers > 0;

    public ImmutableList<NatRule> Chain(NatChain chain) => _chains[(int)chain];

    /// <summary>
    /// <c>iptables -A</c>: the rule appended to its chain. Incremental (the chain's copy, not every rule again), so a
    /// script that adds thousands of rules stays linear in what it adds.
    /// </summary>
    public NetfilterConfig Append(NatRule rule)
    {
        ArgumentNullException.ThrowIfNull(rule);
        // A rule of a user chain adds no base chain: only a jump from a built-in chain makes the table's hooks see it.
        if (rule.UserChain is { } user)
            return new NetfilterConfig(this, _rules.Add(rule), _chains, _user.SetItem(user, UserChain(user).Add(rule)), RuleUsers + (rule.Target.UsesConntrack ? 1 : 0));
        var chains = _chains.SetItem((int)rule.Chain, _chains[(int)rule.Chain].Add(rule));
        // The record's copy keeps the counts and chains; only the ones this rule changes are set after it.
        return new NetfilterConfig(this, _rules.Add(rule), chains, _user, RuleUsers + (rule.Target.UsesConntrack ? 1 : 0)) { NatTableExists = true };
    }

    private NetfilterConfig(NetfilterConfig original, ImmutableList<NatRule> rules, ImmutableArray<ImmutableList<NatRule>> chains,
        ImmutableDictionary<string, ImmutableList<NatRule>> user, int ruleUsers)
        : this(original)
    {
        _rules = rules;
        _chains = chains;
        _user = user;
        RuleUsers = ruleUsers;
    }

    public bool Equals(NetfilterConfig? other) =>
        other is not null && NatTableExists == other.NatTableExists && Modprobed == other.Modprobed && Rules.SequenceEqual(other.Rules) &&
        UserChains.SequenceEqual(other.UserChains);

    public override int GetHashCode() => HashCode.Combine(NatTableExists, Modprobed, Rules.Count);
}
