using System.Buffers;
using System.Collections.Immutable;
using ConntrackModel.Model.Choices;
using ConntrackModel.Model.Diagnostics;
using ConntrackModel.Model.Scenarios;

namespace ConntrackModel.Model.Kernel;

/// <summary>
/// A scenario run: the steps in order and the final world. <paramref name="Rejected"/> names the first command
/// whose precondition failed (the run stops there, as a script would stop on error).
/// </summary>
public sealed record Simulation(Scenario Scenario, ImmutableList<StepRecord> Steps, World Final, ScenarioLine? RejectedLine, string? Rejected)
{
    /// <summary>Runs every command from a fresh namespace with the given choices.</summary>
    public static Simulation Run(Scenario scenario, ChoiceSource choices) => Run(scenario, choices, World.Initial);

    public static Simulation Run(Scenario scenario, ChoiceSource choices, World start)
    {
        var steps = ImmutableList.CreateBuilder<StepRecord>();
        var (final, rejectedLine, rejected) = Fold(scenario, choices, start, steps.Add);
        return new Simulation(scenario, steps.ToImmutable(), final, rejectedLine, rejected);
    }

    /// <summary>
    /// The run without the worlds in between (<see cref="LinuxKernel.Run"/>): each step's record goes to
    /// <paramref name="onStep"/>; returns the final world, or the world before the first rejected command with its line
    /// and reason. What <see cref="Run(Scenario, ChoiceSource, World)"/> and <see cref="RunSummary"/> use.
    /// </summary>
    public static (World Final, ScenarioLine? RejectedLine, string? Rejected) Fold(Scenario scenario, ChoiceSource choices, World start, Action<StepRecord> onStep)
    {
        ArgumentNullException.ThrowIfNull(scenario);
        ArgumentNullException.ThrowIfNull(choices);
        ArgumentNullException.ThrowIfNull(start);
        ArgumentNullException.ThrowIfNull(onStep);
        var run = new LinuxKernel.Run(start, Pinned(scenario, choices));
        // The lines copied out of their tree once: an enumerator of the list walks a stack of its nodes per line.
        var count = scenario.Lines.Count;
        var lines = ArrayPool<ScenarioLine>.Shared.Rent(count);
        try
        {
            scenario.Lines.CopyTo(lines);
            for (var i = 0; i < count; i++)
            {
                var n = i + 1;
                var line = lines[i];
                var startTime = run.Now;
                var (events, rejected) = run.Step(line.Command);
                if (rejected is not null) return (run.Freeze(), line, rejected);
                onStep(new StepRecord(n, line, startTime, events, Invariants.Check(n, run.Sockets, run.Conntrack, events, scenario.Invariants)));
            }
            return (run.Freeze(), null, null);
        }
        finally
        {
            ArrayPool<ScenarioLine>.Shared.Return(lines, clearArray: true);
        }
    }

    /// <summary>Choices the scenario pins win over the caller's source (see Scenario.Choices).</summary>
    private static ChoiceSource Pinned(Scenario scenario, ChoiceSource choices) =>
        scenario.Choices.IsEmpty ? choices : new ScriptedChoices(scenario.Choices.ToImmutableDictionary(StringComparer.Ordinal), choices);

    /// <summary>
    /// The run one step at a time, each with the world after it, for callers that look at intermediate worlds
    /// (coverage, the table before a fatal step). A rejected command ends the sequence with its reason set; the
    /// world it carries is the one before it.
    /// </summary>
    public static IEnumerable<(StepRecord Step, World After, string? Rejected)> Trace(Scenario scenario, ChoiceSource choices, World start)
    {
        ArgumentNullException.ThrowIfNull(scenario);
        ArgumentNullException.ThrowIfNull(choices);
        ArgumentNullException.ThrowIfNull(start);
        choices = Pinned(scenario, choices);
        var world = start;
        var n = 0;
        foreach (var line in scenario.Lines)
        {
            n++;
            var r = LinuxKernel.Step(world, line.Command, choices);
            if (r.Rejected is not null)
            {
                yield return (new StepRecord(n, line, world.Now, [], []), world, r.Rejected);
                yield break;
            }
            var record = StepRecord.Of(n, line, world, r, scenario.Invariants);
            world = r.World;
            yield return (record, world, null);
        }
    }

    public IEnumerable<Violation> Violations => Steps.SelectMany(s => s.Violations);

    public IEnumerable<KernelEvent> Events => Steps.SelectMany(s => s.Events);

    public bool Equals(Simulation? other) =>
        other is not null && Scenario.Equals(other.Scenario) && Steps.SequenceEqual(other.Steps) && Final.Equals(other.Final) && Rejected == other.Rejected;

    public override int GetHashCode() => HashCode.Combine(Scenario, Steps.Count, Rejected);
}
