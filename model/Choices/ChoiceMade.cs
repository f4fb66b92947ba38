using System.Collections.Immutable;

namespace ConntrackModel.Model.Choices;

/// <summary>
/// A decision taken during a step: the point, the value the source gave, and the distinct alternatives (labels,
/// index = value) where the model enumerated them, so that a caller can explore the other outcomes.
/// <paramref name="Span"/> describes, for a decision too large to enumerate, every outcome it could have had
/// (e.g. <c>127.0.0.1:1024-65535</c>), and <paramref name="Outcome"/> what this decision gave.
/// </summary>
public sealed record ChoiceMade(ChoicePoint Point, int Value, ImmutableArray<string> Alternatives, string? Span = null, string? Outcome = null)
{
    public bool Equals(ChoiceMade? other) =>
        other is not null && Point == other.Point && Value == other.Value && Span == other.Span && Outcome == other.Outcome && Alternatives.SequenceEqual(other.Alternatives);

    public override int GetHashCode() => HashCode.Combine(Point, Value, Span);
}
