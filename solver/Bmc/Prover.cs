using System.Collections.Immutable;
using System.Diagnostics;
using ConntrackModel.Solver.Native;
using Microsoft.Z3;

namespace ConntrackModel.Solver.Bmc;

/// <summary>
/// Proofs: bounded (no violation within K steps, by <see cref="ModelChecker.Search"/>) and unbounded by 1-induction with a
/// Houdini-style strengthening: from a fixed list of candidate invariants, drop every candidate that does not hold
/// after the first step or is not preserved by a step from any state satisfying the rest; then ask whether "no
/// violation" follows from what is left. A violation is a collision, which in this fragment breaks both
/// wire-tuple-uniqueness and no-foreign-reset at once, so the two get one verdict.
/// </summary>
public static class Prover
{
    public static ProofResult Prove(SymbolicConfig config, int depth, bool induction)
    {
        ArgumentNullException.ThrowIfNull(config);
        var sw = Stopwatch.StartNew();
        var bounded = ModelChecker.Search(config, depth);
        if (!induction || bounded.Found) return new ProofResult(config, depth, bounded, null, null, [], [], [], sw.Elapsed);

        Z3Runtime.Ensure();
        using var z = new Context();
        var enc = new Encoding(z, config, ModelChecker.SlotsFor(depth));
        var s = enc.NewState("s");
        var x = enc.NewStep(1);
        var n = enc.NewState("n");
        var step = enc.Transition(s, x, n, 1);
        var candidates = Candidates(z, enc);

        var i0 = enc.NewState("i0");
        var x0 = enc.NewStep(0);
        var i1 = enc.NewState("i1");
        var first = z.MkAnd(enc.Initial(i0), enc.Transition(i0, x0, i1, 0));
        var h = Houdini.Run(z, s, n, step, x.Violation, first, i1, [.. candidates.Select(c => (c.Name, c.Holds))]);
        var (inductiveAlone, inductive, kept, needed, dropped) = (h.InductiveAlone, h.Inductive, h.Kept, h.Needed, h.Dropped);
        return new ProofResult(config, depth, bounded, inductiveAlone, inductive, [.. kept], [.. needed], [.. dropped], sw.Elapsed);
    }

    private sealed record Candidate(string Name, Func<Encoding.State, BoolExpr> Holds);

    /// <summary>The candidate strengthening invariants, in words and as formulas over a state.</summary>
    private static List<Candidate> Candidates(Context z, Encoding enc)
    {
        var slots = Enumerable.Range(0, enc.Slots).ToList();
        BoolExpr All(IEnumerable<BoolExpr> f) => z.MkAnd([.. f]);
        return
        [
            new("tracking is on", s => s.Tracking),
            new("every live connection has a conntrack entry", s => All(slots.Select(i => z.MkImplies(s.Live[i], s.Tracked[i])))),
            new("no two entries use the same wire port (ct-tuple-uniqueness)", s => All(slots.SelectMany(i => slots.Where(j => j > i)
                .Select(j => z.MkImplies(z.MkAnd(s.Tracked[i], s.Tracked[j]), z.MkNot(z.MkEq(s.Wire[i], s.Wire[j]))))))),
            new("no two live connections use the same wire port (wire-tuple-uniqueness)", s => All(slots.SelectMany(i => slots.Where(j => j > i)
                .Select(j => z.MkImplies(z.MkAnd(s.Live[i], s.Live[j]), z.MkNot(z.MkEq(s.Wire[i], s.Wire[j]))))))),
            new("a connection with an entry is live", s => All(slots.Select(i => z.MkImplies(s.Tracked[i], s.Live[i])))),
            new("a live connection's client socket is open", s => All(slots.Select(i => z.MkImplies(s.Live[i], s.Open[i])))),
            new("slots are used in order", s => All(slots.Where(i => i > 0).Select(i => z.MkImplies(s.Used[i], s.Used[i - 1])))),
            new("an unused slot holds nothing", s => All(slots.Select(i => z.MkImplies(z.MkNot(s.Used[i]), z.MkAnd(z.MkNot(s.Open[i]), z.MkNot(s.Live[i]), z.MkNot(s.Tracked[i])))))),
            new("every live connection is untracked", s => All(slots.Select(i => z.MkImplies(s.Live[i], z.MkNot(s.Tracked[i]))))),
            .. enc.Config.Udp ? UdpCandidates(z, enc) : [],
        ];
    }

    /// <summary>
    /// The UDP fragment's candidates: where a flow's entry maps it, that the server heard it there, and that no two
    /// entries map two flows to one address (on node's, or on one pod's).
    /// </summary>
    private static List<Candidate> UdpCandidates(Context z, Encoding enc)
    {
        var slots = Enumerable.Range(0, enc.Slots).ToList();
        BoolExpr All(IEnumerable<BoolExpr> f) => z.MkAnd([.. f]);
        IEnumerable<(int I, int J)> Pairs() => slots.SelectMany(i => slots.Where(j => j > i).Select(j => (i, j)));
        return
        [
            new("a flow the server heard is heard where its entry maps it", s => All(slots.Select(i => z.MkImplies(z.MkAnd(s.Live[i], s.Tracked[i]),
                z.MkAnd(z.MkEq(s.HeardNode[i], s.NodeAddr[i]), z.MkEq(s.HeardWire[i], s.Wire[i])))))),
            new("a flow with an entry was used", s => All(slots.Select(i => z.MkImplies(z.MkOr(s.Tracked[i], s.Live[i]), s.Used[i])))),
            new("no two entries map flows to one port of node's address", s => All(Pairs().Select(p => z.MkImplies(
                z.MkAnd(s.Tracked[p.I], s.Tracked[p.J], s.NodeAddr[p.I], s.NodeAddr[p.J]), z.MkNot(z.MkEq(s.Wire[p.I], s.Wire[p.J])))))),
            new("an entry that maps a flow to its pod's address keeps its port", s => All(slots.Select(i => z.MkImplies(
                z.MkAnd(s.Tracked[i], z.MkNot(s.NodeAddr[i])), z.MkEq(s.Wire[i], s.Local[i]))))),
            new("no two flows of one namespace share a port", s => All(Pairs().Select(p => z.MkImplies(
                z.MkAnd(s.Used[p.I], s.Used[p.J], z.MkEq(s.Origin[p.I], s.Origin[p.J])), z.MkNot(z.MkEq(s.Local[p.I], s.Local[p.J])))))),
        ];
    }
}
