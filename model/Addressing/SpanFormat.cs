using System.Globalization;
namespace ConntrackModel.Model.Addressing;

/// <summary>
/// One way to turn the address types into strings: format into a stack buffer, then allocate the string once.
/// Interpolated strings that embed an address call <see cref="ISpanFormattable.TryFormat"/> directly and allocate
/// nothing for it.
/// </summary>
internal static class SpanFormat
{
    /// <summary>Longest text of any address type: two <c>255.255.255.255:65535</c> and an arrow.</summary>
    public const int MaxChars = 48;

    public static string Format<T>(this T value) where T : ISpanFormattable
    {
        Span<char> buffer = stackalloc char[MaxChars];
        return value.TryFormat(buffer, out var n, default, null) ? new string(buffer[..n]) : throw new InvalidOperationException("address text longer than " + MaxChars);
    }

    /// <summary>
    /// Appends <paramref name="value"/> at <paramref name="pos"/>. The address types format through these instead of
    /// interpolated <c>TryWrite</c>, whose handler boxed every number (measured: a tenth of a step's allocations).
    /// </summary>
    public static bool Append(Span<char> destination, ref int pos, uint value)
    {
        if (!value.TryFormat(destination[pos..], out var n, default, CultureInfo.InvariantCulture)) return false;
        pos += n;
        return true;
    }

    public static bool Append(Span<char> destination, ref int pos, ReadOnlySpan<char> text)
    {
        if (!text.TryCopyTo(destination[pos..])) return false;
        pos += text.Length;
        return true;
    }

    public static bool Append<T>(Span<char> destination, ref int pos, T value) where T : ISpanFormattable
    {
        if (!value.TryFormat(destination[pos..], out var n, default, CultureInfo.InvariantCulture)) return false;
        pos += n;
        return true;
    }
}
