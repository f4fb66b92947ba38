using Microsoft.Z3;

namespace ConntrackModel.Solver.Bmc;

/// <summary>
/// 1-induction with a Houdini strengthening, shared by the built-in configurations' <see cref="Prover"/> and the setups'
/// prover: from the candidate invariants, drop those that do not hold after the first step from the initial state or
/// are not preserved by a step from any state satisfying the rest, to a fixpoint; then ask whether no step from a state
/// satisfying what is left violates, and which of the kept candidates that answer needs.
/// </summary>
internal static class Houdini
{
    public sealed record Outcome(bool InductiveAlone, bool Inductive, List<string> Kept, List<string> Needed, List<string> Dropped);

    /// <summary>
    /// The induction over <paramref name="step"/>, a step from state <paramref name="s"/> to <paramref name="n"/> whose
    /// violation flag is <paramref name="violation"/>; <paramref name="first"/> is the initial state and the first step
    /// from it, to <paramref name="afterFirst"/>; <paramref name="candidates"/> named formulas over a state (in <paramref name="z"/>).
    /// </summary>
    /// <remarks>
    /// An "unknown" from Z3 (<paramref name="timeoutMs"/> per query, 0 for none) is never read as "unsatisfiable", which
    /// would make a proof of a guess: it throws, and no verdict is given.
    /// </remarks>
    public static Outcome Run<TState>(Context z, TState s, TState n, BoolExpr step, BoolExpr violation, BoolExpr first, TState afterFirst,
        IReadOnlyList<(string Name, Func<TState, BoolExpr> Holds)> candidates, uint timeoutMs = 0)
    {
        ArgumentNullException.ThrowIfNull(z);
        ArgumentNullException.ThrowIfNull(candidates);
        bool Sat(params BoolExpr[] f)
        {
            var solver = z.MkSolver();
            var p = z.MkParams();
            p.Add("random_seed", 1u); // default 0
            if (timeoutMs > 0) p.Add("timeout", timeoutMs);
            solver.Parameters = p;
            solver.Assert(f);
            var status = solver.Check();
            if (status == Status.UNKNOWN) throw new InvalidOperationException($"Z3 gave up on an induction query: {solver.ReasonUnknown}");
            return status == Status.SATISFIABLE;
        }

        var inductiveAlone = !Sat(step, violation);
        var kept = candidates.Where(c => !Sat(first, z.MkNot(c.Holds(afterFirst)))).ToList();
        var dropped = candidates.Except(kept).Select(c => c.Name).ToList();
        bool changed;
        do
        {
            changed = false;
            var assume = z.MkAnd([.. kept.Select(c => c.Holds(s))]);
            foreach (var c in kept.ToList())
            {
                if (!Sat(assume, step, z.MkNot(c.Holds(n)))) continue;
                kept.Remove(c);
                dropped.Add(c.Name);
                changed = true;
                break;
            }
        }
        while (changed);
        var inductive = !Sat(z.MkAnd([.. kept.Select(c => c.Holds(s))]), step, violation);
        var needed = inductive
            ? kept.Where(c => Sat(z.MkAnd([.. kept.Where(o => o != c).Select(o => o.Holds(s))]), step, violation)).Select(c => c.Name).ToList()
            : [];
        return new Outcome(inductiveAlone, inductive, [.. kept.Select(c => c.Name)], needed, dropped);
    }
}
