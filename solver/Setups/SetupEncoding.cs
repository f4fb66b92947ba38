using System.Collections.Immutable;
using Microsoft.Z3;

namespace ConntrackModel.Solver.Setups;

/// <summary>The steps of a setup's symbolic runs.</summary>
public enum SetupOp
{
    /// <summary>A connect of one <see cref="FlowClass"/>.</summary>
    Connect,

    /// <summary><c>late</c>: the setup's netfilter lines, deferred until now.</summary>
    Rules,

    /// <summary><c>conntrack -F</c> in every namespace that tracks.</summary>
    Flush,

    /// <summary>A sleep past the 2 s idle timeouts the <c>expiry</c> event sets: every idle entry expires.</summary>
    Expire,
}

/// <summary>
/// A setup's connection-level abstraction as a Z3 transition relation over connection slots, from its
/// <see cref="SetupFragment"/>: what a connect does (established or not, which server end, from which address, which
/// table tracks it, its NAT address and port rule) comes from running one connect of its kind in the model, so the
/// rules' semantics are the model's own; only the ports are symbolic. A connect's NAT port follows
/// <c>get_unique_tuple</c> over the entries of its table whose reply tuples it can meet (same peer, same NAT address):
/// keep the port if it is in the range and no such entry holds it (a single-port range keeps it even then, and the clash
/// drops the SYN at confirm); else any port of the range no such entry holds (none: the SYN is dropped); without
/// <c>--random</c>/<c>--random-fully</c> also the port an entry from the same source already maps to
/// (<c>find_appropriate_src</c>), a superset of the kernel's pick. A dropped connect fails; with <c>expiry</c> its third
/// SYN leaves after every idle entry expired, and is NATed against an empty table. A collision is a connect that
/// reaches a server end from the address and port a live connection's server end already sees.
/// </summary>
public sealed class SetupEncoding
{
    public const uint PortBits = 16;
    public const uint OpBits = 2;

    private readonly Context _z;
    private readonly SetupFragment _f;
    private readonly uint _classBits;
    private readonly Dictionary<string, int> _ids = new(StringComparer.Ordinal);

    public int Slots { get; }

    public SetupEncoding(Context z, SetupFragment fragment, int slots)
    {
        ArgumentNullException.ThrowIfNull(z);
        ArgumentNullException.ThrowIfNull(fragment);
        _z = z;
        _f = fragment;
        Slots = slots;
        _classBits = (uint)Math.Max(1, (int)Math.Ceiling(Math.Log2(fragment.Classes.Length + 1)));
    }

    public sealed class State
    {
        public required BoolExpr Rules { get; init; }
        public required BoolExpr[] Used { get; init; }
        public required BoolExpr[] Open { get; init; }
        public required BoolExpr[] Live { get; init; }
        public required BoolExpr[] Tracked { get; init; }

        /// <summary>
        /// An entry left by a connect that failed after its SYN was confirmed (its SYN/ACK could not come back): SYN_SENT for
        /// two minutes, so it outlives the expiry's 2 s; it holds its reply tuple, and a later SYN with its original tuple joins it.
        /// </summary>
        public required BoolExpr[] Stale { get; init; }
        public required BoolExpr[] Bound { get; init; }
        public required BoolExpr[] After { get; init; }
        public required BitVecExpr[] Class { get; init; }
        public required BitVecExpr[] Local { get; init; }
        public required BitVecExpr[] Wire { get; init; }
    }

    public sealed class Step
    {
        public required BitVecExpr Op { get; init; }
        public required BitVecExpr Class { get; init; }
        public required BitVecExpr Port { get; init; }
        public required BitVecExpr W1 { get; init; }
        public required BitVecExpr W2 { get; init; }
        public required BoolExpr Dropped { get; init; }

        /// <summary>A dropped first SYN whose retransmission got through: as a connect of <see cref="Class2"/> (the same connect, its statistic draws made again).</summary>
        public required BoolExpr Retried { get; init; }

