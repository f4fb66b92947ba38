using System.Collections.Immutable;

namespace ConntrackModel.Model.Choices;

/// <summary>Answers the keys in <paramref name="Answers"/> as given (clamped to the arity) and defers the rest.</summary>
public sealed record ScriptedChoices(ImmutableDictionary<string, int> Answers, ChoiceSource Fallback) : ChoiceSource
{
    public override int Choose(ChoicePoint point)
    {
        ArgumentNullException.ThrowIfNull(point);
        return Answers.TryGetValue(point.Key, out var v) ? Math.Clamp(v, 0, Math.Max(0, point.Arity - 1)) : Fallback.Choose(point);
    }

    public bool Equals(ScriptedChoices? other) =>
        other is not null && Fallback.Equals(other.Fallback) && Answers.Count == other.Answers.Count &&
        Answers.All(kv => other.Answers.TryGetValue(kv.Key, out var v) && v == kv.Value);

    public override int GetHashCode() => HashCode.Combine(Answers.Count, Fallback);
}
