using System.Collections.Immutable;
using System.Globalization;
using ConntrackModel.Model.Addressing;
using ConntrackModel.Model.Choices;
using ConntrackModel.Model.Iptables;
using ConntrackModel.Model.Kernel;
using ConntrackModel.Model.Nat;
using ConntrackModel.Model.Packets;
using ConntrackModel.Model.Scenarios;
using ConntrackModel.Solver.Native;
using Microsoft.Z3;

namespace ConntrackModel.Solver.Bmc;

/// <summary>
/// One semantics: drives the encoding with a concrete run of the model, step by step. Each world is abstracted to
/// the encoding's state (<see cref="Abstract"/>); for every step the encoding must accept the step from the
/// abstract state before it, and force exactly the abstract state after it and the same violation flag. At the first
/// violating step only the flag is compared, and the run ends there: the encoding leaves what follows unspecified.
/// </summary>
public static class Agreement
{
    /// <summary>What <see cref="Check"/> returns for a run it cannot judge: its NAT took the u16-wrap drop.</summary>
    public const string WrapMiss = "skipped: a NAT round wrapped its u16 offset past free ports (not in the encoding)";

    /// <summary>What <see cref="Check"/> returns for a run with more connects than the encoding has slots.</summary>
    public static string TooLong => string.Create(CultureInfo.InvariantCulture, $"skipped: more than {ModelChecker.MaxSlots} connects (the encoding's slots)");

    /// <summary>Is <paramref name="verdict"/> one of the two runs <see cref="Check"/> cannot judge, rather than a disagreement?</summary>
    public static bool IsSkip(string? verdict) => verdict == WrapMiss || verdict == TooLong;

