using System.Collections.Immutable;
using ConntrackModel.Model.Conntrack;
using ConntrackModel.Model.Iptables;
using ConntrackModel.Model.Net;
using Microsoft.Z3;

namespace ConntrackModel.Solver.Setups;

/// <summary>
/// A namespace's iptables rules as Z3 terms over a <see cref="SymbolicPacket"/>: each match a predicate
/// (<see cref="Match"/>, <c>ip_packet_match</c> and the match modules as <see cref="RuleMatch.Matches(Model.Addressing.ConnTuple, string?, string?, Func{Model.Addressing.IPv4Address, string?, bool}, uint, CtStates, CtEntry?)"/>
/// tests them), and a chain's traversal (<see cref="Traverse"/>, <c>ipt_do_table</c> as the model's
/// <c>LinuxKernel</c> walks it): jumps unrolled, RETURN leaving its chain, MARK and CONNMARK threading the marks through
/// the rules after them, NOTRACK making the state UNTRACKED, <c>--mode random</c> a free Boolean per rule visited
/// (<see cref="ChainOutcome.Draws"/>) and <c>--mode nth</c> its rule's counter, a term that starts at the table's count.
/// Devices are concrete (one compilation per pair of in and out devices), and so are the namespace's addresses that
/// <c>-m addrtype</c> asks about. Every rule the model accepts compiles: nothing is over-approximated. The agreement
/// test checks the result against the model's own decisions in runs of every example.
/// </summary>
public sealed class RuleCompiler
{
    private readonly Context _z;
    private readonly Netns _ns;
    private readonly CompilerMutation _mutation;
    private int _draws;

    public RuleCompiler(Context z, Netns ns)
        : this(z, ns, CompilerMutation.None)
    {
    }

    /// <summary>A compiler with a deliberate mistake, for the tests that show the agreement test catches it.</summary>
    internal RuleCompiler(Context z, Netns ns, CompilerMutation mutation)
    {
        ArgumentNullException.ThrowIfNull(z);
        ArgumentNullException.ThrowIfNull(ns);
        _z = z;
        _ns = ns;
        _mutation = mutation;
    }

    private BitVecNum Bv(ulong v, uint bits) => _z.MkBV(v, bits);

    private BoolExpr Not(BoolExpr e) => _z.MkNot(e);

    /// <summary><paramref name="holds"/>, turned over when the match was written with <c>!</c> (<c>IPT_INV_*</c>).</summary>
    private BoolExpr Inv(BoolExpr holds, bool negated) =>
        negated && _mutation != CompilerMutation.IgnoreNegation ? Not(holds) : holds;

    private BoolExpr Between(BitVecExpr v, int lo, int hi, uint bits) => _z.MkAnd(_z.MkBVULE(Bv((ulong)lo, bits), v), _z.MkBVULE(v, Bv((ulong)hi, bits)));

    private BoolExpr InCidr(BitVecExpr addr, Model.Nat.Cidr cidr)
    {
        var mask = cidr.PrefixLength == 0 ? 0u : uint.MaxValue << (32 - cidr.PrefixLength);
        return _z.MkEq(_z.MkBVAND(addr, Bv(mask, SymbolicPacket.AddrBits)), Bv(cidr.Network.Value & mask, SymbolicPacket.AddrBits));
    }

    private BoolExpr MaskedEq(BitVecExpr v, uint mask, uint value) =>
        _z.MkEq(_z.MkBVAND(v, Bv(mask, SymbolicPacket.MarkBits)), Bv(value, SymbolicPacket.MarkBits));

    private BoolExpr AnyBit(BitVecExpr v, uint bits, uint width) => Not(_z.MkEq(_z.MkBVAND(v, Bv(bits, width)), Bv(0, width)));

    /// <summary>
    /// The address is local (<c>inet_addr_type</c> == RTN_LOCAL, <see cref="Fib.IsLocal"/>), or, with a device, local on
    /// that device (<see cref="Fib.IsLocalOn"/>: the first device holding it decides): the namespace's addresses in the
    /// order the model looks at them, a loopback device's whole subnet included.
    /// </summary>
    private BoolExpr IsLocal(BitVecExpr ip, string? device)
    {
        BoolExpr result = _z.MkFalse();
        // Built from the last address back, so that the first one that holds the address decides.
        foreach (var (d, a) in _ns.Devices.SelectMany(d => d.Addresses.Select(a => (d, a))).Reverse())
        {
            var holds = d.Kind == DeviceKind.Loopback
                ? _z.MkOr(_z.MkEq(ip, Bv(a.Local.Value, 32)), InCidr(ip, a.Subnet))
                : _z.MkEq(ip, Bv(a.Local.Value, 32));
            result = (BoolExpr)_z.MkITE(holds, _z.MkBool(device is null || d.Name == device), result);
        }
        return result;
    }

