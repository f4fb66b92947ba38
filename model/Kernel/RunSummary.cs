using System.Collections.Immutable;
using ConntrackModel.Model.Choices;
using ConntrackModel.Model.Diagnostics;
using ConntrackModel.Model.Scenarios;

namespace ConntrackModel.Model.Kernel;

/// <summary>
/// A run folded as it goes: the final world, the violations, and the decisions that had alternatives or a span
/// (<see cref="ChoiceMade"/>), but no trace. What <c>simulate --json</c> and the wire exploration need, in memory
/// that grows with the namespace's state and not with the number of packets.
/// </summary>
public sealed record RunSummary(
    World Final,
    ImmutableArray<Violation> Violations,
    ImmutableArray<KernelEvent.Choice> OpenChoices,
    ScenarioLine? RejectedLine,
    string? Rejected)
{
    /// <summary>Every choice key the run asked, when the scenario pins any (to find pins that matched nothing); else empty.</summary>
    public ImmutableHashSet<string> AskedKeys { get; init; } = ImmutableHashSet<string>.Empty;

    /// <summary>Runs <paramref name="scenario"/> from a fresh namespace, keeping only the summary.</summary>
    public static RunSummary Of(Scenario scenario, ChoiceSource choices)
    {
        var violations = ImmutableArray.CreateBuilder<Violation>();
        var open = ImmutableArray.CreateBuilder<KernelEvent.Choice>();
        var asked = scenario.Choices.IsEmpty ? null : new HashSet<string>(StringComparer.Ordinal);
        var (final, rejectedLine, rejected) = Simulation.Fold(scenario, choices, World.Initial, step =>
        {
            violations.AddRange(step.Violations);
            foreach (var ev in step.Events)
            {
                if (ev is not KernelEvent.Choice c) continue;
                if (IsOpen(c)) open.Add(c);
                asked?.Add(c.Made.Point.Key);
            }
        });
        return new RunSummary(final, violations.ToImmutable(), open.ToImmutable(), rejectedLine, rejected) { AskedKeys = Asked(asked) };
    }

    private static ImmutableHashSet<string> Asked(HashSet<string>? asked) => asked is null ? ImmutableHashSet<string>.Empty : asked.ToImmutableHashSet(StringComparer.Ordinal);

    /// <summary>A decision another run could have taken differently: enumerated alternatives, or a span of outcomes.</summary>
    private static bool IsOpen(KernelEvent.Choice c) => c.Made.Alternatives.Length >= 2 || c.Made.Span is not null;

    /// <summary>The summary of a run whose trace was kept.</summary>
    public static RunSummary Of(Simulation sim)
    {
        ArgumentNullException.ThrowIfNull(sim);
        return new RunSummary(sim.Final, [.. sim.Violations],
            [.. sim.Events.OfType<KernelEvent.Choice>().Where(IsOpen)],
            sim.RejectedLine, sim.Rejected)
        {
            AskedKeys = sim.Scenario.Choices.IsEmpty ? ImmutableHashSet<string>.Empty
                : sim.Events.OfType<KernelEvent.Choice>().Select(c => c.Made.Point.Key).ToImmutableHashSet(StringComparer.Ordinal),
        };
    }

    public bool Equals(RunSummary? other) =>
        other is not null && Final.Equals(other.Final) && Violations.SequenceEqual(other.Violations) &&
        OpenChoices.SequenceEqual(other.OpenChoices) && RejectedLine == other.RejectedLine && Rejected == other.Rejected;

    public override int GetHashCode() => HashCode.Combine(Final, Violations.Length, OpenChoices.Length, Rejected);
}
