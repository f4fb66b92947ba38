using System.Collections.Immutable;

namespace ConntrackModel.Solver.Bmc;

/// <summary>
/// <c>prove</c>'s answer: whether no violation is reachable within <paramref name="Depth"/> steps (a counterexample
/// otherwise), and, when k-induction was asked for, whether the invariants are inductive alone, which
/// strengthening invariants made them inductive (<paramref name="Needed"/>: each of these is required), and the
/// candidates that were not invariants (<paramref name="Dropped"/>).
/// </summary>
public sealed record ProofResult(
    SymbolicConfig Config,
    int Depth,
    BmcResult Bounded,
    bool? InductiveAlone,
    bool? Inductive,
    ImmutableArray<string> Strengthening,
    ImmutableArray<string> Needed,
    ImmutableArray<string> Dropped,
    TimeSpan Elapsed)
{
    public bool BoundedSafe => !Bounded.Found && Bounded.EncodingBug is null;

    public bool Equals(ProofResult? other) =>
        other is not null && Depth == other.Depth && BoundedSafe == other.BoundedSafe && Inductive == other.Inductive && Needed.SequenceEqual(other.Needed);

    public override int GetHashCode() => HashCode.Combine(Depth, BoundedSafe, Inductive);
}