    /// <summary><c>addrtype_mt</c> as <c>RuleMatch.IsType</c> answers it for an IPv4 address.</summary>
    private BoolExpr IsType(BitVecExpr ip, AddrType type, string? device)
    {
        var multicast = _z.MkEq(_z.MkBVAND(ip, Bv(0xF0000000, 32)), Bv(0xE0000000, 32));
        var broadcast = _z.MkOr(_z.MkEq(ip, Bv(0xFFFFFFFF, 32)), _z.MkEq(_z.MkBVAND(ip, Bv(0xFF000000, 32)), Bv(0, 32)));
        return type switch
        {
            AddrType.Local => IsLocal(ip, device),
            AddrType.Multicast => multicast,
            AddrType.Broadcast => broadcast,
            AddrType.Unicast => _z.MkAnd(Not(multicast), Not(broadcast), Not(IsLocal(ip, device))),
            _ => _z.MkFalse(),
        };
    }

    /// <summary>
    /// A rule's matches on <paramref name="p"/> at a hook with these devices: the predicate
    /// <see cref="RuleMatch.Matches(Model.Addressing.ConnTuple, string?, string?, Func{Model.Addressing.IPv4Address, string?, bool}, uint, CtStates, CtEntry?)"/>
    /// computes, match by match in its order. The statistic match is not in it (<see cref="Traverse"/> draws it).
    /// </summary>
    public BoolExpr Match(RuleMatch m, SymbolicPacket p, string? inDev, string? outDev)
    {
        ArgumentNullException.ThrowIfNull(m);
        ArgumentNullException.ThrowIfNull(p);
        var not = m.Not;
        var typeDevice = m.LimitIface switch { AddrTypeLimit.In => inDev, AddrTypeLimit.Out => outDev, _ => null };
        var all = new List<BoolExpr>();
        if (m.Protocol is { } proto) all.Add(Inv(_z.MkEq(p.Proto, Bv((ulong)proto, SymbolicPacket.ProtoBits)), not.HasFlag(Negated.Protocol)));
        if (m.Source is { } src) all.Add(Inv(InCidr(p.Saddr, src), not.HasFlag(Negated.Source)));
        if (m.Destination is { } dst) all.Add(Inv(InCidr(p.Daddr, dst), not.HasFlag(Negated.Destination)));
        if (m.SourcePort is { } sp) all.Add(Inv(Between(p.Sport, sp.Min, sp.Max, SymbolicPacket.PortBits), not.HasFlag(Negated.SourcePort)));
        if (m.DestinationPort is { } dp) all.Add(Inv(Between(p.Dport, dp.Min, dp.Max, SymbolicPacket.PortBits), not.HasFlag(Negated.DestinationPort)));
        // Devices are concrete: the empty name where the hook has none (ip_packet_match's nulldevname).
        if (m.OutInterface is { } o) all.Add(Inv(_z.MkBool(RuleMatch.InterfaceMatches(o, outDev ?? "")), not.HasFlag(Negated.OutInterface)));
        if (m.InInterface is { } i) all.Add(Inv(_z.MkBool(RuleMatch.InterfaceMatches(i, inDev ?? "")), not.HasFlag(Negated.InInterface)));
        if (m.MultiPorts is { } mp)
        {
            BoolExpr In(BitVecExpr port) => _z.MkOr([.. mp.Ranges.Select(r => Between(port, r.Min, r.Max, SymbolicPacket.PortBits))]);
            var holds = mp.Which switch
            {
                PortList.Side.Source => In(p.Sport),
                PortList.Side.Destination => In(p.Dport),
                _ => _z.MkOr(In(p.Sport), In(p.Dport)),
            };
            all.Add(Inv(holds, not.HasFlag(Negated.MultiPorts)));
        }
        if (m.DestinationType is { } dt) all.Add(Inv(IsType(p.Daddr, dt, typeDevice), not.HasFlag(Negated.DestinationType)));
        if (m.SourceType is { } st) all.Add(Inv(IsType(p.Saddr, st, typeDevice), not.HasFlag(Negated.SourceType)));
        if (m.PacketMark is { } pm) all.Add(Inv(MaskedEq(p.Mark, pm.Mask, pm.Value), not.HasFlag(Negated.Mark)));
        // connmark_mt: no entry, no match (whatever the !).
        if (m.ConnMark is { } cm) all.Add(_z.MkAnd(p.HasCt, Inv(MaskedEq(p.CtMark, cm.Mask, cm.Value), not.HasFlag(Negated.ConnMark))));
        // conntrack_mt: the states first; with no entry --ctstatus holds only if --ctstate was tested (not -m state's).
        if (m.States is { } s) all.Add(Inv(AnyBit(p.State, (uint)s, SymbolicPacket.StateBits), not.HasFlag(Negated.State)));
        if (m.Status is { } status)
        {
            var withCt = Inv(AnyBit(p.CtStatus, (uint)status, SymbolicPacket.StatusBits), not.HasFlag(Negated.Status));
            all.Add((BoolExpr)_z.MkITE(p.HasCt, withCt, _z.MkBool(m.States is not null && !m.StateModule)));
        }
        return all.Count == 0 ? _z.MkTrue() : _z.MkAnd([.. all]);
    }

