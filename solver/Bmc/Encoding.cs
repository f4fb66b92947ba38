using Microsoft.Z3;

namespace ConntrackModel.Solver.Bmc;

/// <summary>
/// The connection-level abstraction of the model as a Z3 transition relation over <see cref="Slots"/> connection
/// slots. Ports are 16-bit bit-vectors, so a range of 64,512 ports costs what a range of 4 costs.
/// </summary>
/// <remarks>
/// State: whether tracking is on (<c>nf_ct_netns_get</c> was called), whether the SNAT rule (range LO-HI, to
/// 127.0.0.1) and the DNAT rule exist; per slot: used (connect issued), open (the client socket holds its port),
/// live (the server end is alive), tracked (a conntrack entry exists), bound, svc (connected to 127.0.0.2:80),
/// local port, wire port (the source port the server sees).
/// A connect (slots are used in order) mirrors <c>LinuxKernel.Step</c>'s connect on the model's packet path:
/// untracked it keeps its port; tracked, the SRC manip (the SNAT rule, else the null binding over 1024-65535)
/// keeps the port when it is in range and no entry's reply tuple uses it (<c>get_unique_tuple</c> step 1), else
/// picks any free port of the range (<c>nf_nat_l4proto_unique_tuple</c>), and if none is free the SYN is dropped at
/// confirm until connect gives up. A port equal to the wire port of a live untracked connection is the
/// collision: the SYN reaches that connection's server end, whose challenge ACK makes the new client send the RST
/// that kills it (<c>tcp_send_challenge_ack</c>, <c>tcp_v4_send_reset</c>).
/// The encoding follows the model up to and including the first violation; the state after a violating step is
/// left unspecified (what happens next depends on retransmission timers: a SYN that was already retransmitted
/// is not re-sent 8 ms after its RST, <c>tcp_rcv_synsent_state_process</c> re-arms only when
/// <c>icsk_retransmits</c> is 0). Search, proofs and the agreement test only rely on what comes before.
/// With the expiry configuration's 2 s timeout, a connect whose SYNs are dropped outlives every idle entry (its
/// third SYN leaves 2 s later), and that SYN is NATed against an empty table.
/// Node configurations (<see cref="SymbolicConfig.IsNode"/>): each slot also has its origin (0: a host-network process
/// on node, k: pod k) and whether the server sees it from node's address. Tracking is node's (the pods' MASQUERADE
/// rule is its only conntrack user; pods and server track nothing, and the veth scrub leaves node's table the only
/// one that matters). A node process's connect leaves from node's address, tracked with the null binding (keep the
/// port unless an entry's reply tuple holds it, else any free port of 1024-65535); a pod's leaves from its own
/// address untracked, and MASQUERADEd to node's address once tracked (<c>nf_nat_masquerade_ipv4</c>: the same port
/// choice as the null binding, or with <c>--random-fully</c> any free port). Bind conflicts and ephemeral ports are
/// per namespace. A collision is a connect whose wire tuple, on node's address, equals a live untracked
/// connection's.
/// </remarks>
public sealed class Encoding
{
    public const int PortBits = 16;
    public const int ServerPort = 8080;
    public const int EphemeralLow = 32768;
    public const int EphemeralHigh = 60999;
    public const int NullBindingLow = 1024;

    private readonly Context _z;

    public SymbolicConfig Config { get; }

    public int Slots { get; }

    public Encoding(Context z, SymbolicConfig config, int slots)
    {
        ArgumentNullException.ThrowIfNull(config);
        // An origin is a 2-bit vector: node and up to three pods.
        if (config.Pods >= 1 << OriginBits) throw new ArgumentOutOfRangeException(nameof(config), config.Pods, $"at most {(1 << OriginBits) - 1} pods");
        _z = z;
        Config = config;
        Slots = slots;
    }

    /// <summary>One state's variables.</summary>
    public sealed class State
    {
        public required BoolExpr Tracking { get; init; }
        public required BoolExpr Snat { get; init; }
        public required BoolExpr Dnat { get; init; }
        public required BitVecExpr Lo { get; init; }
        public required BitVecExpr Hi { get; init; }
        public required BoolExpr[] Used { get; init; }
        public required BoolExpr[] Open { get; init; }
        public required BoolExpr[] Live { get; init; }
        public required BoolExpr[] Tracked { get; init; }
        public required BoolExpr[] Bound { get; init; }
        public required BoolExpr[] Svc { get; init; }
        public required BitVecExpr[] Local { get; init; }
        public required BitVecExpr[] Wire { get; init; }

        /// <summary>Node configurations: where the connection comes from (0: node, k: pod k).</summary>
        public required BitVecExpr[] Origin { get; init; }

        /// <summary>Node configurations: does the server see the connection from node's address? (UDP: is the flow's entry's mapping on node's address?)</summary>
        public required BoolExpr[] NodeAddr { get; init; }

        /// <summary>UDP: did the server last hear the flow from node's address (else from its pod's own)?</summary>
        public required BoolExpr[] HeardNode { get; init; }