        /// <summary>The retransmission that got through is the one after every idle entry expired (<c>expiry</c>), else an earlier one.</summary>
        public required BoolExpr LateRetry { get; init; }

        public required BitVecExpr Class2 { get; init; }

        /// <summary>The SYN joins a stale entry with its original tuple (it is that entry's retransmission): the connect fails as it did.</summary>
        public required BoolExpr Joins { get; init; }
        public required BoolExpr Violation { get; init; }
    }

    private BitVecNum Bv(int v) => _z.MkBV(v, PortBits);

    private BitVecNum Id(int v) => _z.MkBV(v, 16);

    private int IdOf(string key)
    {
        if (!_ids.TryGetValue(key, out var id)) _ids[key] = id = _ids.Count + 1;
        return id;
    }

    public State NewState(string tag)
    {
        BoolExpr[] Bools(string n) => [.. Enumerable.Range(0, Slots).Select(i => _z.MkBoolConst($"{n}{i}@{tag}"))];
        BitVecExpr[] Ports(string n) => [.. Enumerable.Range(0, Slots).Select(i => _z.MkBVConst($"{n}{i}@{tag}", PortBits))];
        return new State
        {
            Rules = _z.MkBoolConst($"rules@{tag}"),
            Used = Bools("used"), Open = Bools("open"), Live = Bools("live"), Tracked = Bools("tracked"), Stale = Bools("stale"), Bound = Bools("bound"), After = Bools("after"),
            Class = [.. Enumerable.Range(0, Slots).Select(i => _z.MkBVConst($"class{i}@{tag}", _classBits))],
            Local = Ports("local"), Wire = Ports("wire"),
        };
    }

    public Step NewStep(int t) => new()
    {
        Op = _z.MkBVConst($"op@{t}", OpBits),
        Class = _z.MkBVConst($"class@{t}", _classBits),
        Port = _z.MkBVConst($"port@{t}", PortBits),
        W1 = _z.MkBVConst($"w1@{t}", PortBits),
        W2 = _z.MkBVConst($"w2@{t}", PortBits),
        Dropped = _z.MkBoolConst($"dropped@{t}"),
        Retried = _z.MkBoolConst($"retried@{t}"),
        LateRetry = _z.MkBoolConst($"lateretry@{t}"),
        Class2 = _z.MkBVConst($"retryclass@{t}", _classBits),
        Joins = _z.MkBoolConst($"joins@{t}"),
        Violation = _z.MkBoolConst($"violation@{t}"),
    };

    public BoolExpr Initial(State s) => _z.MkAnd(
        [_z.MkEq(s.Rules, _z.MkBool(!_f.Input.Late)),
         .. Enumerable.Range(0, Slots).SelectMany(i => new BoolExpr[]
         {
             _z.MkNot(s.Used[i]), _z.MkNot(s.Open[i]), _z.MkNot(s.Live[i]), _z.MkNot(s.Tracked[i]), _z.MkNot(s.Stale[i]), _z.MkNot(s.Bound[i]), _z.MkNot(s.After[i]),
             _z.MkEq(s.Class[i], _z.MkBV(0, _classBits)), _z.MkEq(s.Local[i], Bv(0)), _z.MkEq(s.Wire[i], Bv(0)),
         })]);

    private BoolExpr Is(Step x, SetupOp op) => _z.MkEq(x.Op, _z.MkBV((int)op, OpBits));

    private BoolExpr IsClass(BitVecExpr c, int k) => _z.MkEq(c, _z.MkBV(k, _classBits));

    private BoolExpr Between(BitVecExpr v, BitVecExpr lo, BitVecExpr hi) => _z.MkAnd(_z.MkBVULE(lo, v), _z.MkBVULE(v, hi));

