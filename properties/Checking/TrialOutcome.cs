using System.Collections.Immutable;
using System.Diagnostics;
using ConntrackModel.Model.Choices;
using ConntrackModel.Model.Diagnostics;
using ConntrackModel.Model.Kernel;
using ConntrackModel.Properties.Generation;

namespace ConntrackModel.Properties.Checking;

/// <summary>What replaying a trial showed: the violations, the coverage labels, and a rejection if any.</summary>
public sealed record TrialOutcome(ImmutableList<Violation> Violations, ImmutableSortedSet<string> Labels, string? Rejected)
{
    public bool Holds => Violations.IsEmpty && Rejected is null;

    /// <summary>Replays <paramref name="trial"/> step by step (<see cref="Simulation.Trace"/>), keeping the worlds for coverage.</summary>
    public static TrialOutcome Of(Trial trial, ModelMeter? meter = null)
    {
        ArgumentNullException.ThrowIfNull(trial);
        var t0 = Stopwatch.GetTimestamp();
        var steps = new List<(StepRecord, World, World)>();
        var before = World.Initial;
        string? rejected = null;
        foreach (var (step, after, rej) in Simulation.Trace(trial.ToScenario("trial"), ChoiceSource.First, World.Initial))
        {
            if (rej is not null)
            {
                rejected = rej;
                break;
            }
            steps.Add((step, before, after));
            before = after;
        }
        var outcome = new TrialOutcome([.. steps.SelectMany(s => s.Item1.Violations)], Coverage.Labels(steps), rejected);
        meter?.Add(steps.Count, Stopwatch.GetTimestamp() - t0);
        meter?.Observe(outcome.Labels);
        return outcome;
    }

    public bool Equals(TrialOutcome? other) =>
        other is not null && Violations.SequenceEqual(other.Violations) && Labels.SetEquals(other.Labels) && Rejected == other.Rejected;

    public override int GetHashCode() => HashCode.Combine(Violations.Count, Labels.Count, Rejected);
}