        /// <summary>UDP: the source port the server last heard the flow from.</summary>
        public required BitVecExpr[] HeardWire { get; init; }
    }

    /// <summary>One step's inputs: which op, and the values a connect or a rule takes (all symbolic).</summary>
    public sealed class Step
    {
        public required BitVecExpr Op { get; init; }
        public required BoolExpr Bound { get; init; }
        public required BoolExpr ToSvc { get; init; }
        public required BitVecExpr Port { get; init; }
        public required BitVecExpr W1 { get; init; }
        public required BitVecExpr W2 { get; init; }
        public required BitVecExpr RuleLo { get; init; }
        public required BitVecExpr RuleHi { get; init; }
        public required BoolExpr Violation { get; init; }

        /// <summary>Node configurations: the connect's origin (0: node, k: pod k).</summary>
        public required BitVecExpr Origin { get; init; }

        /// <summary>UDP: the flow a send or an answer is for.</summary>
        public required BitVecExpr Slot { get; init; }
    }

    public const int OriginBits = 2;

    /// <summary>A slot number: up to 16 slots.</summary>
    public const int SlotBits = 4;

    private BitVecNum Bv(int v) => _z.MkBV(v, PortBits);

    private BoolExpr B(string n) => _z.MkBoolConst(n);

    private BitVecExpr P(string n) => _z.MkBVConst(n, PortBits);

    public State NewState(string tag) => new()
    {
        Tracking = B($"tracking@{tag}"),
        Snat = B($"snat@{tag}"),
        Dnat = B($"dnat@{tag}"),
        Lo = P($"lo@{tag}"),
        Hi = P($"hi@{tag}"),
        Used = [.. Enumerable.Range(0, Slots).Select(i => B($"used{i}@{tag}"))],
        Open = [.. Enumerable.Range(0, Slots).Select(i => B($"open{i}@{tag}"))],
        Live = [.. Enumerable.Range(0, Slots).Select(i => B($"live{i}@{tag}"))],
        Tracked = [.. Enumerable.Range(0, Slots).Select(i => B($"tracked{i}@{tag}"))],
        Bound = [.. Enumerable.Range(0, Slots).Select(i => B($"bound{i}@{tag}"))],
        Svc = [.. Enumerable.Range(0, Slots).Select(i => B($"svc{i}@{tag}"))],
        Local = [.. Enumerable.Range(0, Slots).Select(i => P($"local{i}@{tag}"))],
        Wire = [.. Enumerable.Range(0, Slots).Select(i => P($"wire{i}@{tag}"))],
        Origin = [.. Enumerable.Range(0, Slots).Select(i => _z.MkBVConst($"origin{i}@{tag}", OriginBits))],
        NodeAddr = [.. Enumerable.Range(0, Slots).Select(i => B($"nodeaddr{i}@{tag}"))],
        HeardNode = [.. Enumerable.Range(0, Slots).Select(i => B($"heardnode{i}@{tag}"))],
        HeardWire = [.. Enumerable.Range(0, Slots).Select(i => P($"heardwire{i}@{tag}"))],
    };

    public Step NewStep(int t) => new()
    {
        Op = _z.MkBVConst($"op@{t}", 3),
        Bound = B($"bound@{t}"),
        ToSvc = B($"tosvc@{t}"),
        Port = P($"port@{t}"),
        W1 = P($"w1@{t}"),
        W2 = P($"w2@{t}"),
        RuleLo = P($"rlo@{t}"),
        RuleHi = P($"rhi@{t}"),
        Violation = B($"violation@{t}"),
        Origin = _z.MkBVConst($"origin@{t}", OriginBits),
        Slot = _z.MkBVConst($"slot@{t}", SlotBits),
    };

    /// <summary>The state after the setup: nothing tracked, no rules, no connections.</summary>
    public BoolExpr Initial(State s) => _z.MkAnd(
        [_z.MkNot(s.Tracking), _z.MkNot(s.Snat), _z.MkNot(s.Dnat), _z.MkEq(s.Lo, Bv(0)), _z.MkEq(s.Hi, Bv(0)),
         .. Enumerable.Range(0, Slots).SelectMany(i => new BoolExpr[]
         {
             _z.MkNot(s.Used[i]), _z.MkNot(s.Open[i]), _z.MkNot(s.Live[i]), _z.MkNot(s.Tracked[i]), _z.MkNot(s.Bound[i]), _z.MkNot(s.Svc[i]),
             _z.MkEq(s.Local[i], Bv(0)), _z.MkEq(s.Wire[i], Bv(0)), _z.MkEq(s.Origin[i], _z.MkBV(0, OriginBits)), _z.MkNot(s.NodeAddr[i]),
             _z.MkNot(s.HeardNode[i]), _z.MkEq(s.HeardWire[i], Bv(0)),
         })]);

    private BoolExpr Is(Step x, Op op) => _z.MkEq(x.Op, _z.MkBV((int)op, 3));

