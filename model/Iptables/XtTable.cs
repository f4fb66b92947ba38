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
            _jumpsInto = JumpsInto(value);
        }
    }

    /// <summary>
    /// Does adding <paramref name="rule"/> take a conntrack reference (<c>nf_ct_netns_get</c> in a target's or match's
    /// checkentry: the NAT targets, CONNMARK, <c>xt_conntrack</c>, <c>xt_state</c>, <c>xt_connmark</c>)?
    /// </summary>
    public static bool UsesConntrack(IptRule rule)
    {
        ArgumentNullException.ThrowIfNull(rule);
        return rule.Target.UsesConntrack || rule.Match.UsesConntrack;
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
    public ImmutableList<string> UserChains
    {
        get => _userChains;
        init
        {
            _userChains = value;
            _userSet = [.. value];
        }
    }

    private readonly ImmutableList<string> _userChains = [];

    /// <summary>The same names as a set: a restore of thousands of chains asks "does it exist?" for each line.</summary>
    private readonly ImmutableHashSet<string> _userSet = ImmutableHashSet<string>.Empty;

    /// <summary>Is <paramref name="name"/> a user chain of the table?</summary>
    public bool IsUserChain(string name) => _userSet.Contains(name);

    /// <summary>The table with the user chain <paramref name="name"/> made (<c>-N</c>), in constant time but for the list's log.</summary>
    public XtTable WithUserChain(string name) => new(this, _userChains.Add(name), _userSet.Add(name));

    /// <summary>The table without the user chain <paramref name="name"/> (<c>-X NAME</c>).</summary>
    public XtTable WithoutUserChain(string name) => new(this, _userChains.Remove(name), _userSet.Remove(name));

    private XtTable(XtTable original, ImmutableList<string> chains, ImmutableHashSet<string> set)
        : this(original)
    {
        _userChains = chains;
        _userSet = set;
    }

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
    public bool HasChain(string name) => Table.Builtin(name) is not null || _userSet.Contains(name);

    /// <summary>
    /// Is a rule the same as <paramref name="rule"/> (as iptables -D compares: <see cref="IptRule.SameRule"/>) in the
    /// table? Constant time: every packet a DNAT binding translates asks it of a table that may hold thousands of rules.
    /// </summary>
    public bool HasSameRule(IptRule rule)
    {
        ArgumentNullException.ThrowIfNull(rule);
        // Made once per version of the rule list (immutable: a change is a new list), kept while that list lives.
        var keys = Keys.GetValue(_rules, static rules => [.. rules.Select(Key)]);
        return rule.Table == Table && keys.Contains(Key(rule));
    }

    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<ImmutableList<IptRule>, HashSet<(IptChain, string?, RuleMatch, IptTarget)>> Keys = [];

    /// <summary>What <see cref="IptRule.SameRule"/> compares, within one table.</summary>
    private static (IptChain, string?, RuleMatch, IptTarget) Key(IptRule r) => (r.Chain, r.UserChain, r.Match, r.Target);

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
        if (_rules.Any(r => !r.Target.ValidIn(Table) || !ResetForTcp(r) || !MatchValid(r))) return "Invalid argument";
        foreach (var hook in Table.Builtins())
        {
            var path = new List<string>();
            if (Walk(IptRule.BuiltinName(hook), Chain(hook), hook, path) is { } problem) return problem;
        }
        return null;
    }

    /// <summary>
    /// A match's hook check (<see cref="RuleMatch.ValidAt"/>), which only a rule of a built-in chain meets: the kernel
    /// runs the match's checkentry with the hooks known when the rule is added, none for a user chain, and does not run
    /// it again for a jump (measured with iptables-nft: <c>--limit-iface-out</c> in a user chain that PREROUTING jumps to
    /// is accepted; at PREROUTING itself it is EINVAL). Reached from a hook without the device, it asks of any device.
    /// </summary>
    private static bool MatchValid(IptRule r) => r.UserChain is not null || r.Match.ValidAt(r.Chain);

    /// <summary><c>reject_tg_check</c>: REJECT with a TCP reset only in a rule for TCP (<c>-p tcp</c>, not negated).</summary>
    private static bool ResetForTcp(IptRule r) =>
        r.Target is not IptTarget.Reject { With: RejectWith.TcpReset } ||
        (r.Match.Protocol == Addressing.L4Proto.Tcp && !r.Match.Not.HasFlag(Negated.Protocol));

    /// <summary>
    /// <see cref="HookProblem"/> of the table after <c>iptables -A</c> of <paramref name="rule"/>, asked of the table
    /// before it, without walking the whole table: the rule itself (its target's table, a TCP reset's protocol), then
    /// only what the new rule can change: the hooks that reach its chain (each must allow its target, and, for a jump,
    /// every target the jump reaches), and whether the jump closes a loop. The same answer as
    /// <c>Append(rule).HookProblem()</c> (a test compares the two); a restore of thousands of rules checks each in
    /// time proportional to what the rule reaches, not to the table.
    /// </summary>
    public string? AppendProblem(IptRule rule)
    {
        ArgumentNullException.ThrowIfNull(rule);
        if (!rule.Target.ValidIn(Table) || !ResetForTcp(rule) || !MatchValid(rule)) return "Invalid argument";
        // In the order HookProblem walks them, so that where two hooks would give different answers the same comes first.
        var hooks = HooksReaching(rule.ChainName).OrderBy(h => Table.Builtins().ToList().IndexOf(h)).ToList();
        if (hooks.Count == 0) return null;
        foreach (var hook in hooks)
        {
            if (!rule.Target.ValidAt(hook)) return "Invalid argument";
            if (rule.Target is IptTarget.Jump j)
            {
                // The walk HookProblem makes from here: a path back to the rule's own chain is a loop.
                var path = new List<string> { rule.ChainName };
                if (Walk(j.Chain, UserChain(j.Chain), hook, path) is { } problem) return problem;
            }
        }
        return null;
    }

    /// <summary>The built-in chains from which <paramref name="chain"/> is reached (itself, if built-in), following jumps back.</summary>
    private List<IptChain> HooksReaching(string chain)
    {
        var hooks = new List<IptChain>();
        var seen = new HashSet<string>(StringComparer.Ordinal) { chain };
        var todo = new Stack<string>();
        todo.Push(chain);
        while (todo.Count > 0)
        {
            var c = todo.Pop();
            if (Table.Builtin(c) is { } b)
            {
                hooks.Add(b);
                continue;
            }
            foreach (var from in _jumpsInto.GetValueOrDefault(c, []))
            {
                if (seen.Add(from)) todo.Push(from);
            }
        }
        return hooks;
    }

    /// <summary>For each chain, the chains with a rule that jumps to it (kept with the rules).</summary>
    private readonly ImmutableDictionary<string, ImmutableHashSet<string>> _jumpsInto = ImmutableDictionary.Create<string, ImmutableHashSet<string>>(StringComparer.Ordinal);

    private static ImmutableDictionary<string, ImmutableHashSet<string>> JumpsInto(IEnumerable<IptRule> rules) =>
        rules.Where(r => r.Target is IptTarget.Jump).GroupBy(r => ((IptTarget.Jump)r.Target).Chain, StringComparer.Ordinal)
            .ToImmutableDictionary(g => g.Key, g => g.Select(r => r.ChainName).ToImmutableHashSet(StringComparer.Ordinal), StringComparer.Ordinal);

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
        var jumps = rule.Target is IptTarget.Jump j
            ? _jumpsInto.SetItem(j.Chain, _jumpsInto.GetValueOrDefault(j.Chain, ImmutableHashSet.Create<string>(StringComparer.Ordinal)).Add(rule.ChainName))
            : _jumpsInto;
        // A rule of a user chain adds no base chain: only a jump from a built-in chain makes the table's hooks see it.
        if (rule.UserChain is { } user)
            return new XtTable(this, _rules.Add(rule), _chains, _user.SetItem(user, UserChain(user).Add(rule)), users, jumps);
        var chains = _chains.SetItem((int)rule.Chain, _chains[(int)rule.Chain].Add(rule));
        // The record's copy keeps the counts and chains; only the ones this rule changes are set after it.
        return new XtTable(this, _rules.Add(rule), chains, _user, users, jumps) { Exists = true };
    }

    private XtTable(XtTable original, ImmutableList<IptRule> rules, ImmutableArray<ImmutableList<IptRule>> chains,
        ImmutableDictionary<string, ImmutableList<IptRule>> user, int ruleUsers, ImmutableDictionary<string, ImmutableHashSet<string>> jumps)
        : this(original)
    {
        _rules = rules;
        _chains = chains;
        _user = user;
        RuleUsers = ruleUsers;
        _jumpsInto = jumps;
    }

    public bool Equals(XtTable? other) =>
        other is not null && Table == other.Table && Exists == other.Exists && DropPolicies == other.DropPolicies && Rules.SequenceEqual(other.Rules) &&
        UserChains.SequenceEqual(other.UserChains) && Rules.Zip(other.Rules).All(p => p.First.Match.Nth is null || NthCount(p.First) == other.NthCount(p.Second));

    /// <summary>
    /// The nth counters of the table's <c>--mode nth</c> rules, by rule object: a rule added is a new object, so it starts
    /// its own counter, as <c>statistic_mt_check</c> allocates one per rule; iptables-nft adds, deletes and replaces rules
    /// one by one (measured: a rule's count went on across an <c>-A</c> and an <c>-I</c> of other rules). Legacy iptables,
    /// which replaces the whole table at each change, is not modelled.
    /// </summary>
    private ImmutableDictionary<IptRule, uint> _nth = ImmutableDictionary.Create<IptRule, uint>(ReferenceEqualityComparer.Instance);

    /// <summary>The counter of <paramref name="rule"/> (its start, N-1-P, until a packet reached it).</summary>
    public uint NthCount(IptRule rule)
    {
        ArgumentNullException.ThrowIfNull(rule);
        return _nth.TryGetValue(rule, out var c) ? c : rule.Match.Nth is { } nth ? nth.Every - 1 - nth.Packet : 0;
    }

    /// <summary>
    /// A packet reaches <paramref name="rule"/>'s nth match (<c>statistic_mt</c>, XT_STATISTIC_MODE_NTH): whether it matches
    /// (the counter wrapped to 0), and the table with the counter moved on.
    /// </summary>
    public (bool Match, XtTable Table) NthStep(IptRule rule)
    {
        ArgumentNullException.ThrowIfNull(rule);
        var (every, _) = rule.Match.Nth ?? throw new ArgumentException("not an nth rule", nameof(rule));
        var old = NthCount(rule);
        var next = old == every - 1 ? 0u : old + 1;
        return (next == 0, this with { _nth = _nth.SetItem(rule, next) });
    }

    public override int GetHashCode() => HashCode.Combine(Table, Exists, DropPolicies, Rules.Count);
}
