using System.Collections.Immutable;
using ConntrackModel.Model.Diagnostics;
using ConntrackModel.Model.Scenarios;

namespace ConntrackModel.Model.Kernel;

/// <summary>One executed command: its 1-based index, source line, the events and the violations it caused.</summary>
public sealed record StepRecord(int Step, ScenarioLine Line, long StartTime, ImmutableArray<KernelEvent> Events, ImmutableList<Violation> Violations)
{
    /// <summary>The record of command <paramref name="step"/> (1-based) that ran from <paramref name="before"/>, its invariants checked.</summary>
    public static StepRecord Of(int step, ScenarioLine line, World before, StepResult result, IReadOnlySet<InvariantId>? optedIn = null)
    {
        ArgumentNullException.ThrowIfNull(before);
        ArgumentNullException.ThrowIfNull(result);
        return new StepRecord(step, line, before.Now, result.Events, Invariants.Check(step, result.World, result.Events, optedIn));
    }

    public bool Equals(StepRecord? other) =>
        other is not null && Step == other.Step && Line == other.Line && StartTime == other.StartTime &&
        Events.SequenceEqual(other.Events) && Violations.SequenceEqual(other.Violations);

    public override int GetHashCode() => HashCode.Combine(Step, Line, Events.Length);
}
