using System.Collections.Immutable;
using System.Diagnostics;
using System.Globalization;
using ConntrackModel.Model.Addressing;
using ConntrackModel.Model.Choices;
using ConntrackModel.Model.Kernel;
using ConntrackModel.Model.Scenarios;
using ConntrackModel.Solver.Native;
using Microsoft.Z3;

namespace ConntrackModel.Solver.Setups;

/// <summary>One decoded step of a setup's symbolic run.</summary>
public sealed record SetupStepValue(SetupOp Op, int Class, int Port, int W1, int W2, bool Dropped, bool Violation)
{
    /// <summary>A dropped first SYN whose retransmission got through, as a connect of <see cref="Class2"/>; <see cref="LateRetry"/>: after the expiry.</summary>
    public bool Retried { get; init; }

    public bool LateRetry { get; init; }

    public int Class2 { get; init; }
}

/// <summary>
/// <c>prove --setup</c>'s answer: no collision within <paramref name="Depth"/> steps (with as many connection slots), or
/// the first one found at its minimal depth, decoded into a scenario and replayed in the model (a trace the model does not
/// replay is reported as <paramref name="EncodingBug"/>, never as a collision).
/// </summary>
public sealed record SetupProof(
    SetupFragment Fragment,
    int Depth,
    ImmutableArray<SetupStepValue> Steps,
    Scenario? Scenario,
    string? EncodingBug,
    ImmutableArray<(int Depth, double Ms)> PerDepth,
    TimeSpan Elapsed)
{
    public bool Found => Scenario is not null && EncodingBug is null;

    public bool Safe => Scenario is null && EncodingBug is null;

    public bool Equals(SetupProof? other) => other is not null && Depth == other.Depth && Steps.SequenceEqual(other.Steps) && EncodingBug == other.EncodingBug;

    public override int GetHashCode() => HashCode.Combine(Depth, Steps.Length, EncodingBug);
}

/// <summary>
/// Bounded model checking of a setup's <see cref="SetupEncoding"/> by iterative deepening (so the first collision found
/// is at its minimal depth), every trace decoded into a scenario whose choices make the model take the trace's
/// decisions, and replayed.
/// </summary>
public static class SetupProver
{
    public const int MaxSlots = 16;

    /// <summary>The time Z3 may take on one query (a depth of the search, a step of the induction) before the answer is "unknown".</summary>
    public const uint TimeoutMs = 60_000;

    /// <summary>Z3 answered "unknown" (its time limit, or a theory it gave up on).</summary>
    public sealed class GaveUpException(string message) : Exception(message);

    public static SetupProof Search(SetupFragment fragment, int maxDepth, uint timeoutMs = TimeoutMs)
    {
        ArgumentNullException.ThrowIfNull(fragment);
        Z3Runtime.Ensure();
        var sw = Stopwatch.StartNew();
        using var z = new Context();
        var enc = new SetupEncoding(z, fragment, Math.Clamp(maxDepth, 1, MaxSlots));
        var solver = z.MkSolver();
        var p = z.MkParams();
        p.Add("random_seed", 1u);
        p.Add("timeout", timeoutMs);
        solver.Parameters = p;
        var initial = enc.NewState("0");
        var steps = new List<SetupEncoding.Step>();
        solver.Assert(enc.Initial(initial));
        var perDepth = ImmutableArray.CreateBuilder<(int, double)>();
        (int, Microsoft.Z3.Model)? found;
        try
        {
            found = Bmc.Deepening.Run(solver, initial, enc.NewState, enc.NewStep, enc.Transition, x => x.Violation, maxDepth, steps, perDepth, sw);
        }
        catch (InvalidOperationException e) when (e.Message.StartsWith("Z3 gave up", StringComparison.Ordinal))
        {
            throw new GaveUpException(e.Message);
        }
        if (found is var (k, model))
        {
            var decoded = steps.Select(s => Decode(model, s)).ToImmutableArray();
            var (scenario, bug) = ToScenario(fragment, decoded);
            return new SetupProof(fragment, k, decoded, scenario, bug, perDepth.ToImmutable(), sw.Elapsed);
        }
        return new SetupProof(fragment, maxDepth, [], null, null, perDepth.ToImmutable(), sw.Elapsed);
    }

    private static int Int(Microsoft.Z3.Model m, Expr e) => (int)((BitVecNum)m.Eval(e, true)).UInt;

