using System.Collections.Immutable;
using System.Diagnostics;
using System.Runtime.CompilerServices;
using ConntrackModel.Model.Choices;
using ConntrackModel.Model.Diagnostics;
using ConntrackModel.Model.Kernel;
using ConntrackModel.Properties.Generation;

namespace ConntrackModel.Properties.Checking;

/// <summary>What replaying a trial showed: the violations, the coverage labels, and a rejection if any.</summary>
public sealed record TrialOutcome(ImmutableList<Violation> Violations, ImmutableSortedSet<string> Labels, string? Rejected)
{
    public bool Holds => Violations.IsEmpty && Rejected is null;

    /// <summary>Outcomes already known for trials (the generator's own run), by reference: see <see cref="Remember"/>.</summary>
    private static readonly ConditionalWeakTable<Trial, Known> KnownOutcomes = new();

    private sealed record Known(TrialOutcome Outcome, int Commands, long Ticks);

    /// <summary>
    /// Records the outcome of a run that is exactly <paramref name="trial"/>'s replay (the generator stepped the
    /// model with the answers the trial pins), so <see cref="Of"/> does not simulate it again.
    /// </summary>
    public static void Remember(Trial trial, TrialOutcome outcome, int commands, long stopwatchTicks) =>
        KnownOutcomes.AddOrUpdate(trial, new Known(outcome, commands, stopwatchTicks));

    /// <summary>The outcome from the steps of a run, each with the world before and after it.</summary>
    public static TrialOutcome From(IReadOnlyList<(StepRecord Step, World Before, World After)> steps, string? rejected)
    {
        ArgumentNullException.ThrowIfNull(steps);
        return new TrialOutcome([.. steps.SelectMany(s => s.Step.Violations)], Coverage.Labels(steps), rejected);
    }

    /// <summary>The trial's outcome: the generator's run if it made this trial, else a replay (<see cref="Replay"/>).</summary>
    public static TrialOutcome Of(Trial trial, ModelMeter? meter = null)
    {
        ArgumentNullException.ThrowIfNull(trial);
        if (KnownOutcomes.TryGetValue(trial, out var known))
        {
            meter?.Add(known.Commands, known.Ticks);
            meter?.Observe(known.Outcome.Labels);
            return known.Outcome;
        }
        return Replay(trial, meter);
    }

    /// <summary>Replays <paramref name="trial"/> step by step (<see cref="Simulation.Trace"/>), keeping the worlds for coverage.</summary>
    public static TrialOutcome Replay(Trial trial, ModelMeter? meter = null)
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
        var outcome = From(steps, rejected);
        meter?.Add(steps.Count, Stopwatch.GetTimestamp() - t0);
        meter?.Observe(outcome.Labels);
        return outcome;
    }

    public bool Equals(TrialOutcome? other) =>
        other is not null && Violations.SequenceEqual(other.Violations) && Labels.SetEquals(other.Labels) && Rejected == other.Rejected;

    public override int GetHashCode() => HashCode.Combine(Violations.Count, Labels.Count, Rejected);
}
