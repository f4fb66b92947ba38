using System.Collections.Immutable;

namespace ConntrackModel.Model.Iptables;

/// <summary>
/// One iptables table of a namespace (<c>struct xt_table</c>; with iptables-nft an nf_tables table): its rules, its user
/// chains, its built-in chains' policies, and whether its base chains exist (a table's hooks are registered once a
/// change names a built-in chain: for the nat table that is what gives every new tracked connection a NAT decision).
/// </summary>
public sealed record XtTable
{
    private readonly ImmutableList<IptRule> _rules = [];

    public XtTable(IptTable table) => Table = table;

    public IptTable Table { get; }

    /// <summary>The table's rules in chain order (every chain in one list, as iptables -S prints them).</summary>
    public ImmutableList<IptRule> Rules
    {
        get => _rules;
        init
        {
            _rules = value;
            // Counted and split once per rule change, not per packet: every packet walks the chain of each hook it passes.
            RuleUsers = value.Count(UsesConntrack);
            _chains = [.. Enum.GetValues<IptChain>().Select(c => value.Where(r => r.UserChain is null && r.Chain == c).ToImmutableList())];
            _user = value.Where(r => r.UserChain is not null).GroupBy(r => r.UserChain!, StringComparer.Ordinal)
                .ToImmutableDictionary(g => g.Key, g => g.ToImmutableList(), StringComparer.Ordinal);
        }
    }

    /// <summary>
    /// Does adding <paramref name="rule"/> take a conntrack reference (<c>nf_ct_netns_get</c> in a target's or match's
    /// checkentry: the NAT targets, <c>xt_conntrack</c>, <c>xt_state</c>)?
    /// </summary>
    public static bool UsesConntrack(IptRule rule)
    {
        ArgumentNullException.ThrowIfNull(rule);
        return rule.Target.UsesConntrack || rule.Match.States is not null;
    }

    /// <summary>Each user chain's rules in order (a chain without rules has no key).</summary>
    private readonly ImmutableDictionary<string, ImmutableList<IptRule>> _user = ImmutableDictionary.Create<string, ImmutableList<IptRule>>(StringComparer.Ordinal);

    /// <summary>
    /// Each chain's rules in order, indexed by <see cref="IptChain"/>. Lists, not arrays: appending to an array copies
    /// it, and a script that adds rules one by one was quadratic again (32,000 rules: 2.1 s, against 0.6 s for 16,000).
    /// </summary>
    private readonly ImmutableArray<ImmutableList<IptRule>> _chains = [.. Enum.GetValues<IptChain>().Select(_ => ImmutableList<IptRule>.Empty)];

    /// <summary>
    /// The user chains (<c>iptables -N</c>) in the order they were made: the order nf_tables keeps them in, and the
    /// one <c>iptables -X</c> meets them in (measured: of two busy chains it names the older, whatever their names).
    /// </summary>
    public ImmutableList<string> UserChains { get; init; } = [];

    /// <summary>Do the table's base chains exist (its hooks registered)?</summary>
    public bool Exists { get; init; }

    /// <summary>The built-in chains whose policy is DROP, one bit per <see cref="IptChain"/> (<c>-P CHAIN DROP</c>).</summary>
    public int DropPolicies { get; init; }

    /// <summary>Does the built-in chain <paramref name="chain"/> drop what no rule decides?</summary>
    public bool Drops(IptChain chain) => (DropPolicies & (1 << (int)chain)) != 0;

    /// <summary>The table with <paramref name="chain"/>'s policy set (<c>-P</c>); the base chains then exist.</summary>
    public XtTable WithPolicy(IptChain chain, bool drop) =>
        this with { DropPolicies = drop ? DropPolicies | (1 << (int)chain) : DropPolicies & ~(1 << (int)chain), Exists = true };

    public int RuleUsers { get; private init; }

    /// <summary>A user chain's rules in order (empty for one without rules, or none of that name).</summary>
    public ImmutableList<IptRule> UserChain(string name) => _user.TryGetValue(name, out var rules) ? rules : [];

    /// <summary>The rules of the chain called <paramref name="name"/>, built-in or user.</summary>
    public ImmutableList<IptRule> ChainNamed(string name) => Table.Builtin(name) is { } c ? Chain(c) : UserChain(name);

    /// <summary>Is <paramref name="name"/> a chain of the table (built-in, or a user chain that exists)?</summary>
    public bool HasChain(string name) => Table.Builtin(name) is not null || UserChains.Contains(name);

    /// <summary>Does any rule jump to the user chain <paramref name="name"/>?</summary>
    public bool IsReferenced(string name) => _rules.Any(r => r.Target is IptTarget.Jump j && j.Chain == name);

    /// <summary>A built-in chain's rules in order.</summary>
    public ImmutableList<IptRule> Chain(IptChain chain) => _chains[(int)chain];