    /// <summary>
    /// The traversal of <paramref name="hook"/>'s chain of <paramref name="table"/> by <paramref name="p"/> (the model's
    /// <c>Verdict</c>): for each rule that ends it (ACCEPT, DROP, REJECT, SNAT, DNAT, MASQUERADE, REDIRECT), when it is
    /// the one; the packet's and the entry's marks and the state after it; the draws it made. <paramref name="tag"/>
    /// names the draws' constants, so several traversals can share a solver.
    /// </summary>
    public ChainOutcome Traverse(XtTable table, IptChain hook, SymbolicPacket p, string? inDev, string? outDev, string tag)
    {
        ArgumentNullException.ThrowIfNull(table);
        ArgumentNullException.ThrowIfNull(p);
        var walk = new Walk(p, inDev, outDev, tag, table, _z.MkFalse());
        Chain(walk, table.Chain(hook), _z.MkTrue(), depth: 0);
        var decided = walk.Decisions.Count == 0 ? _z.MkFalse() : _z.MkOr([.. walk.Decisions.Select(d => d.When)]);
        return new ChainOutcome([.. walk.Decisions], Not(decided), walk.Mark, walk.CtMark, walk.State, walk.Untracked, [.. walk.Draws],
            walk.Nth.ToImmutableDictionary(kv => kv.Key, kv => kv.Value, RuleIdentity.Instance));
    }

    /// <summary>The state of one traversal as it goes: the terms the rules after this point see.</summary>
    private sealed class Walk(SymbolicPacket p, string? inDev, string? outDev, string tag, XtTable table, BoolExpr untracked)
    {
        public SymbolicPacket Packet { get; set; } = p;
        public string? InDev { get; } = inDev;
        public string? OutDev { get; } = outDev;
        public string Tag { get; } = tag;
        public XtTable Table { get; } = table;
        public BitVecExpr Mark { get => Packet.Mark; set => Packet = Packet with { Mark = value }; }
        public BitVecExpr CtMark { get => Packet.CtMark; set => Packet = Packet with { CtMark = value }; }
        public BitVecExpr State { get => Packet.State; set => Packet = Packet with { State = value }; }
        public BoolExpr Untracked { get; set; } = untracked;
        public List<(IptRule Rule, BoolExpr When)> Decisions { get; } = [];
        public List<BoolExpr> Draws { get; } = [];
        public Dictionary<IptRule, BitVecExpr> Nth { get; } = new(RuleIdentity.Instance);
    }