    private static SetupStepValue Decode(Microsoft.Z3.Model m, SetupEncoding.Step x) =>
        new((SetupOp)Int(m, x.Op), Int(m, x.Class), Int(m, x.Port), Int(m, x.W1), Int(m, x.W2), m.Eval(x.Dropped, true).IsTrue, m.Eval(x.Violation, true).IsTrue)
        {
            Retried = m.Eval(x.Retried, true).IsTrue,
            LateRetry = m.Eval(x.LateRetry, true).IsTrue,
            Class2 = Int(m, x.Class2),
        };

    /// <summary>
    /// The trace as a scenario (the setup, then each step's lines) with the choices that make the model take its
    /// decisions, and the replay check: the model must first break an invariant at the trace's last connect.
    /// </summary>
    public static (Scenario? Scenario, string? EncodingBug) ToScenario(SetupFragment fragment, IReadOnlyList<SetupStepValue> steps)
    {
        ArgumentNullException.ThrowIfNull(fragment);
        ArgumentNullException.ThrowIfNull(steps);
        var input = fragment.Input;
        var lines = input.Fixed.Select(c => c.ToScript().TrimEnd('\n')).ToList();
        var choices = ImmutableSortedDictionary.CreateBuilder<string, int>(StringComparer.Ordinal);
        var wanted = new Dictionary<string, Wanted>(StringComparer.Ordinal);
        var rules = !input.Late;
        var n = 0;
        foreach (var s in steps)
        {
            switch (s.Op)
            {
                case SetupOp.Connect:
                    var k = fragment.Classes[s.Class];
                    var name = Scenario.ConnectionName(n++);
                    lines.Add(new Command.Connect(name, k.Bound ? new SockAddr(k.Source, s.Port) : null, k.Target) { Netns = k.Netns }.ToScript().TrimEnd('\n'));
                    if (!k.Bound) choices[$"ephemeral:{name}"] = s.Port - fragment.EphemeralRanges[k.Netns ?? ""].Low;
                    var retry = s.Retried ? fragment.Classes[s.Class2] : null;
                    wanted[name] = new Wanted(k, rules ? k.After : k.Before!, s, retry, retry is null ? null : rules ? retry.After : retry.Before);
                    break;
                case SetupOp.Rules:
                    lines.AddRange(input.Deferred.Select(c => c.ToScript().TrimEnd('\n')));
                    rules = true;
                    break;
                case SetupOp.Flush:
                    lines.AddRange(input.Tracking.Select(ns => new Command.ConntrackFlush { Netns = ns }.ToScript().TrimEnd('\n')));
                    break;
                case SetupOp.Expire:
                    lines.Add("sleep 3");
                    break;
            }
        }
        var parsed = ScenarioParser.Parse("z3-setup-trace.scenario", string.Join("\n", lines) + "\n");
        if (!parsed.Ok) return (null, "the decoded trace does not parse: " + parsed.Errors[0]);
        var scenario = Pin(parsed.Scenario! with { Choices = choices.ToImmutable() }, wanted);
        var sim = Simulation.Run(scenario, ChoiceSource.First);
        if (sim.Rejected is not null) return (scenario, $"the concrete model rejects line {sim.RejectedLine!.Line}: {sim.Rejected}");
        var first = sim.Violations.FirstOrDefault();
        if (first is null) return (scenario, "the concrete model shows no violation");
        // Violations count commands (a restore's here-document is one command of many lines).
        var last = scenario.Lines.Count;
        if (first.Step != last) return (scenario, $"the concrete model's first violation is at command {first.Step}, the trace's at command {last}");
        return (scenario, null);
    }

    /// <summary>What a connect of the trace asks of the model: its kind and behaviour, its step, and a retry's kind and behaviour.</summary>
    private sealed record Wanted(FlowClass Class, FlowBehaviour Behaviour, SetupStepValue Step, FlowClass? Retry, FlowBehaviour? RetryBehaviour);