    private BoolExpr Between(BitVecExpr v, BitVecExpr lo, BitVecExpr hi) => _z.MkAnd(_z.MkBVULE(lo, v), _z.MkBVULE(v, hi));

    /// <summary>Does an entry's reply tuple (server → port) use <paramref name="port"/>?</summary>
    private BoolExpr Taken(State s, BitVecExpr port, BoolExpr[]? tracked = null) =>
        _z.MkOr([.. Enumerable.Range(0, Slots).Select(j => _z.MkAnd((tracked ?? s.Tracked)[j], _z.MkEq(s.Wire[j], port)))]);

    /// <summary>A port of [lo, hi] no entry uses exists: the range is larger than the entries inside it (their ports are distinct).</summary>
    private BoolExpr FreeExists(State s, BitVecExpr lo, BitVecExpr hi, BoolExpr[] tracked)
    {
        BitVecExpr W(BitVecExpr v) => _z.MkZeroExt(2, v);
        var size = _z.MkBVAdd(_z.MkBVSub(W(hi), W(lo)), _z.MkBV(1, PortBits + 2));
        BitVecExpr count = _z.MkBV(0, PortBits + 2);
        for (var j = 0; j < Slots; j++)
            count = _z.MkBVAdd(count, (BitVecExpr)_z.MkITE(_z.MkAnd(tracked[j], Between(s.Wire[j], lo, hi)), _z.MkBV(1, PortBits + 2), _z.MkBV(0, PortBits + 2)));
        return _z.MkBVUGT(size, count);
    }

    /// <summary>
    /// The SRC manip's result for source port <paramref name="sp"/>: <paramref name="w"/> is a port the model can
    /// give (keep sp if in range and unused, else any unused port of the range), and whether one exists at all.
    /// </summary>
    private (BoolExpr Valid, BoolExpr Possible) Nat(State s, BitVecExpr sp, BitVecExpr w, BoolExpr[] tracked)
    {
        var lo = (BitVecExpr)_z.MkITE(s.Snat, s.Lo, Bv(NullBindingLow));
        var hi = (BitVecExpr)_z.MkITE(s.Snat, s.Hi, Bv(65535));
        var keep = _z.MkAnd(Between(sp, lo, hi), _z.MkNot(Taken(s, sp, tracked)));
        var possible = _z.MkOr(keep, FreeExists(s, lo, hi, tracked));
        var valid = _z.MkITE(keep, _z.MkEq(w, sp), _z.MkAnd(Between(w, lo, hi), _z.MkNot(Taken(s, w, tracked))));
        return ((BoolExpr)valid, possible);
    }

    private BoolExpr Collides(State s, BitVecExpr w, BoolExpr[] tracked) =>
        _z.MkOr([.. Enumerable.Range(0, Slots).Select(j => _z.MkAnd(s.Live[j], _z.MkNot(tracked[j]), _z.MkEq(s.Wire[j], w)))]);

    /// <summary>The transition from <paramref name="s"/> to <paramref name="n"/> under step <paramref name="x"/> (step index <paramref name="t"/>).</summary>
    public BoolExpr Transition(State s, Step x, State n, int t) =>
        Config.Udp ? UdpTransition(s, x, n, t)
        : _z.MkAnd(Config.IsNode ? NodeTransition(s, x, n, t) : LoopbackTransition(s, x, n, t), TcpKeepsUdpState(s, x, n));

    /// <summary>The TCP fragments leave the UDP-only state alone and have no slot operand.</summary>
    private BoolExpr TcpKeepsUdpState(State s, Step x, State n) => _z.MkAnd(
        [_z.MkEq(x.Slot, _z.MkBV(0, SlotBits)),
         .. Enumerable.Range(0, Slots).SelectMany(i => new BoolExpr[] { _z.MkEq(n.HeardNode[i], s.HeardNode[i]), _z.MkEq(n.HeardWire[i], s.HeardWire[i]) })]);

