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
    /// <summary>
    /// The answer that makes this NAT decision give <paramref name="address"/>: the index of that alternative
    /// (<see cref="ChoiceKind.NatPortOutcome"/>), or the start offset that probes it first
    /// (<see cref="ChoiceKind.NatPortOffset"/>, whose <see cref="Span"/> is <c>IP:LOW-HIGH</c>); null if it cannot.
    /// Used to make the model take a decision observed elsewhere (the kernel, a Z3 trace).
    /// </summary>
    public int? ValueFor(Addressing.SockAddr address)
    {
        var text = address.ToString();
        switch (Point.Kind)
        {
            case ChoiceKind.NatPortOutcome:
                for (var i = 0; i < Alternatives.Length; i++)
                {
                    if (Alternatives[i] == text || Alternatives[i].StartsWith(text + " ", StringComparison.Ordinal)) return i;
                }
                return null;
            case ChoiceKind.NatPortOffset when Span is { } span && span.LastIndexOf(':') is var colon and > 0 && span.IndexOf('-', colon) is var dash and > 0:
                var low = int.Parse(span[(colon + 1)..dash], System.Globalization.CultureInfo.InvariantCulture);
                var high = int.Parse(span[(dash + 1)..], System.Globalization.CultureInfo.InvariantCulture);
                return span[..colon] == address.Ip.ToString() && address.Port >= low && address.Port <= high ? address.Port - low : null;
            default:
                return null;
        }
    }

    public bool Equals(ChoiceMade? other) =>
        other is not null && Point == other.Point && Value == other.Value && Span == other.Span && Outcome == other.Outcome && Alternatives.SequenceEqual(other.Alternatives);

    public override int GetHashCode() => HashCode.Combine(Point, Value, Span);
}
