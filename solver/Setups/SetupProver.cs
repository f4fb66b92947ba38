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

    public static SetupProof Search(SetupFragment fragment, int maxDepth, uint timeoutMs = 60_000)
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
        if (Bmc.Deepening.Run(solver, initial, enc.NewState, enc.NewStep, enc.Transition, x => x.Violation, maxDepth, steps, perDepth, sw) is var (k, model))
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
}