    private BoolExpr LoopbackTransition(State s, Step x, State n, int t)
    {
        var c = new List<BoolExpr>();
        var allowed = new List<BoolExpr> { Is(x, Op.Connect) };
        if (Config.Snat) allowed.Add(_z.MkAnd(Is(x, Op.SnatAdd), _z.MkNot(s.Snat)));
        if (Config.Dnat) allowed.Add(_z.MkAnd(Is(x, Op.DnatAdd), _z.MkNot(s.Dnat)));
        if (Config.Modprobe) allowed.Add(Is(x, Op.Modprobe));
        if (Config.Flush) allowed.Add(Is(x, Op.Flush));
        if (Config.Expiry) allowed.Add(Is(x, Op.Expire));
        c.Add(_z.MkOr([.. allowed]));
        // Tracking from the start: the first step is a rule or modprobe, which starts it.
        if (Config.TrackingFromStart && t == 0) c.Add(_z.MkOr(Is(x, Op.SnatAdd), Is(x, Op.DnatAdd), Is(x, Op.Modprobe)));
        if (!Config.Dnat) c.Add(_z.MkNot(x.ToSvc));

        var connect = Is(x, Op.Connect);
        c.Add(_z.MkImplies(connect, _z.MkNot(s.Used[Slots - 1])));
        // Port preconditions: bind() needs a port no open socket holds; connect() without bind an even port of
        // ip_local_port_range (the first pass of __inet_hash_connect) whose 4-tuple is unique and that no bind() holds.
        var boundOk = _z.MkAnd([_z.MkBVUGE(x.Port, Bv(1024)), _z.MkNot(_z.MkEq(x.Port, Bv(ServerPort))),
            .. Enumerable.Range(0, Slots).Select(j => _z.MkImplies(s.Open[j], _z.MkNot(_z.MkEq(s.Local[j], x.Port))))]);
        var ephemeralOk = _z.MkAnd([Between(x.Port, Bv(EphemeralLow), Bv(EphemeralHigh)), _z.MkEq(_z.MkExtract(0, 0, x.Port), _z.MkBV(0, 1)),
            .. Enumerable.Range(0, Slots).Select(j => _z.MkImplies(_z.MkAnd(s.Open[j], _z.MkOr(s.Bound[j], _z.MkEq(s.Svc[j], x.ToSvc))), _z.MkNot(_z.MkEq(s.Local[j], x.Port))))]);
        c.Add(_z.MkImplies(connect, (BoolExpr)_z.MkITE(x.Bound, boundOk, ephemeralOk)));
        if (Config.PortSpan is { } span)
        {
            var top = Bv(40000 + span - 1);
            c.Add(_z.MkImplies(_z.MkAnd(connect, x.Bound), Between(x.Port, Bv(40000), top)));
            c.Add(_z.MkImplies(Is(x, Op.SnatAdd), _z.MkAnd(_z.MkBVUGE(x.RuleLo, Bv(40000)), _z.MkBVULE(x.RuleHi, top))));
        }

        // The connect's outcome.
        var reach = _z.MkOr(_z.MkNot(x.ToSvc), s.Dnat);
        var (valid1, possible1) = Nat(s, x.Port, x.W1, s.Tracked);
        var untrackedAll = Enumerable.Range(0, Slots).Select(_ => _z.MkFalse()).ToArray();
        var (validAfterExpiry, _) = Nat(s, x.Port, x.W2, untrackedAll);
        var tracked = s.Tracking;
        var wire1 = (BitVecExpr)_z.MkITE(tracked, x.W1, x.Port);
        c.Add(_z.MkImplies(_z.MkAnd(connect, reach, tracked), _z.MkImplies(possible1, valid1)));
        // Every outcome below is the connect's: on other steps none of them holds.
        var dropped = _z.MkAnd(connect, reach, tracked, _z.MkNot(possible1));
        // Expiry: the dropped connect's third SYN finds every idle entry gone.
        var retried = Config.Expiry ? dropped : _z.MkFalse();
        var collide1 = _z.MkAnd(connect, reach, _z.MkNot(dropped), Collides(s, wire1, s.Tracked));
        var collideRetry = _z.MkAnd(retried, Collides(s, x.W2, untrackedAll));
        c.Add(_z.MkImplies(_z.MkAnd(connect, retried), validAfterExpiry));
        c.Add(_z.MkEq(x.Violation, _z.MkAnd(connect, _z.MkOr(collide1, collideRetry))));
        var established = _z.MkAnd(reach, _z.MkOr(_z.MkNot(dropped), retried));
        var finalWire = (BitVecExpr)_z.MkITE(retried, x.W2, wire1);

        var flush = _z.MkOr(Is(x, Op.Flush), Is(x, Op.Expire), _z.MkAnd(connect, retried));
        c.Add(_z.MkEq(n.Tracking, _z.MkOr(s.Tracking, Is(x, Op.SnatAdd), Is(x, Op.DnatAdd), Is(x, Op.Modprobe))));
        c.Add(_z.MkEq(n.Snat, _z.MkOr(s.Snat, Is(x, Op.SnatAdd))));
        c.Add(_z.MkEq(n.Dnat, _z.MkOr(s.Dnat, Is(x, Op.DnatAdd))));
        c.Add(_z.MkImplies(Is(x, Op.SnatAdd), _z.MkAnd(_z.MkBVUGE(x.RuleLo, Bv(1024)), _z.MkBVULE(x.RuleLo, x.RuleHi))));
        c.Add(_z.MkEq(n.Lo, (BitVecExpr)_z.MkITE(Is(x, Op.SnatAdd), x.RuleLo, s.Lo)));
        c.Add(_z.MkEq(n.Hi, (BitVecExpr)_z.MkITE(Is(x, Op.SnatAdd), x.RuleHi, s.Hi)));

        for (var i = 0; i < Slots; i++)
        {
            var me = _z.MkAnd(connect, _z.MkNot(s.Used[i]), i == 0 ? _z.MkTrue() : s.Used[i - 1]);
            c.Add(_z.MkEq(n.Used[i], _z.MkOr(s.Used[i], me)));
            c.Add(_z.MkEq(n.Bound[i], (BoolExpr)_z.MkITE(me, x.Bound, s.Bound[i])));
            c.Add(_z.MkEq(n.Svc[i], (BoolExpr)_z.MkITE(me, x.ToSvc, s.Svc[i])));
            c.Add(_z.MkEq(n.Local[i], (BitVecExpr)_z.MkITE(me, x.Port, s.Local[i])));
            c.Add(_z.MkEq(n.Open[i], (BoolExpr)_z.MkITE(me, established, s.Open[i])));
            c.Add(_z.MkEq(n.Wire[i], (BitVecExpr)_z.MkITE(me, (BitVecExpr)_z.MkITE(established, finalWire, Bv(0)), s.Wire[i])));
            c.Add(_z.MkEq(n.Live[i], (BoolExpr)_z.MkITE(me, established, s.Live[i])));
            c.Add(_z.MkEq(n.Tracked[i], (BoolExpr)_z.MkITE(me, _z.MkAnd(established, tracked), _z.MkAnd(s.Tracked[i], _z.MkNot(flush)))));
            c.Add(_z.MkEq(n.Origin[i], s.Origin[i]));
            c.Add(_z.MkEq(n.NodeAddr[i], s.NodeAddr[i]));
        }
        c.Add(_z.MkEq(x.Origin, _z.MkBV(0, OriginBits)));
        return _z.MkAnd([.. c]);
    }

