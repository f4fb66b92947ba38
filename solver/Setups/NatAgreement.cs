using System.Collections.Immutable;
using ConntrackModel.Model.Choices;
using ConntrackModel.Model.Kernel;
using ConntrackModel.Model.Scenarios;
using ConntrackModel.Solver.Native;
using Microsoft.Z3;

namespace ConntrackModel.Solver.Setups;

/// <summary>
/// Checks <see cref="RuleCompiler"/> against the model: every NAT decision a run of a scenario makes
/// (<see cref="KernelEvent.Ct.NatDecision"/>: the packet, devices, marks and state the nat chain saw, and the rule that
/// ended it) is compiled from the namespace's rules as they were before that step and must be what the terms allow: the
/// same rule ending the traversal (or none), with the same marks after it. Where the traversal made no statistic draw,
/// the terms must allow nothing else. A check both ways would need the terms' traversals replayed in the model; this
/// one drives the terms with what the model did.
/// </summary>
public static class NatAgreement
{
    /// <summary>What a check covered and where it disagreed.</summary>
    public sealed record Result(int Decisions, int WithDraws, int Rules, ImmutableArray<string> Disagreements);

    public static Result Check(Scenario scenario, ChoiceSource choices) => Check(scenario, choices, CompilerMutation.None);

    internal static Result Check(Scenario scenario, ChoiceSource choices, CompilerMutation mutation)
    {
        ArgumentNullException.ThrowIfNull(scenario);
        ArgumentNullException.ThrowIfNull(choices);
        Z3Runtime.Ensure();
        using var z = new Context();
        var before = World.Initial;
        int decisions = 0, withDraws = 0;
        var rules = new HashSet<Model.Iptables.IptRule>(RuleIdentity.Instance);
        var problems = ImmutableArray.CreateBuilder<string>();
        foreach (var (step, after, _) in Simulation.Trace(scenario, choices, World.Initial))
        {
            foreach (var e in step.Events)
            {
                if (e is not KernelEvent.Ct { NatDecision: { } seen }) continue;
                decisions++;
                if (seen.Decided is { } d) rules.Add(d);
                var ns = before.FindNetns(seen.Netns) ?? throw new InvalidOperationException($"no namespace {seen.Netns ?? "init"} before line {step.Line.Line}");
                var compiler = new RuleCompiler(z, ns, mutation);
                var packet = SymbolicPacket.Of(z, seen.Tuple, seen.Mark, seen.State, hasCt: true, seen.CtMark, seen.CtStatus);
                var outcome = compiler.Traverse(ns.Netfilter.Nat, seen.Hook, packet, seen.InDevice, seen.OutDevice, $"d{decisions}");
                if (outcome.Draws.Length > 0) withDraws++;
                var where = $"line {step.Line.Line} ({step.Line.Text}): {seen.Netns ?? "init"} nat {Model.Iptables.IptRule.BuiltinName(seen.Hook)} for {seen.Tuple}";
                if (Problem(z, outcome, seen) is { } p) problems.Add($"{where}: {p}");
            }
            before = after;
        }
        return new Result(decisions, withDraws, rules.Count, problems.ToImmutable());
    }

    private static string? Problem(Context z, ChainOutcome outcome, NatTraversal seen)
    {
        var solver = z.MkSolver();
        BoolExpr chosen;
        if (seen.Decided is { } rule)
        {
            var hit = outcome.Decisions.Where(d => ReferenceEquals(d.Rule, rule)).ToList();
            if (hit.Count == 0) return $"the model's rule '-A {rule.ChainName} {rule.Spec}' is not one the terms can end the traversal with";
            chosen = z.MkOr(hit.Select(h => h.When));
        }
        else
        {
            chosen = outcome.Undecided;
        }
        var marks = z.MkAnd(z.MkEq(outcome.Mark, z.MkBV(seen.MarkOut, 32)), z.MkEq(outcome.CtMark, z.MkBV(seen.CtMarkOut, 32)));
        solver.Assert(chosen, marks);
        if (solver.Check() != Status.SATISFIABLE)
            return $"the terms do not allow the model's decision ({Name(seen.Decided)}, mark {seen.MarkOut:x}, ct mark {seen.CtMarkOut:x})";
        if (outcome.Draws.Length > 0) return null;
        // No draw: the terms must be a function of the packet.
        var other = z.MkSolver();
        other.Assert(z.MkNot(z.MkAnd(chosen, marks)));
        return other.Check() == Status.UNSATISFIABLE ? null : $"the terms also allow another outcome than the model's ({Name(seen.Decided)})";
    }

    private static string Name(Model.Iptables.IptRule? r) => r is null ? "the chain's end" : $"-A {r.ChainName} {r.Spec}";
}
