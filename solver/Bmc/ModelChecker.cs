using System.Collections.Immutable;
using System.Diagnostics;
using System.Globalization;
using ConntrackModel.Model.Addressing;
using ConntrackModel.Model.Choices;
using ConntrackModel.Model.Kernel;
using ConntrackModel.Model.Scenarios;
using ConntrackModel.Solver.Native;
using Microsoft.Z3;
using Z3Model = Microsoft.Z3.Model;
using Z3Solver = Microsoft.Z3.Solver;

namespace ConntrackModel.Solver.Bmc;

/// <summary>
/// Bounded model checking by iterative deepening: depth 1, 2, ... until the encoding can reach a violation at the
/// last step, so the first trace found has minimal length. Every trace is decoded into a scenario and replayed by
/// <see cref="Simulation"/>; one that does not show the same violation at the same step is an encoding bug.
/// Each search owns one Z3 context (seed and timeout set), never shared across threads.
/// </summary>
public static class ModelChecker
{
    /// <summary>The most connection slots an encoding has (a proof at depth 16 covers 16 connections).</summary>
    public const int MaxSlots = 16;

    /// <summary>Connection slots: a trace of depth K has at most K connects, so K slots cover every trace up to <see cref="MaxSlots"/>.</summary>
    public static int SlotsFor(int depth) => Math.Clamp(depth, 1, MaxSlots);

    public static BmcResult Search(SymbolicConfig config, int maxDepth, bool smt = false, uint timeoutMs = 60_000)
    {
        ArgumentNullException.ThrowIfNull(config);
        if (config.OutsideFragment is { } why) throw new ArgumentException($"configuration {config.Name} has no symbolic fragment: {why}", nameof(config));
        Z3Runtime.Ensure();
        var sw = Stopwatch.StartNew();
        using var z = new Context();
        var enc = new Encoding(z, config, SlotsFor(maxDepth));
        var solver = z.MkSolver();
        var p = z.MkParams();
        p.Add("random_seed", 1u); // default 0; fixed so runs repeat
        p.Add("timeout", timeoutMs); // default: none
        solver.Parameters = p;
        var initial = enc.NewState("0");
        var steps = new List<Encoding.Step>();
        solver.Assert(enc.Initial(initial));
        var perDepth = ImmutableArray.CreateBuilder<(int, double)>();
        if (Deepening.Run(solver, initial, enc.NewState, enc.NewStep, enc.Transition, x => x.Violation, maxDepth, steps, perDepth, sw) is var (k, model))
        {
            var decoded = steps.Select(s => Decode(model, s)).ToImmutableArray();
            var smtText = smt ? Smt(z, solver, steps[^1]) : null;
            var (scenario, bug) = ToScenario(config, decoded);
            return new BmcResult(config, k, decoded, scenario, bug, perDepth.ToImmutable(), sw.Elapsed, smtText);
        }
        return new BmcResult(config, maxDepth, [], null, null, perDepth.ToImmutable(), sw.Elapsed, smt ? Smt(z, solver, steps[^1]) : null);
    }