    private BoolExpr IsOrigin(BitVecExpr v, int k) => _z.MkEq(v, _z.MkBV(k, OriginBits));

    /// <summary>Does an entry of node's table use node's address and <paramref name="port"/> in its reply tuple?</summary>
    private BoolExpr TakenOnNode(State s, BitVecExpr port) =>
        _z.MkOr([.. Enumerable.Range(0, Slots).Select(j => _z.MkAnd(s.Tracked[j], s.NodeAddr[j], _z.MkEq(s.Wire[j], port)))]);

    /// <summary>A port of 1024-65535 that no entry of node's table uses exists.</summary>
    private BoolExpr FreeOnNode(State s)
    {
        var tracked = Enumerable.Range(0, Slots).Select(j => _z.MkAnd(s.Tracked[j], s.NodeAddr[j])).ToArray();
        return FreeExists(s, Bv(NullBindingLow), Bv(65535), tracked);
    }

    /// <summary>A node's rule state: the one rule (the pods' MASQUERADE) starts tracking when it is added; no SNAT range, no DNAT.</summary>
    private BoolExpr NodeRuleStep(State s, Step x, State n) => _z.MkAnd(
        _z.MkEq(n.Tracking, _z.MkOr(s.Tracking, Is(x, Op.SnatAdd))),
        _z.MkEq(n.Snat, _z.MkOr(s.Snat, Is(x, Op.SnatAdd))),
        _z.MkEq(n.Dnat, s.Dnat), _z.MkEq(n.Lo, s.Lo), _z.MkEq(n.Hi, s.Hi));

