using System.Globalization;

namespace ConntrackModel.Model.Addressing;

/// <summary>An IPv4 transport address (address and TCP port).</summary>
public readonly record struct SockAddr(IPv4Address Ip, int Port) : ISpanFormattable
{
    public static bool TryParse(string text, out SockAddr addr)
    {
        addr = default;
        var colon = text.LastIndexOf(':');
        if (colon <= 0) return false;
        if (!IPv4Address.TryParse(text[..colon], out var ip)) return false;
        if (!TryParsePort(text[(colon + 1)..], out var port)) return false;
        addr = new SockAddr(ip, port);
        return true;
    }

    public static bool TryParsePort(string text, out int port)
    {
        port = 0;
        if (text.Length is 0 or > 5 || !text.All(char.IsAsciiDigit)) return false;
        port = int.Parse(text, CultureInfo.InvariantCulture);
        return port is >= 1 and <= 65535;
    }

    public SockAddr WithPort(int port) => this with { Port = port };

    /// <summary>The form tcpdump prints: <c>127.0.0.1.8080</c>.</summary>
    public string ToTcpdump() => string.Create(CultureInfo.InvariantCulture, $"{Ip}.{Port}");

    public override string ToString() => this.Format();

    public string ToString(string? format, IFormatProvider? formatProvider) => ToString();

    public bool TryFormat(Span<char> destination, out int charsWritten, ReadOnlySpan<char> format, IFormatProvider? provider)
    {
        charsWritten = 0;
        return SpanFormat.Append(destination, ref charsWritten, Ip) && SpanFormat.Append(destination, ref charsWritten, ":") &&
            SpanFormat.Append(destination, ref charsWritten, (uint)Port);
    }
}