    /// <summary>A fact of a class's behaviour (before or after the rules, by <paramref name="after"/>) as a term over a class variable.</summary>
    private T Fact<T>(BitVecExpr cls, BoolExpr after, Func<FlowClass, FlowBehaviour, T> f, Func<T, T, BoolExpr, T> ite, T otherwise)
    {
        var v = otherwise;
        foreach (var c in _f.Classes.Reverse())
        {
            var a = f(c, c.After);
            var b = c.Before is { } before ? f(c, before) : a;
            v = ite(ite(a, b, after), v, IsClass(cls, c.Id));
        }
        return v;
    }

    private BoolExpr FactB(BitVecExpr cls, BoolExpr after, Func<FlowClass, FlowBehaviour, bool> f) =>
        Fact(cls, after, (c, b) => (BoolExpr)_z.MkBool(f(c, b)), (t, e, cond) => (BoolExpr)_z.MkITE(cond, t, e), _z.MkFalse());

    private BitVecExpr FactV(BitVecExpr cls, BoolExpr after, Func<FlowClass, FlowBehaviour, int> f, uint bits = 16) =>
        Fact(cls, after, (c, b) => (BitVecExpr)_z.MkBV(f(c, b), bits), (t, e, cond) => (BitVecExpr)_z.MkITE(cond, t, e), _z.MkBV(0, bits));

    /// <summary>A class fact that does not depend on the phase.</summary>
    private BitVecExpr Static(BitVecExpr cls, Func<FlowClass, int> f, uint bits = 16) => FactV(cls, _z.MkTrue(), (c, _) => f(c), bits);

    private BoolExpr StaticB(BitVecExpr cls, Func<FlowClass, bool> f) => FactB(cls, _z.MkTrue(), (c, _) => f(c));