    /// <summary>
    /// Traces of exactly <paramref name="depth"/> steps that the encoding allows, for checking it against the model
    /// the other way round (its steps replayed in the model): each sample fixes every step's kind (and for a connect,
    /// bound or not and where to) at random among what the configuration allows, every other sample also asks for a
    /// violation at the last step, and Z3 fills in the rest (ports, NAT outcomes). Combinations the encoding cannot
    /// take are dropped; so at most <paramref name="count"/> return.
    /// </summary>
    public static ImmutableArray<ImmutableArray<SymbolicStep>> Sample(SymbolicConfig config, int depth, int count, int seed)
    {
        ArgumentNullException.ThrowIfNull(config);
        Z3Runtime.Ensure();
        using var z = new Context();
        var enc = new Encoding(z, config, SlotsFor(depth));
        var solver = z.MkSolver();
        var p = z.MkParams();
        p.Add("random_seed", (uint)seed);
        solver.Parameters = p;
        var state = enc.NewState("0");
        solver.Assert(enc.Initial(state));
        var steps = new List<Encoding.Step>();
        for (var k = 0; k < depth; k++)
        {
            var x = enc.NewStep(k);
            var next = enc.NewState((k + 1).ToString(CultureInfo.InvariantCulture));
            solver.Assert(enc.Transition(state, x, next, k));
            steps.Add(x);
            state = next;
        }
        Op[] ops = [Op.Connect, Op.Connect, Op.Connect, .. config.Snat || config.IsNode ? [Op.SnatAdd] : Array.Empty<Op>(), .. config.Dnat ? [Op.DnatAdd] : Array.Empty<Op>(),
            .. config.Modprobe ? [Op.Modprobe] : Array.Empty<Op>(), .. config.Flush ? [Op.Flush] : Array.Empty<Op>(), .. config.Expiry ? [Op.Expire] : Array.Empty<Op>(),
            .. config.Udp ? [Op.Send, Op.Send, Op.Send, Op.Answer, Op.Answer] : Array.Empty<Op>()];
        var rng = new Random(seed);
        var traces = ImmutableArray.CreateBuilder<ImmutableArray<SymbolicStep>>();
        for (var attempt = 0; attempt < count * 8 && traces.Count < count; attempt++)
        {
            var assume = new List<BoolExpr>();
            // UDP: a violation needs a particular sequence (two flows, the datagrams that teach the server, the rule or an
            // expiry), which random step kinds rarely make: every other sample leaves the kinds to Z3 and asks for one.
            var free = config.Udp && attempt % 2 == 1;
            foreach (var x in steps)
            {
                if (free)
                {
                    if (rng.Next(2) == 0) assume.Add(z.MkEq(x.Origin, z.MkBV(rng.Next(config.Pods + 1), Encoding.OriginBits)));
                    continue;
                }
                // With tracking from the start the first step is the rule (the only traces there are).
                var op = x == steps[0] && config.TrackingFromStart && (config.Snat || config.IsNode) ? Op.SnatAdd : ops[rng.Next(ops.Length)];
                assume.Add(z.MkEq(x.Op, z.MkBV((int)op, ((BitVecSort)x.Op.Sort).Size)));
                if (op != Op.Connect) continue;
                assume.Add(rng.Next(3) == 0 ? x.Bound : z.MkNot(x.Bound));
                if (config.IsNode) assume.Add(z.MkEq(x.Origin, z.MkBV(rng.Next(config.Pods + 1), Encoding.OriginBits)));
                if (config.Dnat) assume.Add(rng.Next(2) == 0 ? x.ToSvc : z.MkNot(x.ToSvc));
            }
            // Left alone, Z3 rarely sets a violation flag: every other sample asks for one at the last step.
            if (attempt % 2 == 1) assume.Add(steps[^1].Violation);
            if (solver.Check([.. assume]) != Status.SATISFIABLE) continue;
            var model = solver.Model;
            traces.Add([.. steps.Select(s => Decode(model, s))]);
        }
        return traces.ToImmutable();
    }

    private static string Smt(Context z, Z3Solver solver, Encoding.Step last) =>
        string.Join("\n", solver.Assertions.Select(a => $"(assert {a})")) + $"\n(assert {last.Violation})\n(check-sat)\n";

    private static int Int(Z3Model m, Expr e) => (int)((BitVecNum)m.Eval(e, true)).UInt;

    private static bool Bool(Z3Model m, BoolExpr e) => m.Eval(e, true).IsTrue;

    private static SymbolicStep Decode(Z3Model m, Encoding.Step x) =>
        new((Op)Int(m, x.Op), Bool(m, x.Bound), Bool(m, x.ToSvc), Int(m, x.Port), Int(m, x.W1), Int(m, x.W2), Int(m, x.RuleLo), Int(m, x.RuleHi), Bool(m, x.Violation), Int(m, x.Origin), Int(m, x.Slot));

    private static string P(int v) => v.ToString(CultureInfo.InvariantCulture);

