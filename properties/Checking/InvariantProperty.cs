using ConntrackModel.Model.Diagnostics;
using ConntrackModel.Properties.Configs;
using ConntrackModel.Properties.Generation;
using ConntrackModel.Properties.Shrinking;
using FsCheck;
using FsCheck.Fluent;

namespace ConntrackModel.Properties.Checking;

/// <summary>
/// The property: for every generated trial of a configuration, every invariant holds after every step. Each
/// invariant is its own labelled conjunct, so FsCheck names the one that failed; every trial is classified by
/// what it exercised (<see cref="Coverage"/>).
/// </summary>
public static class InvariantProperty
{
    /// <summary>Trials of <paramref name="config"/> with the sequence shrinker.</summary>
    public static Arbitrary<Trial> Arbitrary(CheckConfig config) =>
        Arb.From(TrialGen.For(config), t => TrialShrinker.Shrink(config, t));

    public static Property ForAll(CheckConfig config, ModelMeter? meter = null) =>
        Prop.ForAll(Arbitrary(config), t => Holds(t, meter));

    public static Property Holds(Trial trial, ModelMeter? meter = null)
    {
        var outcome = TrialOutcome.Of(trial, meter);
        var property = Prop.Label(outcome.Rejected is null, $"the model ran every command ({outcome.Rejected ?? "none rejected"})");
        foreach (var id in Invariants.All)
        {
            var broken = outcome.Violations.FirstOrDefault(v => v.Invariant == id);
            property = Prop.And(property, Prop.Label(broken is null, broken is null ? Invariants.Name(id) : $"{Invariants.Name(id)}: step {broken.Step}: {broken.Message}"));
        }
        foreach (var label in outcome.Labels) property = Prop.Classify(property, true, label);
        return property;
    }
}