    /// <summary>
    /// Null if the encoding agrees with the concrete run of <paramref name="scenario"/>; else the first step where
    /// it does not, or why the run cannot be judged (<see cref="IsSkip"/>). The encoding leaves out one outcome the
    /// model keeps: for a range size that does not divide 65536, a round starting in the last few u16 offsets
    /// revisits ports after the wrap and can miss every free one (a drop at confirm, for about one offset in 65536);
    /// runs that took it return <see cref="WrapMiss"/>. Runs with more connects than slots return
    /// <see cref="TooLong"/>; neither ever counts as agreement.
    /// </summary>
    public static string? Check(SymbolicConfig config, Scenario scenario, ChoiceSource choices)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(scenario);
        Z3Runtime.Ensure();
        var trace = Simulation.Trace(scenario, choices, World.Initial).ToList();
        if (trace.Any(t => t.Rejected is not null)) return "the concrete model rejects the scenario";
        if (config.OutsideFragment is { } why) return $"configuration {config.Name} has no symbolic fragment: {why}";
        var setup = config.FixedLines;
        var slots = Math.Max(1, trace.Count(t => t.Step.Line.Command is Command.Connect));
        using var z = new Context();
        var enc = new Encoding(z, config, Math.Min(ModelChecker.MaxSlots, slots));
        if (slots > ModelChecker.MaxSlots) return TooLong;
        var before = trace[setup - 1].After;
        for (var k = setup; k < trace.Count; k++)
        {
            var (step, after, _) = trace[k];
            if (step.Events.OfType<KernelEvent.Choice>().Any(c => c.Made.Alternatives.Length > c.Made.Value &&
                    c.Made.Alternatives[c.Made.Value].EndsWith("(in use: clash at confirm)", StringComparison.Ordinal) &&
                    c.Made.Alternatives.Any(a => !a.Contains('(', StringComparison.Ordinal))))
                return WrapMiss;
            var t = k - setup;
            var s = enc.NewState($"a{t}");
            var n = enc.NewState($"b{t}");
            var x = enc.NewStep(t);
            var concreteBefore = Abstract(z, enc, s, before);
            var concreteAfter = Abstract(z, enc, n, after);
            if ((config.Udp ? UdpInputs(z, x, step, after) : Inputs(z, x, step, before, after)) is not { } inputs)
                return $"step {step.Step} ({step.Line.Command.ToScript()}) is outside the symbolic fragment";
            var violated = step.Violations.Any(v => v.Invariant != Model.Diagnostics.InvariantId.CtTupleUniqueness);
            var solver = z.MkSolver();
            solver.Assert(concreteBefore, inputs, enc.Transition(s, x, n, t));
            if (solver.Check() != Status.SATISFIABLE) return $"step {step.Step} ({step.Line.Command.ToScript()}): the encoding does not allow this step";
            solver.Push();
            solver.Assert(z.MkNot(violated ? x.Violation : z.MkAnd(concreteAfter, z.MkNot(x.Violation))));
            if (solver.Check() == Status.SATISFIABLE)
            {
                var m = solver.Model;
                return $"step {step.Step} ({step.Line.Command.ToScript()}): the encoding allows another outcome: {Describe(m, enc, n, x)}; concrete: {DescribeConcrete(after, enc.Slots)}, violation {violated}";
            }
            solver.Pop();
            if (violated) break;
            solver.Assert(concreteAfter);
            if (solver.Check() != Status.SATISFIABLE) return $"step {step.Step}: the encoding cannot reach the concrete state {DescribeConcrete(after, enc.Slots)}";
            before = after;
        }
        return null;
    }

    private static readonly SockAddr Service = new(new IPv4Address(0x7F000002), 80);

    private static BitVecNum Bv(Context z, int v) => z.MkBV(v, Encoding.PortBits);

    /// <summary>The abstraction of a concrete world, as equalities on <paramref name="s"/>.</summary>
    public static BoolExpr Abstract(Context z, Encoding enc, Encoding.State s, World w)
    {
        ArgumentNullException.ThrowIfNull(z);
        ArgumentNullException.ThrowIfNull(enc);
        ArgumentNullException.ThrowIfNull(s);
        ArgumentNullException.ThrowIfNull(w);
        if (enc.Config.Udp) return AbstractUdp(z, enc, s, w);
        var f = new List<BoolExpr>();
        var snat = w.Netfilter.Rules.FirstOrDefault(r => r.Target is IptTarget.Snat);
        var node = enc.Config.IsNode;
        f.Add(z.MkEq(s.Tracking, z.MkBool(w.Netfilter.Tracking)));
        // On the node the rule step is the pods' MASQUERADE rule; node's table is the one the encoding tracks.
        f.Add(z.MkEq(s.Snat, z.MkBool(node ? w.Netfilter.Rules.Any(r => r.Target is IptTarget.Masquerade) : snat is not null)));
        f.Add(z.MkEq(s.Dnat, z.MkBool(w.Netfilter.Rules.Any(r => r.Target is IptTarget.Dnat))));
        var range = (snat?.Target as IptTarget.Snat)?.Range;
        f.Add(z.MkEq(s.Lo, Bv(z, range?.MinPort ?? 0)));
        f.Add(z.MkEq(s.Hi, Bv(z, range?.MaxPort ?? 0)));
        for (var i = 0; i < enc.Slots; i++)
        {
            var c = w.FindConnection(Scenario.ConnectionName(i));
            var client = c is null ? null : w.Sockets.End(c.Name);
            var server = c is null ? null : w.Sockets.End(c.Name + ".server") is { Accepted: true } sv ? sv : null;
            // An entry counts for a connection whose socket still holds the tuple (a refused connect's tuple may
            // be reused by a later one, whose entry is then not the refused one's).
            var tracked = c is not null && client is { AppClosed: false, Gone: false } && w.Conntrack.Live(w.Now, 0).Any(e => e.Orig.Src == c.Local && e.Orig.Dst == c.Remote);
            var origin = client is null ? 0 : NodeTopology.OriginOf(w.Namespaces[client.Netns].Name);
            f.Add(z.MkEq(s.Origin[i], z.MkBV(node ? origin : 0, Encoding.OriginBits)));
            f.Add(z.MkEq(s.NodeAddr[i], z.MkBool(node && server is not null && server.Remote.Ip == NodeTopology.NodeAddress)));
            f.Add(z.MkEq(s.Used[i], z.MkBool(c is not null)));
            f.Add(z.MkEq(s.Open[i], z.MkBool(client is { AppClosed: false, Gone: false })));
            f.Add(z.MkEq(s.Live[i], z.MkBool(server is { Gone: false })));
            f.Add(z.MkEq(s.Tracked[i], z.MkBool(tracked)));
            f.Add(z.MkEq(s.Bound[i], z.MkBool(client?.ExplicitBind ?? false)));
            f.Add(z.MkEq(s.Svc[i], z.MkBool(c is not null && c.Remote == Service)));
            f.Add(z.MkEq(s.Local[i], Bv(z, c?.Local.Port ?? 0)));
            f.Add(z.MkEq(s.Wire[i], Bv(z, server?.Remote.Port ?? 0)));
        }
        return z.MkAnd([.. f]);
    }

    /// <summary>
    /// A UDP node world as the UDP fragment's state: per flow its socket, the server's last view of it, and node's
    /// entry for it (made by its own datagram, mapping it to the entry's reply destination, or by the server's answer,
    /// mapping it to its own address and port).
    /// </summary>
    private static BoolExpr AbstractUdp(Context z, Encoding enc, Encoding.State s, World w)
    {
        var f = new List<BoolExpr>
        {
            z.MkEq(s.Tracking, z.MkBool(w.Netfilter.Tracking)),
            z.MkEq(s.Snat, z.MkBool(w.Netfilter.Rules.Any(r => r.Target is IptTarget.Masquerade))),
            z.MkNot(s.Dnat), z.MkEq(s.Lo, Bv(z, 0)), z.MkEq(s.Hi, Bv(z, 0)),
        };
        var entries = w.Conntrack.Live(w.Now, 0).Where(e => e.Proto == L4Proto.Udp).ToList();
        for (var i = 0; i < enc.Slots; i++)
        {
            var name = Scenario.ConnectionName(i);
            var c = w.FindConnection(name);
            var sock = c is null ? null : w.Sockets.Udp(name);
            var origin = sock is null ? 0 : NodeTopology.OriginOf(w.Namespaces[sock.Netns].Name);
            var own = new SockAddr(NodeTopology.Address(origin), c?.Local.Port ?? 0);
            var peer = c is null ? null : w.Sockets.Peer(name);
            (bool Node, int Port)? mapping = null;
            if (c is not null)
            {
                if (entries.FirstOrDefault(e => e.Orig.Src == own && e.Orig.Dst == NodeTopology.UdpServer) is { } mine) mapping = (mine.Reply.Dst.Ip == NodeTopology.NodeAddress, mine.Reply.Dst.Port);
                else if (entries.Any(e => e.Orig.Src == NodeTopology.UdpServer && e.Orig.Dst == own)) mapping = (origin == 0, own.Port);
            }
            f.Add(z.MkEq(s.Used[i], z.MkBool(c is not null)));
            f.Add(z.MkEq(s.Open[i], z.MkBool(sock is { Closed: false })));
            f.Add(z.MkEq(s.Bound[i], z.MkBool(sock?.ExplicitBind ?? false)));
            f.Add(z.MkNot(s.Svc[i]));
            f.Add(z.MkEq(s.Origin[i], z.MkBV(origin, Encoding.OriginBits)));
            f.Add(z.MkEq(s.Local[i], Bv(z, own.Port)));
            f.Add(z.MkEq(s.Live[i], z.MkBool(peer is not null)));
            f.Add(z.MkEq(s.HeardNode[i], z.MkBool(peer is not null && peer.LastFrom.Ip == NodeTopology.NodeAddress)));
            f.Add(z.MkEq(s.HeardWire[i], Bv(z, peer?.LastFrom.Port ?? 0)));
            f.Add(z.MkEq(s.Tracked[i], z.MkBool(mapping is not null)));
            f.Add(z.MkEq(s.NodeAddr[i], z.MkBool(mapping?.Node ?? false)));
            f.Add(z.MkEq(s.Wire[i], Bv(z, mapping?.Port ?? 0)));
        }
        return z.MkAnd([.. f]);
    }

    /// <summary>A UDP step's inputs (the flow by its slot; a datagram's port as it left node); null outside the fragment.</summary>
    private static BoolExpr? UdpInputs(Context z, Encoding.Step x, StepRecord step, World after)
    {
        var f = new List<BoolExpr>();
        Op op;
        int Slot(string end) => after.FindConnection(Segment.ConnectionOf(end))!.Ordinal;
        if (step.Line.Command is not Command.Connect) f.Add(z.MkEq(x.Origin, z.MkBV(0, Encoding.OriginBits)));
        if (step.Line.Command is not Command.Send) f.Add(z.MkEq(x.Slot, z.MkBV(0, Encoding.SlotBits)));
        switch (step.Line.Command)
        {
            case Command.Connect { Proto: L4Proto.Udp } c:
                op = Op.Connect;
                f.Add(z.MkEq(x.Origin, z.MkBV(Math.Max(0, NodeTopology.OriginOf(c.Netns)), Encoding.OriginBits)));
                f.Add(z.MkEq(x.Bound, z.MkBool(c.Local is not null)));
                f.Add(z.MkEq(x.Port, Bv(z, after.FindConnection(c.Name)!.Local.Port)));
                break;
            case Command.Send send:
                op = send.End.EndsWith(".server", StringComparison.Ordinal) ? Op.Answer : Op.Send;
                // An answer that reaches no socket (node keeps an entry for nothing) is outside the fragment.
                if (op == Op.Answer && step.Events.OfType<KernelEvent.Delivered>().Any(d => d.End == "(no socket)" && d.Segment.Icmp is null)) return null;
                f.Add(z.MkEq(x.Slot, z.MkBV(Slot(send.End), Encoding.SlotBits)));
                // As node sends it on to the server.
                if (op == Op.Send && step.Events.OfType<KernelEvent.Captured>().FirstOrDefault(e => e.Netns is null && e.Device == "eth1" && e.Segment.Origin == send.End) is { } out1)
                    f.Add(z.MkEq(x.W1, Bv(z, out1.Segment.Tuple.Src.Port)));
                break;
            case Command.IptablesAdd { Rule.Target: IptTarget.Masquerade }:
                op = Op.SnatAdd;
                break;
            case Command.Sleep:
                op = Op.Expire;
                break;
            default:
                return null;
        }
        f.Add(z.MkEq(x.Op, z.MkBV((int)op, 3)));
        return z.MkAnd([.. f]);
    }

    /// <summary>The step's inputs as equalities on <paramref name="x"/>; null for a command outside the symbolic fragment.</summary>
    private static BoolExpr? Inputs(Context z, Encoding.Step x, StepRecord step, World before, World after)
    {
        Op op;
        var f = new List<BoolExpr>();
        if (step.Line.Command is not Command.Connect) f.Add(z.MkEq(x.Origin, z.MkBV(0, Encoding.OriginBits)));
        switch (step.Line.Command)
        {
            case Command.Connect c:
                op = Op.Connect;
                f.Add(z.MkEq(x.Origin, z.MkBV(Math.Max(0, NodeTopology.OriginOf(c.Netns)), Encoding.OriginBits)));
                var conn = after.FindConnection(c.Name)!;
                f.Add(z.MkEq(x.Bound, z.MkBool(c.Local is not null)));
                f.Add(z.MkEq(x.ToSvc, z.MkBool(c.Remote == Service)));
                f.Add(z.MkEq(x.Port, Bv(z, conn.Local.Port)));
                // As node's side sends it (a pod's SYN is captured in the pod too, before node NATs it).
                var syns = step.Events.OfType<KernelEvent.Captured>().Where(e => e.Netns is null && e.Segment.Origin == c.Name && e.Segment.Has(TcpFlags.Syn)).ToList();
                if (syns.Count > 0) f.Add(z.MkEq(x.W1, Bv(z, syns[0].Segment.Tuple.Src.Port)));
                if (after.Sockets.End(c.Name + ".server") is { Accepted: true } server) f.Add(z.MkEq(x.W2, Bv(z, server.Remote.Port)));
                break;
            case Command.IptablesAdd { Rule.Target: IptTarget.Snat snat }:
                op = Op.SnatAdd;
                f.Add(z.MkEq(x.RuleLo, Bv(z, snat.Range.MinPort)));
                f.Add(z.MkEq(x.RuleHi, Bv(z, snat.Range.MaxPort)));
                break;
            case Command.IptablesAdd { Rule.Target: IptTarget.Masquerade }:
                op = Op.SnatAdd;
                break;
            case Command.IptablesAdd { Rule.Target: IptTarget.Dnat }:
                op = Op.DnatAdd;
                break;
            case Command.Modprobe:
                op = Op.Modprobe;
                break;
            case Command.ConntrackFlush:
                op = Op.Flush;
                break;
            case Command.Sleep:
                op = Op.Expire;
                break;
            default:
                return null;
        }
        f.Add(z.MkEq(x.Op, z.MkBV((int)op, 3)));
        return z.MkAnd([.. f]);
    }

    private static string Describe(Microsoft.Z3.Model m, Encoding enc, Encoding.State n, Encoding.Step x) =>
        string.Join(" ", Enumerable.Range(0, enc.Slots).Select(i =>
            $"{Scenario.ConnectionName(i)}[used={m.Eval(n.Used[i], true)} open={m.Eval(n.Open[i], true)} live={m.Eval(n.Live[i], true)} tracked={m.Eval(n.Tracked[i], true)} wire={m.Eval(n.Wire[i], true)}]")) +
        $" violation={m.Eval(x.Violation, true)}";

    private static string DescribeConcrete(World w, int slots) =>
        string.Join(" ", Enumerable.Range(0, slots).Select(i => Scenario.ConnectionName(i)).Select(name =>
        {
            var c = w.FindConnection(name);
            if (c is null) return $"{name}[unused]";
            var server = w.Sockets.End(name + ".server");
            return string.Create(CultureInfo.InvariantCulture, $"{name}[{c.Result} local={c.Local.Port} server={(server is null ? "none" : server.Gone ? "gone" : "live")} wire={server?.Remote.Port}]");
        }));
}