    /// <summary>The node configurations' transition (see the class remarks).</summary>
    private BoolExpr NodeTransition(State s, Step x, State n, int t)
    {
        var c = new List<BoolExpr>();
        var allowed = new List<BoolExpr> { Is(x, Op.Connect), _z.MkAnd(Is(x, Op.SnatAdd), _z.MkNot(s.Snat)) };
        if (Config.Flush) allowed.Add(Is(x, Op.Flush));
        c.Add(_z.MkOr([.. allowed]));
        if (Config.TrackingFromStart && t == 0) c.Add(Is(x, Op.SnatAdd));
        c.Add(_z.MkNot(x.ToSvc));
        c.Add(_z.MkBVULE(x.Origin, _z.MkBV(Config.Pods, OriginBits)));

        var connect = Is(x, Op.Connect);
        c.Add(_z.MkImplies(connect, _z.MkNot(s.Used[Slots - 1])));
        // Bind conflicts and the ephemeral search are per namespace (the socket hashes compare the namespace).
        BoolExpr SameNs(int j) => _z.MkAnd(s.Open[j], _z.MkEq(s.Origin[j], x.Origin));
        var boundOk = _z.MkAnd([_z.MkBVUGE(x.Port, Bv(1024)),
            .. Enumerable.Range(0, Slots).Select(j => _z.MkImplies(SameNs(j), _z.MkNot(_z.MkEq(s.Local[j], x.Port))))]);
        var ephemeralOk = _z.MkAnd([Between(x.Port, Bv(EphemeralLow), Bv(EphemeralHigh)), _z.MkEq(_z.MkExtract(0, 0, x.Port), _z.MkBV(0, 1)),
            .. Enumerable.Range(0, Slots).Select(j => _z.MkImplies(SameNs(j), _z.MkNot(_z.MkEq(s.Local[j], x.Port))))]);
        c.Add(_z.MkImplies(connect, (BoolExpr)_z.MkITE(x.Bound, boundOk, ephemeralOk)));
        if (Config.PortSpan is { } span) c.Add(_z.MkImplies(_z.MkAnd(connect, x.Bound), Between(x.Port, Bv(40000), Bv(40000 + span - 1))));

        // Node's SRC manip: the null binding for node's own process, MASQUERADE for a pod; both to node's address.
        var tracked = s.Tracking;
        var fromNode = IsOrigin(x.Origin, 0);
        var keep = _z.MkNot(TakenOnNode(s, x.Port));
        var anyFree = _z.MkAnd(Between(x.W1, Bv(NullBindingLow), Bv(65535)), _z.MkNot(TakenOnNode(s, x.W1)));
        var valid = Config.RandomFully
            ? (BoolExpr)_z.MkITE(fromNode, _z.MkITE(keep, _z.MkEq(x.W1, x.Port), anyFree), anyFree)
            : (BoolExpr)_z.MkITE(keep, _z.MkEq(x.W1, x.Port), anyFree);
        var possible = _z.MkOr(_z.MkAnd(keep, Config.RandomFully ? fromNode : _z.MkTrue()), FreeOnNode(s));
        c.Add(_z.MkImplies(_z.MkAnd(connect, tracked), _z.MkImplies(possible, valid)));
        var dropped = _z.MkAnd(connect, tracked, _z.MkNot(possible));
        var onNode = _z.MkOr(fromNode, tracked);
        var wire = (BitVecExpr)_z.MkITE(tracked, x.W1, x.Port);
        var collide = _z.MkAnd(connect, _z.MkNot(dropped), onNode,
            _z.MkOr([.. Enumerable.Range(0, Slots).Select(j => _z.MkAnd(s.Live[j], _z.MkNot(s.Tracked[j]), s.NodeAddr[j], _z.MkEq(s.Wire[j], wire)))]));
        c.Add(_z.MkEq(x.Violation, collide));
        var established = _z.MkNot(dropped);

        var flush = Is(x, Op.Flush);
        c.Add(NodeRuleStep(s, x, n));
        for (var i = 0; i < Slots; i++)
        {
            var me = _z.MkAnd(connect, _z.MkNot(s.Used[i]), i == 0 ? _z.MkTrue() : s.Used[i - 1]);
            c.Add(_z.MkEq(n.Used[i], _z.MkOr(s.Used[i], me)));
            c.Add(_z.MkEq(n.Bound[i], (BoolExpr)_z.MkITE(me, x.Bound, s.Bound[i])));
            c.Add(_z.MkEq(n.Svc[i], s.Svc[i]));
            c.Add(_z.MkEq(n.Origin[i], (BitVecExpr)_z.MkITE(me, x.Origin, s.Origin[i])));
            c.Add(_z.MkEq(n.Local[i], (BitVecExpr)_z.MkITE(me, x.Port, s.Local[i])));
            c.Add(_z.MkEq(n.Open[i], (BoolExpr)_z.MkITE(me, established, s.Open[i])));
            c.Add(_z.MkEq(n.Wire[i], (BitVecExpr)_z.MkITE(me, (BitVecExpr)_z.MkITE(established, wire, Bv(0)), s.Wire[i])));
            c.Add(_z.MkEq(n.NodeAddr[i], (BoolExpr)_z.MkITE(me, _z.MkAnd(established, onNode), s.NodeAddr[i])));
            c.Add(_z.MkEq(n.Live[i], (BoolExpr)_z.MkITE(me, established, s.Live[i])));
            c.Add(_z.MkEq(n.Tracked[i], (BoolExpr)_z.MkITE(me, _z.MkAnd(established, tracked), _z.MkAnd(s.Tracked[i], _z.MkNot(flush)))));
        }
        return _z.MkAnd([.. c]);
    }

    /// <summary>The selected slot (<see cref="Step.Slot"/>)?</summary>
    private BoolExpr Sel(Step x, int i) => _z.MkEq(x.Slot, _z.MkBV(i, SlotBits));

    private BoolExpr SelBool(Step x, BoolExpr[] a) => _z.MkOr([.. Enumerable.Range(0, Slots).Select(i => _z.MkAnd(Sel(x, i), a[i]))]);

    private BitVecExpr SelBv(Step x, BitVecExpr[] a)
    {
        BitVecExpr v = a[Slots - 1];
        for (var i = Slots - 2; i >= 0; i--) v = (BitVecExpr)_z.MkITE(Sel(x, i), a[i], v);
        return v;
    }

