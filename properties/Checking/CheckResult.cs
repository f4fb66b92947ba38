using System.Collections.Immutable;
using ConntrackModel.Properties.Generation;
using ConntrackModel.Properties.Shrinking;

namespace ConntrackModel.Properties.Checking;

/// <summary>
/// The outcome of a property run. When a test failed, <paramref name="Original"/> is the trial FsCheck generated,
/// <paramref name="Minimal"/> what the shrinker left, and <paramref name="Replay"/> regenerates the original.
/// <paramref name="Error"/> is set when the run could not be judged (the model threw, or every test was discarded).
/// </summary>
public sealed record CheckResult(
    CheckOptions Options,
    ulong Seed,
    int TestsRun,
    int ShrinkSteps,
    Trial? Original,
    Trial? Minimal,
    ReplayToken? Replay,
    ImmutableArray<CoverageRow> Coverage,
    TimeSpan Elapsed,
    long ModelCommands,
    double CommandsPerSecond,
    string? Error)
{
    public bool Failed => Minimal is not null;

    /// <summary>The minimality check of the shrunk trial (computed on demand: it replays every one-command removal).</summary>
    public Minimality? MinimalityOfMinimal => Minimal is null ? null : Minimality.Of(Minimal, Options.Config);

    public bool Equals(CheckResult? other) =>
        other is not null && Seed == other.Seed && TestsRun == other.TestsRun && ShrinkSteps == other.ShrinkSteps &&
        Equals(Original, other.Original) && Equals(Minimal, other.Minimal) && Replay == other.Replay && Error == other.Error;

    public override int GetHashCode() => HashCode.Combine(Seed, TestsRun, ShrinkSteps, Minimal);
}