    /// <summary>
    /// One chain's rules with <paramref name="active"/> the condition that the traversal is still in this chain; returns
    /// the condition that a rule in it (or a chain it jumps to) ended the traversal.
    /// </summary>
    private BoolExpr Chain(Walk w, ImmutableList<IptRule> rules, BoolExpr active, int depth)
    {
        // XtTable.HookProblem refuses a loop a built-in chain reaches; this only guards against a table built some other way.
        if (depth > 64) throw new InvalidOperationException("jumps nested more than 64 deep");
        BoolExpr ended = _z.MkFalse();
        foreach (var rule in rules)
        {
            var g = _z.MkAnd(active, Match(rule.Match, w.Packet, w.InDev, w.OutDev));
            if (rule.Match.Probability is { } prob)
            {
                // statistic_mt's draw, then XT_STATISTIC_INVERT.
                BoolExpr drawn;
                if (RuleMatch.StatisticCertain(prob) is { } certain) drawn = _z.MkBool(certain);
                else
                {
                    drawn = _z.MkBoolConst($"draw{_draws++}@{w.Tag}");
                    w.Draws.Add(drawn);
                }
                g = _z.MkAnd(g, Inv(drawn, rule.Match.Not.HasFlag(Negated.Statistic)));
            }
            if (rule.Match.Nth is { } nth)
            {
                // statistic_mt, XT_STATISTIC_MODE_NTH: a packet that reaches it moves the counter on, and it matches on the wrap.
                var count = w.Nth.TryGetValue(rule, out var c) ? c : Bv(w.Table.NthCount(rule), 32);
                var next = (BitVecExpr)_z.MkITE(_z.MkEq(count, Bv(nth.Every - 1, 32)), Bv(0, 32), _z.MkBVAdd(count, Bv(1, 32)));
                w.Nth[rule] = (BitVecExpr)_z.MkITE(g, next, count);
                g = _z.MkAnd(g, Inv(_z.MkEq(next, Bv(0, 32)), rule.Match.Not.HasFlag(Negated.Statistic)));
            }
            switch (rule.Target)
            {
                case IptTarget.Mark m:
                    // (mark & ~Mask) ^ Value, as IptTarget.Mark.Apply.
                    w.Mark = (BitVecExpr)_z.MkITE(g, _z.MkBVXOR(_z.MkBVAND(w.Mark, Bv(~m.Mask, 32)), Bv(m.Value, 32)), w.Mark);
                    continue;
                case IptTarget.ConnMark cm:
                    ConnMark(w, g, cm);
                    continue;
                case IptTarget.Log:
                    continue;
                case IptTarget.NoTrack:
                    // xt_ct_target: only a packet with no entry yet.
                    var untrack = _z.MkAnd(g, Not(w.Packet.HasCt));
                    w.State = (BitVecExpr)_z.MkITE(untrack, Bv((ulong)CtStates.Untracked, SymbolicPacket.StateBits), w.State);
                    w.Untracked = _z.MkOr(w.Untracked, untrack);
                    continue;
                case IptTarget.Return:
                    if (_mutation != CompilerMutation.IgnoreReturn) active = _z.MkAnd(active, Not(g));
                    continue;
                case IptTarget.Jump j:
                    var inner = Chain(w, w.Table.UserChain(j.Chain), g, depth + 1);
                    active = _z.MkAnd(active, Not(inner));
                    ended = _z.MkOr(ended, inner);
                    continue;
                default:
                    w.Decisions.Add((rule, g));
                    active = _z.MkAnd(active, Not(g));
                    ended = _z.MkOr(ended, g);
                    continue;
            }
        }
        return ended;
    }

    /// <summary>CONNMARK (<c>connmark_tg_shift</c>, as <see cref="IptTarget.ConnMark.NewCtMark"/> and <see cref="IptTarget.ConnMark.NewMark"/>): nothing without an entry.</summary>
    private void ConnMark(Walk w, BoolExpr g, IptTarget.ConnMark cm)
    {
        var when = _z.MkAnd(g, w.Packet.HasCt);
        BitVecExpr Keep(BitVecExpr v, uint mask) => _z.MkBVAND(v, Bv(~mask, 32));
        switch (cm.Mode)
        {
            case ConnMarkMode.Restore:
                w.Mark = (BitVecExpr)_z.MkITE(when, _z.MkBVXOR(Keep(w.Mark, cm.NfMask), _z.MkBVAND(w.CtMark, Bv(cm.CtMask, 32))), w.Mark);
                break;
            case ConnMarkMode.Set:
                w.CtMark = (BitVecExpr)_z.MkITE(when, _z.MkBVXOR(Keep(w.CtMark, cm.CtMask), Bv(cm.CtMark, 32)), w.CtMark);
                break;
            case ConnMarkMode.Save:
                w.CtMark = (BitVecExpr)_z.MkITE(when, _z.MkBVXOR(Keep(w.CtMark, cm.CtMask), _z.MkBVAND(w.Mark, Bv(cm.NfMask, 32))), w.CtMark);
                break;
        }
    }
}

/// <summary>
/// A chain's traversal as terms: <see cref="Decisions"/>, each rule that can end it with the condition that it is the one
/// (at most one holds); <see cref="Undecided"/> when none does (the chain's end: its policy, or for nat the null binding);
/// the packet's mark, the entry's mark and the state after it; <see cref="Untracked"/> when NOTRACK took the packet; the
/// statistic draws it made (free Booleans, true: the draw matched) and each nth rule's counter after it.
/// </summary>
public sealed record ChainOutcome(
    ImmutableArray<(IptRule Rule, BoolExpr When)> Decisions,
    BoolExpr Undecided,
    BitVecExpr Mark,
    BitVecExpr CtMark,
    BitVecExpr State,
    BoolExpr Untracked,
    ImmutableArray<BoolExpr> Draws,
    ImmutableDictionary<IptRule, BitVecExpr> NthCounts);

/// <summary>Deliberate mistakes the agreement test must catch (tests only).</summary>
internal enum CompilerMutation
{
    None,
    IgnoreNegation,
    IgnoreReturn,
}

/// <summary>Rules by object, as the model keeps nth counters (a rule added is a new counter).</summary>
internal sealed class RuleIdentity : IEqualityComparer<IptRule>
{
    public static RuleIdentity Instance { get; } = new();

    public bool Equals(IptRule? x, IptRule? y) => ReferenceEquals(x, y);

    public int GetHashCode(IptRule obj) => System.Runtime.CompilerServices.RuntimeHelpers.GetHashCode(obj);
}