    /// <summary>
    /// The UDP node configurations' transition. Per slot, a flow: its origin, local port (bound, or automatic from
    /// 32768-60999) and whether its socket is open; whether node's table has an entry for it (<see cref="State.Tracked"/>)
    /// and that entry's mapping (on node's address or the pod's own, <see cref="State.NodeAddr"/>, port
    /// <see cref="State.Wire"/>); whether the server heard it (<see cref="State.Live"/>) and from where
    /// (<see cref="State.HeardNode"/>, <see cref="State.HeardWire"/>). Steps: connect -u (no packet), a flow's datagram,
    /// the server's answer to where it last heard a flow, the pods' MASQUERADE rule, and (expiry) a sleep past every
    /// UDP timeout.
    /// A datagram of a flow with an entry is heard at the entry's mapping; without one, once tracking is on, node makes
    /// an entry and a NAT decision on node's address (the null binding for node's own socket, MASQUERADE for a pod's:
    /// keep the port unless an entry's mapping holds it, else any free port of 1024-65535); untracked it is heard from
    /// its own address and port. An answer goes to the entry whose mapping it is addressed to (delivered to that entry's
    /// flow); with none, to the socket bound there (a pod's address: the flow itself; node's: node's flow on that port),
    /// and once tracking is on node makes an entry for it, the server's flow, whose mapping is that address.
    /// Violations: a datagram heard from an address the server last heard another flow from
    /// (<c>wire-tuple-uniqueness</c>), an answer delivered to another flow (and <c>no-foreign-delivery</c>).
    /// Outside this fragment, so its steps cannot take them: closes, a port used twice in a namespace, an answer to an
    /// address where nothing receives it once tracking is on (node would keep an entry for no socket), and an answer
    /// reaching a node socket whose own flow has an entry with another mapping (node's entry for the answer would
    /// move the server's port).
    /// </summary>
    private BoolExpr UdpTransition(State s, Step x, State n, int t)
    {
        var c = new List<BoolExpr>();
        var allowed = new List<BoolExpr> { Is(x, Op.Connect), Is(x, Op.Send), Is(x, Op.Answer), _z.MkAnd(Is(x, Op.SnatAdd), _z.MkNot(s.Snat)) };
        if (Config.Expiry) allowed.Add(Is(x, Op.Expire));
        c.Add(_z.MkOr([.. allowed]));
        if (Config.TrackingFromStart && t == 0) c.Add(Is(x, Op.SnatAdd));
        c.Add(_z.MkNot(x.ToSvc));
        c.Add(_z.MkBVULE(x.Origin, _z.MkBV(Config.Pods, OriginBits)));
        c.Add(_z.MkBVULT(x.Slot, _z.MkBV(Slots, SlotBits)));

        var connect = Is(x, Op.Connect);
        var send = Is(x, Op.Send);
        var answer = Is(x, Op.Answer);
        var expire = Is(x, Op.Expire);
        // Operands of the other steps are fixed, so a decoded trace has one reading.
        c.Add(_z.MkImplies(_z.MkNot(_z.MkOr(send, answer)), _z.MkEq(x.Slot, _z.MkBV(0, SlotBits))));
        c.Add(_z.MkImplies(_z.MkNot(connect), _z.MkEq(x.Origin, _z.MkBV(0, OriginBits))));

        c.Add(_z.MkImplies(connect, _z.MkNot(s.Used[Slots - 1])));
        // A port no flow of the namespace ever had (no reuse in the fragment; without closes, every used one is held).
        BoolExpr SameNs(int j) => _z.MkAnd(s.Used[j], _z.MkEq(s.Origin[j], x.Origin));
        var fresh = _z.MkAnd([.. Enumerable.Range(0, Slots).Select(j => _z.MkImplies(SameNs(j), _z.MkNot(_z.MkEq(s.Local[j], x.Port))))]);
        var boundOk = _z.MkAnd(_z.MkBVUGE(x.Port, Bv(1024)), fresh);
        var ephemeralOk = _z.MkAnd(Between(x.Port, Bv(EphemeralLow), Bv(EphemeralHigh)), fresh);
        c.Add(_z.MkImplies(connect, (BoolExpr)_z.MkITE(x.Bound, boundOk, ephemeralOk)));
        if (Config.PortSpan is { } span) c.Add(_z.MkImplies(_z.MkAnd(connect, x.Bound), Between(x.Port, Bv(40000), Bv(40000 + span - 1))));

        // A datagram of the selected flow.
        c.Add(_z.MkImplies(send, SelBool(x, s.Used)));
        var tracked = SelBool(x, s.Tracked);
        var origin = SelBv(x, s.Origin);
        var local = SelBv(x, s.Local);
        var fromNode = IsOrigin(origin, 0);
        var newEntry = _z.MkAnd(send, s.Tracking, _z.MkNot(tracked));
        var keep = _z.MkNot(TakenOnNode(s, local));
        var anyFree = _z.MkAnd(Between(x.W1, Bv(NullBindingLow), Bv(65535)), _z.MkNot(TakenOnNode(s, x.W1)));
        c.Add(_z.MkImplies(newEntry, (BoolExpr)_z.MkITE(keep, _z.MkEq(x.W1, local), anyFree)));
        var heardNode = (BoolExpr)_z.MkITE(tracked, SelBool(x, s.NodeAddr), _z.MkOr(s.Tracking, fromNode));
        var heardWire = (BitVecExpr)_z.MkITE(tracked, SelBv(x, s.Wire), _z.MkITE(s.Tracking, x.W1, local));
        BoolExpr SameAddress(int j, BoolExpr node, BitVecExpr port, BitVecExpr from, BoolExpr[] nodeFlags, BitVecExpr[] ports) =>
            _z.MkAnd(_z.MkEq(nodeFlags[j], node), _z.MkOr(node, _z.MkEq(s.Origin[j], from)), _z.MkEq(ports[j], port));
        var heardTwice = _z.MkAnd(send, _z.MkOr([.. Enumerable.Range(0, Slots).Select(j =>
            _z.MkAnd(_z.MkNot(Sel(x, j)), s.Live[j], SameAddress(j, heardNode, heardWire, origin, s.HeardNode, s.HeardWire)))]));

        // The server's answer to where it last heard the selected flow.
        c.Add(_z.MkImplies(answer, SelBool(x, s.Live)));
        var hn = SelBool(x, s.HeardNode);
        var hw = SelBv(x, s.HeardWire);
        var entryHit = Enumerable.Range(0, Slots).Select(j => _z.MkAnd(s.Tracking, s.Tracked[j], SameAddress(j, hn, hw, origin, s.NodeAddr, s.Wire))).ToArray();
        var anyEntry = _z.MkOr(entryHit);
        var socketHit = Enumerable.Range(0, Slots).Select(j => _z.MkAnd(_z.MkNot(anyEntry),
            (BoolExpr)_z.MkITE(hn, _z.MkAnd(s.Used[j], IsOrigin(s.Origin[j], 0), _z.MkEq(s.Local[j], hw)), Sel(x, j)))).ToArray();
        var target = Enumerable.Range(0, Slots).Select(j => _z.MkOr(entryHit[j], socketHit[j])).ToArray();
        c.Add(_z.MkImplies(answer, _z.MkOr(target)));
        c.Add(_z.MkImplies(_z.MkAnd(answer, s.Tracking), _z.MkAnd([.. Enumerable.Range(0, Slots).Select(j => _z.MkImplies(socketHit[j], _z.MkNot(s.Tracked[j])))])));
        var misdelivered = _z.MkAnd(answer, _z.MkOr([.. Enumerable.Range(0, Slots).Select(j => _z.MkAnd(target[j], _z.MkNot(Sel(x, j))))]));
        c.Add(_z.MkEq(x.Violation, _z.MkOr(heardTwice, misdelivered)));

        c.Add(NodeRuleStep(s, x, n));
        for (var i = 0; i < Slots; i++)
        {
            var me = _z.MkAnd(connect, _z.MkNot(s.Used[i]), i == 0 ? _z.MkTrue() : s.Used[i - 1]);
            var sends = _z.MkAnd(send, Sel(x, i));
            var opened = _z.MkAnd(newEntry, Sel(x, i));
            var answered = _z.MkAnd(answer, s.Tracking, socketHit[i]);
            c.Add(_z.MkEq(n.Used[i], _z.MkOr(s.Used[i], me)));
            c.Add(_z.MkEq(n.Open[i], _z.MkOr(s.Open[i], me)));
            c.Add(_z.MkEq(n.Bound[i], (BoolExpr)_z.MkITE(me, x.Bound, s.Bound[i])));
            c.Add(_z.MkEq(n.Svc[i], s.Svc[i]));
            c.Add(_z.MkEq(n.Origin[i], (BitVecExpr)_z.MkITE(me, x.Origin, s.Origin[i])));
            c.Add(_z.MkEq(n.Local[i], (BitVecExpr)_z.MkITE(me, x.Port, s.Local[i])));
            c.Add(_z.MkEq(n.Live[i], _z.MkOr(s.Live[i], sends)));
            c.Add(_z.MkEq(n.HeardNode[i], (BoolExpr)_z.MkITE(sends, heardNode, s.HeardNode[i])));
            c.Add(_z.MkEq(n.HeardWire[i], (BitVecExpr)_z.MkITE(sends, heardWire, s.HeardWire[i])));
            c.Add(_z.MkEq(n.Tracked[i], _z.MkAnd(_z.MkNot(expire), _z.MkOr(s.Tracked[i], opened, answered))));
            // An expired entry maps nothing (so a state says only what the table holds).
            c.Add(_z.MkEq(n.NodeAddr[i], (BoolExpr)_z.MkITE(expire, _z.MkFalse(), _z.MkITE(opened, _z.MkTrue(), _z.MkITE(answered, hn, s.NodeAddr[i])))));
            c.Add(_z.MkEq(n.Wire[i], (BitVecExpr)_z.MkITE(expire, Bv(0), _z.MkITE(opened, x.W1, _z.MkITE(answered, hw, s.Wire[i])))));
        }
        return _z.MkAnd([.. c]);
    }
}