    /// <summary>The scenario line a decoded step stands for in <paramref name="config"/> (a node configuration's own lines).</summary>
    public static string Line(SymbolicConfig config, SymbolicStep s, string name)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(s);
        if (!config.IsNode) return Line(s, name);
        var node = new NodeTopology(config.Pods, config.RandomFully) { Udp = config.Udp };
        if (config.Udp)
        {
            return s.Op switch
            {
                Op.Connect => (NodeTopology.Netns(s.Origin) is { } ns ? $"ip netns exec {ns} " : "") +
                    $"connect -u {name} {(s.Bound ? $"{NodeTopology.Address(s.Origin)}:{P(s.Port)} " : "")}{NodeTopology.UdpServer}",
                Op.Send => $"send {name} {UdpLabel(s)}",
                Op.Answer => $"send {name}.server {UdpLabel(s)}",
                Op.SnatAdd => node.Rule,
                Op.Expire => UdpExpireLine,
                _ => throw new ArgumentOutOfRangeException(nameof(s), s.Op, "not a step of a UDP configuration"),
            };
        }
        return s.Op switch
        {
            Op.Connect => (NodeTopology.Netns(s.Origin) is { } ns ? $"ip netns exec {ns} " : "") +
                $"connect {name} {(s.Bound ? $"{NodeTopology.Address(s.Origin)}:{P(s.Port)} " : "")}{NodeTopology.Server}",
            Op.SnatAdd => node.Rule,
            Op.Flush => "conntrack -F",
            _ => throw new ArgumentOutOfRangeException(nameof(s), s.Op, "not a step of a node configuration"),
        };
    }

    /// <summary>A sleep past every UDP timeout of the UDP configurations (2 s, 4 s as a stream).</summary>
    public const string UdpExpireLine = "sleep 5";

    /// <summary>A decoded UDP step's label: unique in its trace (the step's own ports and slot are not, so the caller numbers them).</summary>
    private static string UdpLabel(SymbolicStep s) => s.Label ?? throw new InvalidOperationException("a UDP step needs its label");

    /// <summary>The scenario line a decoded step stands for.</summary>
    public static string Line(SymbolicStep s, string name) => s.Op switch
    {
        Op.Connect => $"connect {name} {(s.Bound ? $"127.0.0.1:{P(s.Port)} " : "")}{(s.ToSvc ? "127.0.0.2:80" : $"127.0.0.1:{P(Encoding.ServerPort)}")}",
        Op.SnatAdd => $"iptables -t nat -A POSTROUTING -p tcp -d 127.0.0.1 --dport {P(Encoding.ServerPort)} -j SNAT --to-source 127.0.0.1:{P(s.RuleLo)}{(s.RuleHi != s.RuleLo ? "-" + P(s.RuleHi) : "")}",
        Op.DnatAdd => $"iptables -t nat -A OUTPUT -p tcp -d 127.0.0.2 --dport 80 -j DNAT --to-destination 127.0.0.1:{P(Encoding.ServerPort)}",
        Op.Modprobe => "modprobe nf_conntrack",
        Op.Flush => "conntrack -F",
        Op.Expire => "sleep 3",
        _ => throw new ArgumentOutOfRangeException(nameof(s)),
    };

    /// <summary>
    /// The decoded trace as a scenario whose choices make the concrete model take the same decisions (ephemeral
    /// ports directly, NAT outcomes by matching the ports the trace gave), and the replay check.
    /// </summary>
    public static (Scenario Scenario, string? EncodingBug) ToScenario(SymbolicConfig config, IReadOnlyList<SymbolicStep> steps)
    {
        var scenario = ScenarioOf(config, steps, out var parseError);
        if (scenario is null) return (null!, parseError);
        var sim = Simulation.Run(scenario, ChoiceSource.First);
        var lastLine = scenario.Lines[^1].Line;
        var first = sim.Violations.FirstOrDefault();
        if (sim.Rejected is not null) return (scenario, $"the concrete model rejects line {sim.RejectedLine!.Line}: {sim.Rejected}");
        if (first is null) return (scenario, "the concrete model shows no violation");
        if (first.Step != lastLine) return (scenario, $"the concrete model's first violation is at step {first.Step}, the trace's at step {lastLine}");
        return (scenario, null);
    }

    /// <summary>The decoded trace as a scenario with the choices that make the model take its decisions; null if it does not parse.</summary>
    public static Scenario? ScenarioOf(SymbolicConfig config, IReadOnlyList<SymbolicStep> steps, out string? error)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(steps);
        var lines = config.IsNode ? [] : new List<string> { $"listen 127.0.0.1:{P(Encoding.ServerPort)}" };
        lines.AddRange(config.Setup.Select(c => c.ToScript()));
        var choices = ImmutableSortedDictionary.CreateBuilder<string, int>(StringComparer.Ordinal);
        var wanted = new Dictionary<string, (int First, int Then)>(StringComparer.Ordinal);
        var n = 0;
        var udpWanted = new Dictionary<string, List<int>>(StringComparer.Ordinal);
        var t = 0;
        foreach (var s in steps)
        {
            t++;
            var name = s.Op == Op.Connect ? Scenario.ConnectionName(n++) : s.Op is Op.Send or Op.Answer ? Scenario.ConnectionName(s.Slot) : "";
            var labelled = s.Op is Op.Send or Op.Answer ? s with { Label = string.Create(CultureInfo.InvariantCulture, $"{(s.Op == Op.Send ? "d" : "a")}{t}") } : s;
            lines.Add(Line(config, labelled, name));
            if (config.Udp)
            {
                if (s.Op == Op.Connect && !s.Bound) choices[$"ephemeral:{name}"] = s.Port - Encoding.EphemeralLow;
                // Each datagram that makes a NAT decision wants the trace's port (W1); a kept port makes no choice.
                if (s.Op == Op.Send) (udpWanted.TryGetValue(name, out var l) ? l : udpWanted[name] = []).Add(s.W1);
                continue;
            }
            if (s.Op != Op.Connect) continue;
            if (!s.Bound) choices[$"ephemeral:{name}"] = s.Port - Encoding.EphemeralLow;
            wanted[name] = (s.W1, s.W2);
        }
        var parsed = ScenarioParser.Parse("z3-trace.scenario", string.Join("\n", lines) + "\n");
        error = parsed.Ok ? null : "the decoded trace does not parse: " + parsed.Errors[0];
        var natAddress = config.IsNode ? NodeTopology.NodeAddress : IPv4Address.Loopback;
        if (!parsed.Ok) return null;
        return config.Udp
            ? PinUdp(parsed.Scenario! with { Choices = choices.ToImmutable() }, udpWanted)
            : Pin(parsed.Scenario! with { Choices = choices.ToImmutable() }, wanted, natAddress);
    }

    /// <summary>
    /// A UDP trace's NAT pins: each flow's own source decisions (<c>nat:src:NAME#k</c>, not its server's) in order, the
    /// k-th to the port of the flow's k-th datagram in the trace that made one (a datagram that found its entry, or
    /// whose port was kept, asks nothing). Re-pinned until stable, as <see cref="Pin"/>.
    /// </summary>
    private static Scenario PinUdp(Scenario scenario, Dictionary<string, List<int>> wanted)
    {
        for (var round = 0; round < 16; round++)
        {
            var pins = scenario.Choices;
            var k = new Dictionary<string, int>(StringComparer.Ordinal);
            foreach (var step in Simulation.Run(scenario, ChoiceSource.First).Steps)
            {
                if (step.Line.Command is not Command.Send { End: var end } || end.Contains('.', StringComparison.Ordinal) || !wanted.TryGetValue(end, out var ports)) continue;
                var i = k.GetValueOrDefault(end);
                k[end] = i + 1;
                var port = ports[i];
                foreach (var ev in step.Events.OfType<KernelEvent.Choice>())
                {
                    if (!ev.Made.Point.Key.StartsWith($"nat:src:{end}#", StringComparison.Ordinal)) continue;
                    if (ev.Made.ValueFor(new SockAddr(NodeTopology.NodeAddress, port)) is { } v) pins = pins.SetItem(ev.Made.Point.Key, v);
                }
            }
            if (pins.Count == scenario.Choices.Count && pins.All(kv => scenario.Choices.TryGetValue(kv.Key, out var old) && old == kv.Value)) break;
            scenario = scenario with { Choices = pins };
        }
        return scenario;
    }

    /// <summary>
    /// Pins each connection's NAT source choices: its first SYN to the trace's first port, later ones (the SYN sent
    /// after every idle entry expired) to its second. Re-pinned every round until nothing changes: an earlier
    /// connection's pin changes the list of outcomes a later one chooses from (the index of a port moves), so a pin
    /// computed against an earlier round's list would pick another port.
    /// </summary>
    private static Scenario Pin(Scenario scenario, Dictionary<string, (int First, int Then)> wanted, IPv4Address natAddress)
    {
        for (var round = 0; round < 16; round++)
        {
            var pins = scenario.Choices;
            var seen = new Dictionary<string, int>(StringComparer.Ordinal);
            foreach (var ev in Simulation.Run(scenario, ChoiceSource.First).Events.OfType<KernelEvent.Choice>())
            {
                var key = ev.Made.Point.Key;
                if (!key.StartsWith("nat:src:", StringComparison.Ordinal) || !wanted.TryGetValue(ev.Owner, out var w)) continue;
                var k = seen[ev.Owner] = seen.GetValueOrDefault(ev.Owner) + 1;
                var port = k == 1 ? w.First : w.Then;
                if (ev.Made.ValueFor(new SockAddr(natAddress, port)) is { } v) pins = pins.SetItem(key, v);
            }
            if (pins.Count == scenario.Choices.Count && pins.All(kv => scenario.Choices.TryGetValue(kv.Key, out var old) && old == kv.Value)) break;
            scenario = scenario with { Choices = pins };
        }
        return scenario;
    }
}