    /// <summary>
    /// Pins each connection's statistic draws to its class's answers (in the order it meets them) and its NAT source
    /// choices to the trace's ports (the first SYN's to W1, a retried one's to W2), re-run until nothing changes: a pin
    /// changes the alternatives later choices are made from.
    /// </summary>
    private static Scenario Pin(Scenario scenario, Dictionary<string, Wanted> wanted)
    {
        for (var round = 0; round < 16; round++)
        {
            var pins = scenario.Choices;
            var draws = new Dictionary<string, int>(StringComparer.Ordinal);
            var nats = new Dictionary<string, int>(StringComparer.Ordinal);
            foreach (var ev in Simulation.Run(scenario, ChoiceSource.First).Events.OfType<KernelEvent.Choice>())
            {
                if (!wanted.TryGetValue(ev.Owner, out var w)) continue;
                var key = ev.Made.Point.Key;
                if (ev.Made.Point.Kind == ChoiceKind.Statistic)
                {
                    // The first SYN's draws are its kind's; a retransmission's (it draws again) the retry's kind's.
                    var i = draws[ev.Owner] = draws.GetValueOrDefault(ev.Owner) + 1;
                    var n1 = w.Class.Draws.Length;
                    if (i <= n1) pins = pins.SetItem(key, w.Class.Draws[i - 1]);
                    else if (w.Retry is { } retry && retry.Draws.Length > 0) pins = pins.SetItem(key, retry.Draws[(i - n1 - 1) % retry.Draws.Length]);
                    continue;
                }
                if (!key.StartsWith("nat:src:", StringComparison.Ordinal)) continue;
                var k = nats[ev.Owner] = nats.GetValueOrDefault(ev.Owner) + 1;
                var port = k == 1 ? w.Step.W1 : w.Step.W2;
                var address = k == 1 || w.RetryBehaviour is null ? w.Behaviour.NatAddress : w.RetryBehaviour.NatAddress;
                if (ev.Made.ValueFor(new SockAddr(address, port)) is { } v) pins = pins.SetItem(key, v);
            }
            if (pins.Count == scenario.Choices.Count && pins.All(kv => scenario.Choices.TryGetValue(kv.Key, out var old) && old == kv.Value)) break;
            scenario = scenario with { Choices = pins };
        }
        return scenario;
    }

    /// <summary>
    /// 1-induction for a setup, as <see cref="Bmc.Prover"/> does it for the built-in configurations: from the candidate
    /// invariants below, drop those that do not hold after the first step or are not preserved by a step from any state
    /// satisfying the rest (Houdini), then ask whether no step from a state satisfying what is left collides. Closed, it
    /// proves runs of any length with up to <paramref name="slots"/> connections (events without bound).
    /// </summary>
    public static SetupInduction Induct(SetupFragment fragment, int slots)
    {
        ArgumentNullException.ThrowIfNull(fragment);
        Z3Runtime.Ensure();
        var sw = Stopwatch.StartNew();
        using var z = new Context();
        var enc = new SetupEncoding(z, fragment, Math.Clamp(slots, 1, MaxSlots));
        var s = enc.NewState("s");
        var x = enc.NewStep(1);
        var n = enc.NewState("n");
        var step = enc.Transition(s, x, n, 1);
        var candidates = Candidates(z, enc, fragment);

        var i0 = enc.NewState("i0");
        var x0 = enc.NewStep(0);
        var i1 = enc.NewState("i1");
        var first = z.MkAnd(enc.Initial(i0), enc.Transition(i0, x0, i1, 0));
        Bmc.Houdini.Outcome h;
        try
        {
            h = Bmc.Houdini.Run(z, s, n, step, x.Violation, first, i1, [.. candidates.Select(c => (c.Name, c.Holds))], TimeoutMs);
        }
        catch (InvalidOperationException e) when (e.Message.StartsWith("Z3 gave up", StringComparison.Ordinal))
        {
            throw new GaveUpException(e.Message);
        }
        return new SetupInduction(enc.Slots, h.InductiveAlone, h.Inductive, [.. h.Kept], [.. h.Needed], [.. h.Dropped], sw.Elapsed);
    }

    private sealed record Candidate(string Name, Func<SetupEncoding.State, BoolExpr> Holds);

