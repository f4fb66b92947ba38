using System.Collections.Immutable;
using System.Globalization;
using ConntrackModel.Model.Addressing;
using ConntrackModel.Model.Choices;
using ConntrackModel.Model.Kernel;
using ConntrackModel.Model.Scenarios;
using ConntrackModel.Solver.Native;
using Microsoft.Z3;

namespace ConntrackModel.Solver.Setups;

/// <summary>
/// Checks <see cref="SetupEncoding"/> against the model the way a proof needs it: random runs of the model (connects of
/// every kind, from bound ports drawn to meet the NAT ranges and each other and from automatic ones, the events allowed,
/// the model's own random choices) must each be a run the encoding allows, step by step, with what the model observed:
/// each connect's kind (its statistic answers included), its port, whether it is up, the port its server end sees it
/// from, whether a table tracks it, and whether the step broke an invariant (up to the first that did). A run the
/// encoding does not allow is a behaviour a proof would miss. The other direction (the encoding's traces replayed in the
/// model) is every counterexample's replay.
/// </summary>
public static class SetupAgreement
{
    /// <summary>What was compared: runs, steps, runs ending in a violation, runs cut short (a bound port the model refused), and the disagreements.</summary>
    public sealed record Result(int Runs, int Steps, int Violating, int Cut, ImmutableArray<string> Disagreements)
    {
        /// <summary>Why runs were cut short, with how many.</summary>
        public ImmutableDictionary<string, int> CutReasons { get; init; } = ImmutableDictionary<string, int>.Empty;
    }

