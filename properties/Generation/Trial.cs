using System.Collections.Immutable;
using ConntrackModel.Model.Choices;
using ConntrackModel.Model.Kernel;
using ConntrackModel.Model.Scenarios;

namespace ConntrackModel.Properties.Generation;

/// <summary>
/// One generated test case: the configuration's fixed <paramref name="Setup"/>, the generated
/// <paramref name="Body"/>, and the answers to the model's choice points (<paramref name="Choices"/>; a point not
/// listed takes its first alternative). Choices are data, so they shrink with the commands, and a trial replays
/// exactly as a scenario that pins them (<see cref="ToScenario"/>).
/// </summary>
public sealed record Trial(ImmutableList<Command> Setup, ImmutableList<Command> Body, ImmutableSortedDictionary<string, int> Choices)
{
    public static ImmutableSortedDictionary<string, int> NoChoices { get; } = ImmutableSortedDictionary.Create<string, int>(StringComparer.Ordinal);

    /// <summary>The opt-in invariants the trial is checked against (<see cref="Scenario.Invariants"/>).</summary>
    public ImmutableSortedSet<Model.Diagnostics.InvariantId> Invariants { get; init; } = [];

    public int Length => Setup.Count + Body.Count;

    public IEnumerable<Command> Commands => Setup.Concat(Body);

    /// <summary>The trial as a scenario script with its choices pinned by <c>choose</c> lines.</summary>
    public Scenario ToScenario(string name) => Scenario.Of(name, [.. Commands]) with { Choices = Choices, Invariants = Invariants };

    /// <summary>Runs the trial in the model (the one step function, through <see cref="Simulation"/>).</summary>
    public Simulation Replay(string name = "trial") => Simulation.Run(ToScenario(name), ChoiceSource.First);

    public Trial WithBody(ImmutableList<Command> body) => this with { Body = body };

    public bool Equals(Trial? other) =>
        other is not null && Setup.SequenceEqual(other.Setup) && Body.SequenceEqual(other.Body) && Choices.SequenceEqual(other.Choices) &&
        Invariants.SetEquals(other.Invariants);

    public override int GetHashCode() => HashCode.Combine(Setup.Count, Body.Count, Choices.Count);

    /// <summary>The script, as FsCheck prints a falsifying argument.</summary>
    public override string ToString() => ToScenario("trial").ToScript().TrimEnd('\n').Replace("\n", "; ", StringComparison.Ordinal);
}
