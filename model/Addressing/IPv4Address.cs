using System.Globalization;

namespace ConntrackModel.Model.Addressing;

/// <summary>An IPv4 address in host byte order.</summary>
public readonly record struct IPv4Address(uint Value) : IComparable<IPv4Address>, ISpanFormattable
{
    public static IPv4Address Loopback { get; } = new(0x7F000001);

    /// <summary>127.0.0.0/8, the addresses <c>lo</c> answers for (host scope).</summary>
    public bool IsLoopback => (Value >> 24) == 127;

    public static bool TryParse(string text, out IPv4Address address)
    {
        address = default;
        var parts = text.Split('.');
        if (parts.Length != 4) return false;
        uint value = 0;
        foreach (var part in parts)
        {
            if (part.Length is 0 or > 3 || !part.All(char.IsAsciiDigit)) return false;
            var octet = int.Parse(part, CultureInfo.InvariantCulture);
            if (octet > 255) return false;
            value = (value << 8) | (uint)octet;
        }
        address = new IPv4Address(value);
        return true;
    }

    public int CompareTo(IPv4Address other) => Value.CompareTo(other.Value);

    public override string ToString() => this.Format();

    public string ToString(string? format, IFormatProvider? formatProvider) => ToString();

    /// <summary>Dotted quad straight into the caller's buffer: traces and hashes format millions of addresses.</summary>
    public bool TryFormat(Span<char> destination, out int charsWritten, ReadOnlySpan<char> format, IFormatProvider? provider)
    {
        charsWritten = 0;
        return SpanFormat.Append(destination, ref charsWritten, Value >> 24) && SpanFormat.Append(destination, ref charsWritten, ".") &&
            SpanFormat.Append(destination, ref charsWritten, (Value >> 16) & 255) && SpanFormat.Append(destination, ref charsWritten, ".") &&
            SpanFormat.Append(destination, ref charsWritten, (Value >> 8) & 255) && SpanFormat.Append(destination, ref charsWritten, ".") &&
            SpanFormat.Append(destination, ref charsWritten, Value & 255);
    }

    public static bool operator <(IPv4Address left, IPv4Address right) => left.CompareTo(right) < 0;

    public static bool operator <=(IPv4Address left, IPv4Address right) => left.CompareTo(right) <= 0;

    public static bool operator >(IPv4Address left, IPv4Address right) => left.CompareTo(right) > 0;

    public static bool operator >=(IPv4Address left, IPv4Address right) => left.CompareTo(right) >= 0;
}
