using ConntrackModel.Model.Choices;

namespace ConntrackModel.Properties.Generation;

/// <summary>
/// The choice source used while generating: pseudo-random per key like <see cref="SeededChoices"/>, but an
/// ephemeral port comes from the first few candidates, so two unbound connects share a port often enough to
/// matter (the DNAT collision needs exactly that). The answers it gave are then recorded into the trial.
/// </summary>
public sealed record GeneratedChoices(ulong Seed) : ChoiceSource
{
    /// <summary>How many distinct start offsets (of two ports each, by parity) an ephemeral choice draws from.</summary>
    public const int EphemeralSpread = 4;

    public override int Choose(ChoicePoint point)
    {
        ArgumentNullException.ThrowIfNull(point);
        if (point.Arity <= 1) return 0;
        var h = SeededChoices.SplitMix64(Seed ^ SeededChoices.Fnv1a(point.Key) ^ ((ulong)point.Kind << 56));
        var spread = point.Kind == ChoiceKind.EphemeralPort ? Math.Min(point.Arity, EphemeralSpread) : point.Arity;
        return (int)(h % (ulong)spread);
    }
}
