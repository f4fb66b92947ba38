using System.Collections.Immutable;
using System.Diagnostics;
using System.Globalization;
using Microsoft.Z3;

namespace ConntrackModel.Solver.Bmc;

/// <summary>
/// Iterative deepening over a transition relation, shared by the built-in configurations' search
/// (<see cref="ModelChecker"/>) and the setups' (<c>SetupProver</c>): depth 1, 2, ... each step's transition asserted
/// once, and the solver asked for a violation at the last step, so the first trace found has minimal length.
/// </summary>
internal static class Deepening
{
    /// <summary>The first depth at which <paramref name="violation"/> of the last step is satisfiable and the model, or null; <paramref name="steps"/> holds each depth's step variables.</summary>
    public static (int Depth, Microsoft.Z3.Model Model)? Run<TState, TStep>(Microsoft.Z3.Solver solver, TState initial, Func<string, TState> newState, Func<int, TStep> newStep,
        Func<TState, TStep, TState, int, BoolExpr> transition, Func<TStep, BoolExpr> violation, int maxDepth, List<TStep> steps,
        ImmutableArray<(int Depth, double Ms)>.Builder perDepth, Stopwatch clock)
    {
        ArgumentNullException.ThrowIfNull(solver);
        var state = initial;
        for (var k = 1; k <= maxDepth; k++)
        {
            var t0 = clock.Elapsed;
            var x = newStep(k - 1);
            var next = newState(k.ToString(CultureInfo.InvariantCulture));
            solver.Assert(transition(state, x, next, k - 1));
            steps.Add(x);
            state = next;
            var status = solver.Check(violation(x));
            perDepth.Add((k, (clock.Elapsed - t0).TotalMilliseconds));
            if (status == Status.UNKNOWN) throw new InvalidOperationException($"Z3 gave up at depth {k}: {solver.ReasonUnknown}");
            if (status == Status.SATISFIABLE) return (k, solver.Model);
        }
        return null;
    }
}
