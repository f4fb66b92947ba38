using ConntrackModel.Model.Choices;
using ConntrackModel.Model.Diagnostics;
using ConntrackModel.Model.Kernel;
using ConntrackModel.Model.Scenarios;
using ConntrackModel.Properties.Generation;
using ConntrackModel.Properties.Shrinking;

namespace ConntrackModel.Properties.Checking;

/// <summary>
/// A failing trial made ready to read and to rerun: the scenario with every choice the run made pinned (so
/// <c>ctmodel simulate</c> replays it whatever its seed), the run, the first violation, and the worlds just before
/// and after the step that broke the invariant.
/// </summary>
public sealed record Counterexample(Scenario Scenario, Simulation Simulation, Violation Violation, World Before, World After, Minimality Minimality)
{
    /// <summary>A shrunk trial; its minimality is judged within <paramref name="config"/> when given (see <see cref="Minimality"/>).</summary>
    public static Counterexample Of(Trial trial, string name, Configs.CheckConfig? config = null)
    {
        ArgumentNullException.ThrowIfNull(trial);
        return Of(trial.ToScenario(name), Minimality.Of(trial, config));
    }

    /// <summary>A failing scenario from another engine (the Z3 search), with its own minimality verdict.</summary>
    public static Counterexample Of(Scenario scenario, Minimality minimality)
    {
        ArgumentNullException.ThrowIfNull(scenario);
        scenario = scenario with { Choices = scenario.Choices.SetItems(TrialGen.Recorded(Simulation.Run(scenario, ChoiceSource.First))) };
        var first = Simulation.Run(scenario, ChoiceSource.First).Violations.FirstOrDefault() ?? throw new ArgumentException("the scenario violates no invariant", nameof(scenario));
        // Only the pins the violation depends on stay in the written scenario.
        scenario = Shrinking.Pins.Necessary(scenario, first.Invariant, first.Step);
        var sim = Simulation.Run(scenario, ChoiceSource.First);
        var violation = sim.Violations.FirstOrDefault() ?? throw new InvalidOperationException("the counterexample lost its violation when pins were dropped");
        var before = World.Initial;
        var after = World.Initial;
        foreach (var (step, world, _) in Simulation.Trace(scenario, ChoiceSource.First, World.Initial))
        {
            if (step.Step == violation.Step)
            {
                after = world;
                break;
            }
            before = world;
        }
        return new Counterexample(scenario, sim, violation, before, after, minimality);
    }

    /// <summary>The 0-based index of the fatal step's line in the scenario.</summary>
    public int FatalIndex => Violation.Step - 1;
}
