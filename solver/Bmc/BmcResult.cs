using System.Collections.Immutable;
using ConntrackModel.Model.Scenarios;

namespace ConntrackModel.Solver.Bmc;

/// <summary>
/// A bounded search: the depth reached, the violating trace if one was found (its symbolic steps and the scenario
/// it decodes to, with choices pinned), whether the concrete model replayed it (a trace that does not is an
/// encoding bug: <paramref name="EncodingBug"/> says how it differed), time per depth, and the SMT-LIB of the last query.
/// </summary>
public sealed record BmcResult(
    SymbolicConfig Config,
    int Depth,
    ImmutableArray<SymbolicStep> Steps,
    Scenario? Scenario,
    string? EncodingBug,
    ImmutableArray<(int Depth, double Ms)> PerDepth,
    TimeSpan Elapsed,
    string? Smt)
{
    public bool Found => Scenario is not null && EncodingBug is null;

    public bool Equals(BmcResult? other) => other is not null && Depth == other.Depth && Steps.SequenceEqual(other.Steps) && Equals(Scenario, other.Scenario) && EncodingBug == other.EncodingBug;

    public override int GetHashCode() => HashCode.Combine(Depth, Steps.Length, EncodingBug);
}
