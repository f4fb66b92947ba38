using ConntrackModel.Model.Choices;
using ConntrackModel.Model.Diagnostics;
using ConntrackModel.Model.Kernel;
using ConntrackModel.Model.Scenarios;

namespace ConntrackModel.Properties.Shrinking;

/// <summary>
/// The pins a counterexample needs: a <c>choose</c> line is kept only if the violation does not come back without
/// it. "Comes back" is sampled, not proved: the scenario without the pin must break the same invariant at the same
/// step under each of <see cref="Seeds"/> seeds (different ephemeral ports and NAT outcomes for what is no longer
/// pinned). The late-start counterexample, for one, collides whatever port B starts from, and needs no pin.
/// </summary>
public static class Pins
{
    public const int Seeds = 16;

    /// <summary><paramref name="scenario"/> without the pins its violation does not depend on (one at a time, keys in order).</summary>
    public static Scenario Necessary(Scenario scenario, InvariantId invariant, int step)
    {
        ArgumentNullException.ThrowIfNull(scenario);
        var kept = scenario;
        foreach (var key in scenario.Choices.Keys)
        {
            var without = kept with { Choices = kept.Choices.Remove(key) };
            if (Reproduces(without, invariant, step)) kept = without;
        }
        return kept;
    }

    private static bool Reproduces(Scenario s, InvariantId invariant, int step)
    {
        // ChoiceSource.First too: reports replay counterexamples with it.
        foreach (var source in Enumerable.Range(1, Seeds).Select(i => ChoiceSource.Seeded((ulong)i)).Prepend(ChoiceSource.First))
        {
            var sim = Simulation.Run(s, source);
            if (sim.Rejected is not null || sim.Violations.FirstOrDefault() is not { } v || v.Invariant != invariant || v.Step != step) return false;
        }
        return true;
    }
}