    public BoolExpr Transition(State s, Step x, State n, int t)
    {
        var c = new List<BoolExpr>();
        var allowed = new List<BoolExpr> { Is(x, SetupOp.Connect) };
        if (_f.Input.Late) allowed.Add(_z.MkAnd(Is(x, SetupOp.Rules), _z.MkNot(s.Rules)));
        if (_f.Input.Flush && !_f.Input.Tracking.IsEmpty) allowed.Add(Is(x, SetupOp.Flush));
        if (_f.Input.Expiry) allowed.Add(Is(x, SetupOp.Expire));
        c.Add(_z.MkOr([.. allowed]));
        var connect = Is(x, SetupOp.Connect);
        c.Add(_z.MkImplies(connect, _z.MkAnd(_z.MkNot(s.Used[Slots - 1]), _z.MkBVULT(x.Class, _z.MkBV(_f.Classes.Length, _classBits)))));
        // Operands of the other steps are fixed, so a decoded trace has one reading.
        c.Add(_z.MkImplies(_z.MkNot(connect), _z.MkAnd(_z.MkEq(x.Class, _z.MkBV(0, _classBits)), _z.MkEq(x.Port, Bv(0)), _z.MkEq(x.W1, Bv(0)), _z.MkEq(x.W2, Bv(0)), _z.MkNot(x.Dropped))));
        c.Add(_z.MkImplies(_z.MkNot(x.Retried), _z.MkAnd(_z.MkEq(x.Class2, _z.MkBV(0, _classBits)), _z.MkNot(x.LateRetry), _z.MkEq(x.W2, Bv(0)))));

        // The new connection's kind and the facts it brings.
        var cls = x.Class;
        var ph = s.Rules;
        var ns = Static(cls, k => IdOf("ns:" + (k.Netns ?? "")));
        var src = Static(cls, k => IdOf("src:" + k.Source));
        var target = Static(cls, k => IdOf("dst:" + k.Target));
        var bound = StaticB(cls, k => k.Bound);
        var f1 = FactsOf(cls, ph);

        // Slot facts, from each slot's own class and phase.
        var slot = Enumerable.Range(0, Slots).Select(j => new SlotFacts(
            Static(s.Class[j], k => IdOf("ns:" + (k.Netns ?? ""))), Static(s.Class[j], k => IdOf("src:" + k.Source)), Static(s.Class[j], k => IdOf("dst:" + k.Target)),
            FactV(s.Class[j], s.After[j], (_, b) => IdOf("srv:" + b.ServerKey)), FactV(s.Class[j], s.After[j], (_, b) => b.Tracked ? IdOf("ent:" + b.EntryKey) : 0),
            FactV(s.Class[j], s.After[j], (_, b) => IdOf("src:" + b.NatAddress)))).ToArray();

        // Ports: bind() needs a port no socket of the namespace holds on that address (nor a listener there); connect()
        // without bind one of ip_local_port_range, of the range's parity (__inet_hash_connect's first pass), that no bind()
        // on that address holds and whose 4-tuple is new (SocketView.EphemeralUsable).
        var listenerClash = _z.MkOr([.. _f.Listeners.Select(l => _z.MkAnd(_z.MkEq(ns, Id(IdOf("ns:" + (l.Netns ?? "")))), _z.MkEq(x.Port, Bv(l.Port)),
            l.Any ? _z.MkTrue() : _z.MkEq(src, Id(IdOf("src:" + l.Address)))))]);
        BoolExpr SameAddress(int j) => _z.MkAnd(s.Open[j], _z.MkEq(slot[j].Ns, ns), _z.MkEq(slot[j].Src, src), _z.MkEq(s.Local[j], x.Port));
        var boundOk = _z.MkAnd([_z.MkBVUGE(x.Port, Bv(SetupFragment.BoundLow)), _z.MkNot(listenerClash),
            .. Enumerable.Range(0, Slots).Select(j => _z.MkNot(SameAddress(j)))]);
        var inEphemeral = _z.MkOr([.. _f.Classes.Where(k => !k.Bound).Select(k =>
        {
            var (low, high) = _f.EphemeralRanges[k.Netns ?? ""];
            return _z.MkAnd(IsClass(cls, k.Id), Between(x.Port, Bv(low), Bv(high)), _z.MkEq(_z.MkExtract(0, 0, x.Port), _z.MkBV(low & 1, 1)));
        })]);
        var ephemeralOk = _z.MkAnd([inEphemeral, _z.MkNot(listenerClash),
            .. Enumerable.Range(0, Slots).Select(j => _z.MkNot(_z.MkAnd(SameAddress(j), _z.MkOr(s.Bound[j], _z.MkEq(slot[j].Target, target)))))]);
        c.Add(_z.MkImplies(connect, (BoolExpr)_z.MkITE(bound, boundOk, ephemeralOk)));

        // A SYN with the original tuple of a stale entry joins it: no decision, and it fails as that connect did.
        c.Add(_z.MkImplies(x.Joins, _z.MkAnd(connect, _z.MkOr([.. Enumerable.Range(0, Slots).Select(j =>
            _z.MkAnd(s.Stale[j], _z.MkEq(slot[j].Ns, ns), _z.MkEq(slot[j].Src, src), _z.MkEq(slot[j].Target, target), _z.MkEq(s.Local[j], x.Port)))]))));

        // The first SYN's NAT decision in its table (get_unique_tuple, see the class remarks).
        var tracked = _z.MkAnd(connect, f1.Tracked, _z.MkNot(x.Joins));
        var first = Nat(s, slot, f1, src, x.Port, x.W1, empty: false);
        c.Add(_z.MkImplies(x.Dropped, _z.MkAnd(tracked, first.MayDrop, first.DropShape)));
        c.Add(_z.MkImplies(_z.MkAnd(tracked, _z.MkNot(x.Dropped)), first.Valid));
        c.Add(_z.MkImplies(_z.MkNot(tracked), _z.MkEq(x.W1, Bv(0))));

        // A retransmission of a dropped SYN makes its decisions again (the same connect's kind up to its statistic
        // answers): against the table as it is (an earlier retransmission) or, with expiry, after every idle entry expired
        // (the third SYN leaves 3 s after the first, the timeouts are 2 s).
        var f2 = FactsOf(x.Class2, ph);
        var group = Static(cls, k => IdOf($"grp:{k.Netns}|{k.Source}|{k.Target}|{k.Bound}"));
        var group2 = Static(x.Class2, k => IdOf($"grp:{k.Netns}|{k.Source}|{k.Target}|{k.Bound}"));
        var early = Nat(s, slot, f2, src, x.Port, x.W2, empty: false);
        var late = Nat(s, slot, f2, src, x.Port, x.W2, empty: true);
        c.Add(_z.MkImplies(x.Retried, _z.MkAnd(x.Dropped, _z.MkBVULT(x.Class2, _z.MkBV(_f.Classes.Length, _classBits)), _z.MkEq(group2, group), f2.Established, f2.Tracked,
            (BoolExpr)_z.MkITE(x.LateRetry, late.Valid, early.Valid))));
        if (!_f.Input.Expiry) c.Add(_z.MkNot(x.LateRetry));

        // up: the connect is established. A kind whose SYN/ACK cannot come back leaves a half-open server end instead: a
        // later SYN with its tuple meets a request socket, which answers it and is not a connection of the application's
        // (the model counts no violation there; the agreement test runs such connects twice), so it is no collision target.
        var up = _z.MkAnd(connect, f1.Established, _z.MkNot(x.Joins), _z.MkOr(_z.MkNot(x.Dropped), x.Retried));
        // A failed connect whose SYN was confirmed leaves its entry.
        var stale = _z.MkAnd(tracked, _z.MkNot(f1.Established), _z.MkNot(x.Dropped));
        var wire = (BitVecExpr)_z.MkITE(x.Retried, x.W2, _z.MkITE(tracked, x.W1, x.Port));
        var serverKey = (BitVecExpr)_z.MkITE(x.Retried, f2.Server, f1.Server);
        var collide = _z.MkAnd(up, _z.MkOr([.. Enumerable.Range(0, Slots).Select(j => _z.MkAnd(s.Live[j], _z.MkEq(slot[j].Server, serverKey), _z.MkEq(s.Wire[j], wire)))]));
        c.Add(_z.MkEq(x.Violation, collide));
        var trackedAfter = (BoolExpr)_z.MkITE(x.Retried, f2.Tracked, f1.Tracked);
        var retried = _z.MkAnd(x.Retried, x.LateRetry);

        var flush = _z.MkOr(Is(x, SetupOp.Flush), Is(x, SetupOp.Expire), retried);
        c.Add(_z.MkEq(n.Rules, _z.MkOr(s.Rules, Is(x, SetupOp.Rules))));
        for (var i = 0; i < Slots; i++)
        {
            var me = _z.MkAnd(connect, _z.MkNot(s.Used[i]), i == 0 ? _z.MkTrue() : s.Used[i - 1]);
            c.Add(_z.MkEq(n.Used[i], _z.MkOr(s.Used[i], me)));
            c.Add(_z.MkEq(n.Bound[i], (BoolExpr)_z.MkITE(me, bound, s.Bound[i])));
            c.Add(_z.MkEq(n.After[i], (BoolExpr)_z.MkITE(me, ph, s.After[i])));
            c.Add(_z.MkEq(n.Class[i], (BitVecExpr)_z.MkITE(me, _z.MkITE(x.Retried, x.Class2, cls), s.Class[i])));
            c.Add(_z.MkEq(n.Local[i], (BitVecExpr)_z.MkITE(me, x.Port, s.Local[i])));
            c.Add(_z.MkEq(n.Open[i], (BoolExpr)_z.MkITE(me, up, s.Open[i])));
            c.Add(_z.MkEq(n.Live[i], (BoolExpr)_z.MkITE(me, up, s.Live[i])));
            c.Add(_z.MkEq(n.Wire[i], (BitVecExpr)_z.MkITE(me, _z.MkITE(_z.MkOr(up, stale), wire, Bv(0)), s.Wire[i])));
            c.Add(_z.MkEq(n.Tracked[i], (BoolExpr)_z.MkITE(me, _z.MkAnd(up, trackedAfter), _z.MkAnd(s.Tracked[i], _z.MkNot(flush)))));
            c.Add(_z.MkEq(n.Stale[i], (BoolExpr)_z.MkITE(me, stale, _z.MkAnd(s.Stale[i], _z.MkNot(Is(x, SetupOp.Flush))))));
        }
        return _z.MkAnd([.. c]);
    }