    /// <summary>The candidate strengthening invariants, in words and as formulas over a state.</summary>
    private static List<Candidate> Candidates(Context z, SetupEncoding enc, SetupFragment fragment)
    {
        var slots = Enumerable.Range(0, enc.Slots).ToList();
        var pairs = slots.SelectMany(i => slots.Where(j => j > i).Select(j => (i, j))).ToList();
        BoolExpr All(IEnumerable<BoolExpr> fs) => z.MkAnd([.. fs, z.MkTrue()]);
        return
        [
            new("slots fill in order", s => All(slots.Where(i => i > 0).Select(i => z.MkImplies(s.Used[i], s.Used[i - 1])))),
            new("an unused slot holds nothing", s => All(slots.Select(i => z.MkImplies(z.MkNot(s.Used[i]),
                z.MkAnd(z.MkNot(s.Open[i]), z.MkNot(s.Live[i]), z.MkNot(s.Tracked[i]), z.MkNot(s.Stale[i])))))),
            new("a slot's kind is one of the setup's", s => All(slots.Select(i => z.MkImplies(s.Used[i], z.MkBVULT(s.Class[i], enc.Kinds))))),
            new("a connection made after the rules exists only once they are in", s => All(slots.Select(i => z.MkImplies(s.After[i], s.Rules)))),
            new("a live connection's socket is open, and only then", s => All(slots.Select(i => z.MkEq(s.Live[i], s.Open[i])))),
            new("a live connection's kind is established", s => All(slots.Select(i => z.MkImplies(s.Live[i], enc.EstablishedOf(s, i))))),
            new("every live connection has a conntrack entry", s => All(slots.Select(i => z.MkImplies(s.Live[i], s.Tracked[i])))),
            new("every live connection of a tracked kind has a conntrack entry", s => All(slots.Select(i => z.MkImplies(z.MkAnd(s.Live[i], enc.TrackedOf(s, i)), s.Tracked[i])))),
            new("an untracked live connection is seen from its own port", s => All(slots.Select(i => z.MkImplies(z.MkAnd(s.Live[i], z.MkNot(s.Tracked[i])), z.MkEq(s.Wire[i], s.Local[i]))))),
            new("two open sockets on one address and port go to different targets, neither bound", s => All(pairs.Select(p =>
            {
                var (ni, si, ti) = enc.OriginOf(s, p.i);
                var (nj, sj, tj) = enc.OriginOf(s, p.j);
                return z.MkImplies(z.MkAnd(s.Open[p.i], s.Open[p.j], z.MkEq(ni, nj), z.MkEq(si, sj), z.MkEq(s.Local[p.i], s.Local[p.j])),
                    z.MkAnd(z.MkNot(s.Bound[p.i]), z.MkNot(s.Bound[p.j]), z.MkNot(z.MkEq(ti, tj))));
            }))),
            new("an entry belongs to a live connection of a tracked kind", s => All(slots.Select(i => z.MkImplies(s.Tracked[i], z.MkAnd(s.Live[i], enc.TrackedOf(s, i)))))),
            new("no stale entry", s => All(slots.Select(i => z.MkNot(s.Stale[i])))),
            new("no two live connections share a server tuple", s => All(pairs.Select(p => z.MkImplies(
                z.MkAnd(s.Live[p.i], s.Live[p.j], z.MkEq(enc.ServerOf(s, p.i), enc.ServerOf(s, p.j))), z.MkNot(z.MkEq(s.Wire[p.i], s.Wire[p.j])))))),
            new("no two entries share a reply tuple", s => All(pairs.Select(p => z.MkImplies(
                z.MkAnd(z.MkOr(s.Tracked[p.i], s.Stale[p.i]), z.MkOr(s.Tracked[p.j], s.Stale[p.j]), z.MkEq(enc.EntryOf(s, p.i), enc.EntryOf(s, p.j))),
                z.MkNot(z.MkEq(s.Wire[p.i], s.Wire[p.j])))))),
            new("two entries seen by one server end share their table key", s => All(pairs.Select(p => z.MkImplies(
                z.MkAnd(s.Tracked[p.i], s.Tracked[p.j], z.MkEq(enc.ServerOf(s, p.i), enc.ServerOf(s, p.j))), z.MkEq(enc.EntryOf(s, p.i), enc.EntryOf(s, p.j)))))),
        ];
    }
}

/// <summary>
/// <c>prove --setup --induction</c>'s answer: whether "no collision" is inductive alone, whether it is with the
/// strengthening invariants kept (<paramref name="Kept"/>; <paramref name="Needed"/>: each of these is required), and the
/// candidates that are not invariants; closed, it covers runs of any length with up to <paramref name="Slots"/> connections.
/// </summary>
public sealed record SetupInduction(int Slots, bool InductiveAlone, bool Inductive, ImmutableArray<string> Kept, ImmutableArray<string> Needed,
    ImmutableArray<string> Dropped, TimeSpan Elapsed);
