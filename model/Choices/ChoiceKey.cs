using System.Globalization;

namespace ConntrackModel.Model.Choices;

/// <summary>
/// The stable name under which one decision's choice points are keyed (<c>nat:src:B#1</c>; a point adds its own
/// suffix, <c>:port</c>, <c>:off0</c>). A NAT decision's name is written only when the decision has a choice to make:
/// most have none (a port kept, a null binding), and building the text for each was a string per packet.
/// </summary>
public readonly struct ChoiceKey : IEquatable<ChoiceKey>
{
    private readonly string? _text;
    private readonly string? _origin;
    private readonly bool _src;
    private readonly int _count;

    private ChoiceKey(string? text, string? origin, bool src, int count)
    {
        _text = text;
        _origin = origin;
        _src = src;
        _count = count;
    }

    /// <summary>The key of the <paramref name="count"/>-th NAT decision for packets from <paramref name="origin"/>.</summary>
    public static ChoiceKey Nat(bool src, string origin, int count) => new(null, origin, src, count);

    public static ChoiceKey FromString(string text) => new(text, null, false, 0);

    public static implicit operator ChoiceKey(string text) => FromString(text);

    public override string ToString() =>
        _text ?? string.Create(CultureInfo.InvariantCulture, $"nat:{(_src ? "src" : "dst")}:{_origin}#{_count}");

    public bool Equals(ChoiceKey other) => ToString() == other.ToString();

    public override bool Equals(object? obj) => obj is ChoiceKey k && Equals(k);

    public override int GetHashCode() => StringComparer.Ordinal.GetHashCode(ToString());

    public static bool operator ==(ChoiceKey left, ChoiceKey right) => left.Equals(right);

    public static bool operator !=(ChoiceKey left, ChoiceKey right) => !left.Equals(right);
}