    public static Result Check(SetupFragment fragment, int runs, int depth, int seed)
    {
        ArgumentNullException.ThrowIfNull(fragment);
        Z3Runtime.Ensure();
        var rng = new Random(seed);
        var start = Simulation.Run(Scenario.Of("setup", [.. fragment.Input.Fixed]), ChoiceSource.First).Final;
        int steps = 0, violating = 0, cut = 0;
        var problems = ImmutableArray.CreateBuilder<string>();
        var reasons = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var r = 0; r < runs; r++)
        {
            var (ops, commands, ports) = RandomRun(fragment, rng, depth);
            // Half the NAT port searches aim at a port of the run's: its bound ports, or one port all aimed searches share
            // (a connection NATed there before a flush is met by the next one), so collisions happen.
            var choices = new AimedChoices((ulong)rng.NextInt64(), [Magnet, Magnet, .. ports.Distinct()]);
            var observed = Observe(fragment, start, ops, commands, choices, out var wasCut);
            if (wasCut is not null)
            {
                cut++;
                reasons[wasCut] = reasons.GetValueOrDefault(wasCut) + 1;
            }
            if (observed.Count == 0) continue;
            steps += observed.Count;
            if (observed[^1].Violation) violating++;
            if (Disagreement(fragment, observed) is { } why)
                problems.Add($"{why}\n  observed: {string.Join("; ", observed)}\n  in: {string.Join("; ", commands.Take(observed.Count).Select(c => c.ToScript().TrimEnd('\n').Replace("\n", " ", StringComparison.Ordinal)))}");
        }
        return new Result(runs, steps, violating, cut, problems.ToImmutable()) { CutReasons = reasons.ToImmutableDictionary() };
    }

    /// <summary>One step as the model ran it: the op, and for a connect the kind, port and what was observed after it.</summary>
    internal sealed record Observed(SetupOp Op, int Class, int Port, bool Up, int Wire, bool Tracked, bool Violation)
    {
        /// <summary>A failed connect that left its entry (a stale one in the encoding).</summary>
        public bool Stale { get; init; }

        /// <summary>The model's first violation message, or the step's notes that say why a connect failed.</summary>
        public string? Why { get; init; }
    }

    /// <summary>A random run: ops and their commands (a connect's kind picked at random, its port bound or automatic).</summary>
    private static (List<SetupOp> Ops, List<Command> Commands, List<int> Ports) RandomRun(SetupFragment f, Random rng, int depth)
    {
        var ops = new List<SetupOp>();
        var commands = new List<Command>();
        var rules = !f.Input.Late;
        var ports = new List<int>();
        foreach (var k in f.Classes)
        {
            foreach (var b in new[] { k.After, k.Before })
            {
                if (b is { Tracked: true }) ports.AddRange([b.Low, b.High, Math.Min(65535, b.Low + 1)]);
            }
        }
        var n = 0;
        for (var t = 0; t < depth; t++)
        {
            var roll = rng.Next(10);
            if (roll == 0 && f.Input.Late && !rules)
            {
                ops.Add(SetupOp.Rules);
                commands.AddRange(f.Input.Deferred);
                rules = true;
                continue;
            }
            if (roll == 1 && f.Input.Flush && !f.Input.Tracking.IsEmpty)
            {
                ops.Add(SetupOp.Flush);
                commands.AddRange(f.Input.Tracking.Select(ns => (Command)new Command.ConntrackFlush { Netns = ns }));
                continue;
            }
            if (roll == 2 && f.Input.Expiry)
            {
                ops.Add(SetupOp.Expire);
                commands.Add(new Command.Sleep(3000));
                continue;
            }
            var k = f.Classes[rng.Next(f.Classes.Length)];
            var name = Scenario.ConnectionName(n++);
            SockAddr? local = null;
            if (k.Bound)
            {
                var port = rng.Next(3) switch
                {
                    0 when ports.Count > 0 => ports[rng.Next(ports.Count)],
                    1 => rng.Next(32768, 61000),
                    _ => rng.Next(SetupFragment.BoundLow, 65536),
                };
                local = new SockAddr(k.Source, port);
                ports.Add(port);
            }
            ops.Add(SetupOp.Connect);
            commands.Add(new Command.Connect(name, local, k.Target) { Netns = k.Netns });
        }
        return (ops, commands, ports);
    }

    /// <summary>The port aimed NAT searches share.</summary>
    private const int Magnet = 61000;

    /// <summary>
    /// The model's choices, seeded, except that half the NAT port searches (by their key) start at a port of
    /// <paramref name="Ports"/> inside their range: random NAT ports then meet the run's other ports as often as a search
    /// for collisions needs, while every answer stays one the kernel can give.
    /// </summary>
    private sealed record AimedChoices(ulong Seed, ImmutableArray<int> Ports) : ChoiceSource
    {
        private readonly ChoiceSource _seeded = Seeded(Seed);

        public override int Choose(ChoicePoint point)
        {
            ArgumentNullException.ThrowIfNull(point);
            var h = (uint)StringComparer.Ordinal.GetHashCode(point.Key) ^ (uint)Seed;
            if (point.Kind == ChoiceKind.NatPortOffset && Ports.Length > 0 && h % 2 == 0)
            {
                var port = Ports[(int)(h / 2 % (uint)Ports.Length)];
                if (port >= point.PortLow && port < point.PortLow + point.PortCount) return port - point.PortLow;
            }
            return _seeded.Choose(point);
        }
    }

    /// <summary>
    /// Runs the commands after the setup and reads each step, up to the first violation; cut short where the model
    /// refuses a command (a bound port in use: the encoding never offers it).
    /// </summary>
    private static List<Observed> Observe(SetupFragment f, World start, List<SetupOp> ops, List<Command> commands, ChoiceSource choices, out string? cut)
    {
        cut = null;
        var result = new List<Observed>();
        var scenario = Scenario.Of("run", [.. commands]);
        var op = 0;
        var linesLeft = 0;
        var violated = false;
        // Each op is one or more commands (the deferred lines, a flush per namespace); the op's result is read after its last.
        var perOp = ops.Select(o => o switch
        {
            SetupOp.Rules => f.Input.Deferred.Length,
            SetupOp.Flush => f.Input.Tracking.Length,
            _ => 1,
        }).ToList();
        var statistic = new Dictionary<string, List<int>>(StringComparer.Ordinal);
        var rules = !f.Input.Late;
        foreach (var (step, after, rejected) in Simulation.Trace(scenario, choices, start))
        {
            if (rejected is not null)
            {
                cut = "the model refused a command";
                break;
            }
            if (linesLeft == 0) linesLeft = perOp[op];
            foreach (var c in step.Events.OfType<KernelEvent.Choice>().Where(c => c.Made.Point.Kind == ChoiceKind.Statistic))
                (statistic.TryGetValue(c.Owner, out var l) ? l : statistic[c.Owner] = []).Add(c.Made.Value);
            violated |= !step.Violations.IsEmpty;
            if (--linesLeft > 0) continue;
            var o = ops[op++];
            if (o == SetupOp.Rules) rules = true;
            if (o != SetupOp.Connect)
            {
                result.Add(new Observed(o, 0, 0, false, 0, false, violated));
            }
            else
            {
                var cmd = (Command.Connect)step.Line.Command;
                var conn = after.Connections.Single(c => c.Name == cmd.Name);
                var draws = statistic.GetValueOrDefault(cmd.Name) ?? [];
                // Before the rules a connect draws nothing, and the kinds that differ only in their draws behave alike there.
                var kind = f.Classes.FirstOrDefault(k => k.Netns == cmd.Netns && k.Target == cmd.Remote && k.Bound == (cmd.Local is not null) &&
                    (cmd.Local is null || k.Source == cmd.Local.Value.Ip) && (rules ? k.Draws.SequenceEqual(draws) : draws.Count == 0));
                if (kind is null)
                {
                    // Statistic answers no kind has: a retransmitted SYN drew again (the encoding's retry); not compared.
                    cut = draws.Count > 0 ? "statistic draws of retransmitted SYNs" : "a connect of no kind";
                    break;
                }
                // Live in the encoding's sense: established (a half-open server end is not).
                var server = after.Sockets.End(cmd.Name + ".server");
                var up = conn.Result == ConnectResult.Established && server is not null;
                var hasEntry = after.Conntrack.All.Any(e => e.Orig.Src == conn.Local && e.Orig.Dst == cmd.Remote);
                var tracked = conn.Result == ConnectResult.Established && hasEntry;
                var why = step.Violations.FirstOrDefault()?.Message ?? (up ? null : string.Join(" / ", step.Events.Where(e => e is KernelEvent.Dropped or KernelEvent.Socket).Take(4).Select(Describe)));
                result.Add(new Observed(o, kind.Id, conn.Local.Port, up, up ? server!.Remote.Port : 0, tracked, violated) { Why = why, Stale = !up && hasEntry });
            }
            if (violated || op == ops.Count) break;
        }
        return result;
    }

    private static string Describe(KernelEvent e) => e switch
    {
        KernelEvent.Dropped d => "dropped: " + d.Reason,
        KernelEvent.Socket so => so.End + ": " + so.Text,
        _ => e.ToString() ?? "",
    };

    /// <summary>Null when the encoding allows the observed run; else the first step it does not allow.</summary>
    internal static string? Disagreement(SetupFragment f, List<Observed> run)
    {
        using var z = new Context();
        var enc = new SetupEncoding(z, f, Math.Clamp(run.Count, 1, SetupProver.MaxSlots));
        var solver = z.MkSolver();
        var s = enc.NewState("0");
        solver.Assert(enc.Initial(s));
        var slot = 0;
        for (var t = 0; t < run.Count; t++)
        {
            var o = run[t];
            var x = enc.NewStep(t);
            var n = enc.NewState((t + 1).ToString(CultureInfo.InvariantCulture));
            solver.Assert(enc.Transition(s, x, n, t));
            // The observations, named, so a disagreement says which of them the encoding cannot meet.
            var seen = new List<(string Name, BoolExpr Fact)>
            {
                ("the op", z.MkEq(x.Op, z.MkBV((int)o.Op, SetupEncoding.OpBits))),
                ($"violation={o.Violation}", o.Violation ? x.Violation : z.MkNot(x.Violation)),
            };
            if (o.Op == SetupOp.Connect)
            {
                seen.Add(("the kind and port", z.MkAnd(z.MkEq(x.Class, z.MkBV(o.Class, ((BitVecSort)x.Class.Sort).Size)), z.MkEq(x.Port, z.MkBV(o.Port, SetupEncoding.PortBits)))));
                // After a violation the encoding leaves the state unspecified: only the flag is compared there.
                if (!o.Violation)
                {
                    seen.Add(($"up={o.Up}", o.Up ? n.Live[slot] : z.MkNot(n.Live[slot])));
                    if (o.Up) seen.Add(($"wire {o.Wire}", z.MkEq(n.Wire[slot], z.MkBV(o.Wire, SetupEncoding.PortBits))));
                    seen.Add(($"tracked={o.Tracked}", o.Tracked ? n.Tracked[slot] : z.MkNot(n.Tracked[slot])));
                    seen.Add(($"stale={o.Stale}", o.Stale ? n.Stale[slot] : z.MkNot(n.Stale[slot])));
                }
                slot++;
            }
            // Asserted in a scope of their own, so a disagreement can say which observation the encoding cannot meet.
            solver.Push();
            foreach (var (_, fact) in seen) solver.Assert(fact);
            if (solver.Check() != Status.SATISFIABLE)
            {
                solver.Pop();
                var k = o.Op == SetupOp.Connect ? f.Classes[o.Class].ToString() : o.Op.ToString();
                // The first observation, in order, that the encoding cannot meet with the ones before it.
                var needed = "the step itself";
                solver.Push();
                foreach (var (name, fact) in seen)
                {
                    solver.Assert(fact);
                    if (solver.Check() == Status.SATISFIABLE) continue;
                    needed = name;
                    break;
                }
                solver.Pop();
                return string.Create(CultureInfo.InvariantCulture,
                    $"step {t + 1} ({o.Op} {k}, port {o.Port}): the model has up={o.Up}, wire {o.Wire}, tracked={o.Tracked}, violation={o.Violation}{(o.Why is null ? "" : " (" + o.Why + ")")}; the encoding allows no such step (it conflicts with: {needed})");
            }
            s = n;
        }
        return null;
    }
}
