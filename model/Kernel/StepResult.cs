using System.Collections.Immutable;

namespace ConntrackModel.Model.Kernel;

/// <summary>
/// The result of one step: the new world and what happened. <paramref name="Rejected"/> is set (and the world
/// unchanged) when the command's precondition does not hold, e.g. a bind to a port in use.
/// </summary>
public sealed record StepResult(World World, ImmutableArray<KernelEvent> Events, string? Rejected)
{
    public bool Equals(StepResult? other) => other is not null && World.Equals(other.World) && Rejected == other.Rejected && Events.SequenceEqual(other.Events);

    public override int GetHashCode() => HashCode.Combine(World, Rejected, Events.Length);
}
