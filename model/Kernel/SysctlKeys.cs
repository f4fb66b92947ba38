using System.Globalization;

namespace ConntrackModel.Model.Kernel;

/// <summary>The sysctl keys a scenario may set, their validation and their effect on <see cref="Sysctls"/>.</summary>
public static class SysctlKeys
{
    private const string TimeoutPrefix = "net.netfilter.nf_conntrack_tcp_timeout_";

    /// <summary>Every supported key, for help text and error messages.</summary>
    public static IReadOnlyList<string> Supported { get; } =
    [
        "net.netfilter.nf_conntrack_tcp_loose",
        "net.netfilter.nf_conntrack_tcp_ignore_invalid_rst",
        "net.netfilter.nf_conntrack_tcp_max_retrans",
        .. Sysctls.DefaultTimeouts.Keys.Order(StringComparer.Ordinal).Select(k => TimeoutPrefix + k),
        "net.ipv4.ip_local_port_range",
    ];

    /// <summary>Null if <paramref name="value"/> is acceptable for <paramref name="key"/>, else what was expected.</summary>
    public static string? Validate(string key, string value)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(value);
        if (!Supported.Contains(key)) return $"unsupported sysctl key '{key}' (supported: {string.Join(", ", Supported)})";
        if (key == "net.ipv4.ip_local_port_range")
        {
            var parts = value.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length != 2 || !int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var lo) ||
                !int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var hi) || lo < 1 || hi > 65535 || lo > hi)
                return "expected two ports LOW HIGH with 1 <= LOW <= HIGH <= 65535, e.g. \"32768 60999\"";
            return null;
        }
        if (!int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var n)) return "expected a non-negative integer";
        if (key is "net.netfilter.nf_conntrack_tcp_loose" or "net.netfilter.nf_conntrack_tcp_ignore_invalid_rst" && n > 1) return "expected 0 or 1";
        return null;
    }

    /// <summary>The sysctls with the (validated) key set.</summary>
    public static Sysctls Apply(Sysctls s, string key, string value)
    {
        ArgumentNullException.ThrowIfNull(s);
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(value);
        if (key == "net.ipv4.ip_local_port_range")
        {
            var parts = value.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
            return s with { LocalPortLow = int.Parse(parts[0], CultureInfo.InvariantCulture), LocalPortHigh = int.Parse(parts[1], CultureInfo.InvariantCulture) };
        }
        var n = int.Parse(value, CultureInfo.InvariantCulture);
        return key switch
        {
            "net.netfilter.nf_conntrack_tcp_loose" => s with { TcpLoose = n != 0 },
            "net.netfilter.nf_conntrack_tcp_ignore_invalid_rst" => s with { TcpIgnoreInvalidRst = n != 0 },
            "net.netfilter.nf_conntrack_tcp_max_retrans" => s with { TcpMaxRetrans = n },
            _ when key.StartsWith(TimeoutPrefix, StringComparison.Ordinal) => s with { TcpTimeouts = s.TcpTimeouts.SetItem(key[TimeoutPrefix.Length..], n) },
            _ => throw new ArgumentException($"unsupported sysctl key '{key}'", nameof(key)),
        };
    }
}