    /// <summary>
    /// The rule list after <c>-I CHAIN POSITION RULE</c> (the rule goes before the chain's rule at that position, or
    /// after the chain's last rule), <c>-R CHAIN INDEX RULE</c> (index given) or <c>-D CHAIN N</c> / <c>-D CHAIN RULE</c>
    /// (the victim, a rule of this table): one definition for the kernel's check and its change.
    /// </summary>
    public ImmutableList<IptRule> Inserted(IptRule rule, int position)
    {
        ArgumentNullException.ThrowIfNull(rule);
        var chain = ChainNamed(rule.ChainName);
        return _rules.Insert(position - 1 < chain.Count ? IndexOf(chain[position - 1]) : _rules.Count, rule);
    }

    /// <inheritdoc cref="Inserted"/>
    public ImmutableList<IptRule> Replaced(IptRule rule, int index)
    {
        ArgumentNullException.ThrowIfNull(rule);
        return _rules.SetItem(IndexOf(ChainNamed(rule.ChainName)[index - 1]), rule);
    }

    /// <inheritdoc cref="Inserted"/>
    public ImmutableList<IptRule> Deleted(IptRule victim) => _rules.RemoveAt(IndexOf(victim));

    private int IndexOf(IptRule rule)
    {
        for (var i = 0; i < _rules.Count; i++)
        {
            if (ReferenceEquals(_rules[i], rule)) return i;
        }
        throw new InvalidOperationException("the rule is not in the table");
    }

    /// <summary>
    /// What the kernel says of this table when a change made it (nf_tables, measured with iptables 1.8.9): a target of
    /// another table anywhere in it (the <c>table</c> of its <c>xt_target</c>: SNAT in filter, REJECT in nat, even in a
    /// chain nothing reaches: EINVAL) or a TCP reset in a rule not for TCP (EINVAL), a jump loop that a built-in chain reaches (<c>nf_tables_check_loops</c>: ELOOP,
    /// "Too many links"), or a target in a chain a hook reaches where that target may not run (the target's hook mask:
    /// EINVAL, "Invalid argument"); null when none. Loops among chains no built-in chain reaches are allowed, as the
    /// kernel allows them.
    /// </summary>
    public string? HookProblem()
    {
        if (_rules.Any(r => !r.Target.ValidIn(Table) || !ResetForTcp(r))) return "Invalid argument";
        foreach (var hook in Table.Builtins())
        {
            var path = new List<string>();
            if (Walk(IptRule.BuiltinName(hook), Chain(hook), hook, path) is { } problem) return problem;
        }
        return null;
    }

    /// <summary><c>reject_tg_check</c>: REJECT with a TCP reset only in a rule for TCP (<c>-p tcp</c>, not negated).</summary>
    private static bool ResetForTcp(IptRule r) =>
        r.Target is not IptTarget.Reject { With: RejectWith.TcpReset } ||
        (r.Match.Protocol == Addressing.L4Proto.Tcp && !r.Match.Not.HasFlag(Negated.Protocol));

    private string? Walk(string name, ImmutableList<IptRule> rules, IptChain hook, List<string> path)
    {
        if (path.Contains(name)) return "Too many links";
        path.Add(name);
        foreach (var r in rules)
        {
            if (!r.Target.ValidAt(hook)) return "Invalid argument";
            if (r.Target is IptTarget.Jump j && Walk(j.Chain, UserChain(j.Chain), hook, path) is { } problem) return problem;
        }
        path.RemoveAt(path.Count - 1);
        return null;
    }

    /// <summary>
    /// <c>iptables -A</c>: the rule appended to its chain. Incremental (the chain's copy, not every rule again), so a
    /// script that adds thousands of rules stays linear in what it adds.
    /// </summary>
    public XtTable Append(IptRule rule)
    {
        ArgumentNullException.ThrowIfNull(rule);
        var users = RuleUsers + (UsesConntrack(rule) ? 1 : 0);
        // A rule of a user chain adds no base chain: only a jump from a built-in chain makes the table's hooks see it.
        if (rule.UserChain is { } user)
            return new XtTable(this, _rules.Add(rule), _chains, _user.SetItem(user, UserChain(user).Add(rule)), users);
        var chains = _chains.SetItem((int)rule.Chain, _chains[(int)rule.Chain].Add(rule));
        // The record's copy keeps the counts and chains; only the ones this rule changes are set after it.
        return new XtTable(this, _rules.Add(rule), chains, _user, users) { Exists = true };
    }

    private XtTable(XtTable original, ImmutableList<IptRule> rules, ImmutableArray<ImmutableList<IptRule>> chains,
        ImmutableDictionary<string, ImmutableList<IptRule>> user, int ruleUsers)
        : this(original)
    {
        _rules = rules;
        _chains = chains;
        _user = user;
        RuleUsers = ruleUsers;
    }

    public bool Equals(XtTable? other) =>
        other is not null && Table == other.Table && Exists == other.Exists && DropPolicies == other.DropPolicies && Rules.SequenceEqual(other.Rules) &&
        UserChains.SequenceEqual(other.UserChains);

    public override int GetHashCode() => HashCode.Combine(Table, Exists, DropPolicies, Rules.Count);
}