    /// <summary>Slot <paramref name="j"/>'s server end key (its server and the address it sees), from its kind and phase.</summary>
    public BitVecExpr ServerOf(State s, int j)
    {
        ArgumentNullException.ThrowIfNull(s);
        return FactV(s.Class[j], s.After[j], (_, b) => IdOf("srv:" + b.ServerKey));
    }

    /// <summary>Slot <paramref name="j"/>'s table key (table, peer, NAT address), from its kind and phase.</summary>
    public BitVecExpr EntryOf(State s, int j)
    {
        ArgumentNullException.ThrowIfNull(s);
        return FactV(s.Class[j], s.After[j], (_, b) => b.Tracked ? IdOf("ent:" + b.EntryKey) : 0);
    }

    /// <summary>Is slot <paramref name="j"/>'s kind established in its phase?</summary>
    public BoolExpr EstablishedOf(State s, int j)
    {
        ArgumentNullException.ThrowIfNull(s);
        return FactB(s.Class[j], s.After[j], (_, b) => b.Established);
    }

    /// <summary>Is slot <paramref name="j"/>'s kind tracked in its phase?</summary>
    public BoolExpr TrackedOf(State s, int j)
    {
        ArgumentNullException.ThrowIfNull(s);
        return FactB(s.Class[j], s.After[j], (_, b) => b.Tracked);
    }

