using System.Collections.Immutable;
using ConntrackModel.Model.Reporting;

namespace ConntrackModel.Replay.Kernel;

/// <summary>
/// What the kernel did with a scenario, in the shape <c>simulate --json</c> prints (violations are left empty:
/// the invariants are judged on the model), plus a log of what the driver did and saw, line by line.
/// <paramref name="StoppedAt"/> is the script line where the run stopped because a command's precondition failed
/// on the kernel too (send/close/abort on an end the application already closed), as the model stops there.
/// </summary>
public sealed record KernelRun(Observation Observation, ImmutableArray<string> Log, string Namespace, int? StoppedAt = null)
{
    /// <summary>
    /// The real name each <c>ip netns add NAME</c> of the scenario was given (<c>{Namespace}-NAME</c>), all deleted
    /// by the time the run returns. <see cref="Namespace"/> is the initial namespace's.
    /// </summary>
    public ImmutableSortedDictionary<string, string> ScenarioNamespaces { get; init; } = ImmutableSortedDictionary.Create<string, string>(StringComparer.Ordinal);

    public bool Equals(KernelRun? other) => other is not null && Observation.Equals(other.Observation) && Namespace == other.Namespace;

    public override int GetHashCode() => HashCode.Combine(Observation, Namespace);
}