    /// <summary>Slot <paramref name="j"/>'s namespace, source address and target, as ids (equal ids: equal values).</summary>
    public (BitVecExpr Ns, BitVecExpr Src, BitVecExpr Target) OriginOf(State s, int j)
    {
        ArgumentNullException.ThrowIfNull(s);
        return (Static(s.Class[j], k => IdOf("ns:" + (k.Netns ?? ""))), Static(s.Class[j], k => IdOf("src:" + k.Source)), Static(s.Class[j], k => IdOf("dst:" + k.Target)));
    }

    /// <summary>The number of kinds (a slot's kind is below it).</summary>
    public BitVecNum Kinds => _z.MkBV(_f.Classes.Length, _classBits);

    /// <summary>A class's facts under a phase, as terms over the class variable.</summary>
    private sealed record Facts(BoolExpr Established, BoolExpr Tracked, BitVecExpr Server, BitVecExpr Entry, BitVecExpr Nat, BitVecExpr Lo, BitVecExpr Hi,
        BoolExpr RandomAll, BoolExpr Single, BoolExpr WrapMayDrop);

    private Facts FactsOf(BitVecExpr cls, BoolExpr ph) => new(
        FactB(cls, ph, (_, b) => b.Established), FactB(cls, ph, (_, b) => b.Tracked),
        FactV(cls, ph, (_, b) => IdOf("srv:" + b.ServerKey)), FactV(cls, ph, (_, b) => b.Tracked ? IdOf("ent:" + b.EntryKey) : 0),
        FactV(cls, ph, (_, b) => IdOf("src:" + b.NatAddress)), FactV(cls, ph, (_, b) => b.Low, PortBits), FactV(cls, ph, (_, b) => b.High, PortBits),
        FactB(cls, ph, (_, b) => b.RandomAll), FactB(cls, ph, (_, b) => b.SinglePort), FactB(cls, ph, (_, b) => b.WrapMayDrop));

    /// <summary>A slot's facts: namespace, source address, target, server end, table key and NAT address.</summary>
    private sealed record SlotFacts(BitVecExpr Ns, BitVecExpr Src, BitVecExpr Target, BitVecExpr Server, BitVecExpr Entry, BitVecExpr Nat);

    /// <summary>
    /// One NAT decision for source port <paramref name="p"/> with facts <paramref name="f"/>: the ports it may give
    /// (<paramref name="w"/>), whether it may give up (the SYN dropped at confirm), and what <paramref name="w"/> is then
    /// (the clashing port tried last); against the slots' entries, or an empty table.
    /// </summary>
    private (BoolExpr Valid, BoolExpr MayDrop, BoolExpr DropShape) Nat(State s, SlotFacts[] slot, Facts f, BitVecExpr src, BitVecExpr p, BitVecExpr w, bool empty)
    {
        // The entries: every established connection's (none after the expiry) and every stale one's (they outlive it).
        var entry = Enumerable.Range(0, Slots).Select(j => empty ? s.Stale[j] : _z.MkOr(s.Tracked[j], s.Stale[j])).ToArray();
        BoolExpr Taken(BitVecExpr port) =>
            _z.MkOr([.. Enumerable.Range(0, Slots).Select(j => _z.MkAnd(entry[j], _z.MkEq(slot[j].Entry, f.Entry), _z.MkEq(s.Wire[j], port)))]);
        var keep = _z.MkAnd(_z.MkNot(f.RandomAll), Between(p, f.Lo, f.Hi), _z.MkOr(f.Single, _z.MkNot(Taken(p))));
        var bySource = _z.MkAnd([_z.MkNot(f.RandomAll), _z.MkNot(_z.MkEq(f.Nat, src)), _z.MkNot(Taken(w)),
            _z.MkOr([.. Enumerable.Range(0, Slots).Select(j => _z.MkAnd(entry[j], _z.MkEq(slot[j].Src, src), _z.MkEq(s.Local[j], p),
                _z.MkEq(slot[j].Nat, f.Nat), Between(s.Wire[j], f.Lo, f.Hi), _z.MkEq(s.Wire[j], w)))])]);
        var freeExists = FreeExists(f.Lo, f.Hi, [.. Enumerable.Range(0, Slots).Select(j => _z.MkAnd(entry[j], _z.MkEq(slot[j].Entry, f.Entry)))], s.Wire);
        var valid = _z.MkOr(_z.MkAnd(keep, _z.MkEq(w, p), _z.MkNot(Taken(p))), _z.MkAnd(_z.MkNot(keep), Between(w, f.Lo, f.Hi), _z.MkNot(Taken(w))), bySource);
        var mayDrop = _z.MkOr(_z.MkAnd(keep, Taken(p)), _z.MkAnd(_z.MkNot(keep), _z.MkOr(_z.MkNot(freeExists), f.WrapMayDrop)));
        var dropShape = (BoolExpr)_z.MkITE(keep, _z.MkEq(w, p), Between(w, f.Lo, f.Hi));
        return (valid, mayDrop, dropShape);
    }


    /// <summary>A port of [lo, hi] that no counted entry holds: the range is larger than the counted entries inside it (their ports are distinct).</summary>
    private BoolExpr FreeExists(BitVecExpr lo, BitVecExpr hi, BoolExpr[] counted, BitVecExpr[] wire)
    {
        BitVecExpr W(BitVecExpr v) => _z.MkZeroExt(2, v);
        var size = _z.MkBVAdd(_z.MkBVSub(W(hi), W(lo)), _z.MkBV(1, PortBits + 2));
        BitVecExpr count = _z.MkBV(0, PortBits + 2);
        for (var j = 0; j < Slots; j++)
            count = _z.MkBVAdd(count, (BitVecExpr)_z.MkITE(_z.MkAnd(counted[j], Between(wire[j], lo, hi)), _z.MkBV(1, PortBits + 2), _z.MkBV(0, PortBits + 2)));
        return _z.MkBVUGT(size, count);
    }
}
