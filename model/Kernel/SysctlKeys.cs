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
        UdpTimeout,
        UdpTimeoutStream,
        "net.ipv4.ip_local_port_range",
        "net.ipv4.ip_forward",
    ];

    /// <summary><c>nf_conntrack_udp_timeout</c>: an entry that has not seen traffic both ways for 2 s (UDP_CT_UNREPLIED).</summary>
    public const string UdpTimeout = "net.netfilter.nf_conntrack_udp_timeout";

    /// <summary><c>nf_conntrack_udp_timeout_stream</c>: an entry that has (UDP_CT_REPLIED).</summary>
    public const string UdpTimeoutStream = "net.netfilter.nf_conntrack_udp_timeout_stream";

    /// <summary><c>net.ipv4.ip_unprivileged_port_start</c>'s default, the floor of <c>ip_local_port_range</c>.</summary>
    public const int UnprivilegedPortStart = 1024;

    /// <summary>The largest conntrack timeout sysctl accepts: INT_MAX jiffies, in seconds, at HZ=250.</summary>
    public const int MaxTimeoutSeconds = int.MaxValue / 250;

    /// <summary>What <c>sysctl -w</c> prints when the kernel answers -EINVAL, and why.</summary>
    private static string Einval(string key, string why) => $"sysctl: setting key \"{key}\": Invalid argument: {why}";

    /// <summary>Null if <paramref name="value"/> is acceptable for <paramref name="key"/>, else what was expected.</summary>
    public static string? Validate(string key, string value)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(value);
        if (!Supported.Contains(key)) return $"unsupported sysctl key {Scenarios.ScenarioParser.Q(key)} (supported: {string.Join(", ", Supported)})";
        if (key == "net.ipv4.ip_local_port_range")
        {
            var parts = value.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length != 2 || !int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var lo) ||
                !int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var hi) || hi > 65535)
                return "expected two ports LOW HIGH with 1024 <= LOW <= HIGH <= 65535, e.g. \"32768 60999\"";
            // ipv4_local_port_range: -EINVAL if HIGH < LOW or LOW < ip_unprivileged_port_start (1024 by default;
            // the model does not set it). Measured on 6.18: "1023 2000" and "2000 1024" refused, "1024 2000" taken.
            if (lo < UnprivilegedPortStart || hi < lo)
                return Einval(key, $"LOW must be at least ip_unprivileged_port_start ({UnprivilegedPortStart}) and at most HIGH, e.g. \"32768 60999\"");
            return null;
        }
        if (!int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var n)) return "expected a non-negative integer";
        if (key is "net.netfilter.nf_conntrack_tcp_loose" or "net.ipv4.ip_forward" or "net.netfilter.nf_conntrack_tcp_ignore_invalid_rst" && n > 1) return "expected 0 or 1";
        // nf_conntrack_tcp_max_retrans is a u8 (proc_dou8vec_minmax): 256 and more are -EINVAL (measured on 6.18).
        if (key == "net.netfilter.nf_conntrack_tcp_max_retrans" && n > byte.MaxValue) return Einval(key, "at most 255, the value is a u8");
        // The timeouts are seconds turned into jiffies by proc_dointvec_jiffies, which refuses more than INT_MAX / HZ:
        // 8589934 at HZ=250 (measured on 6.18: 8589934 taken, 8589935 refused).
        if ((key.StartsWith(TimeoutPrefix, StringComparison.Ordinal) || key is UdpTimeout or UdpTimeoutStream) && n > MaxTimeoutSeconds)
            return Einval(key, $"at most {MaxTimeoutSeconds} seconds, INT_MAX jiffies at HZ=250");
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
            "net.ipv4.ip_forward" => s with { IpForward = n != 0 },
            UdpTimeout => s with { UdpTimeoutSeconds = n },
            UdpTimeoutStream => s with { UdpTimeoutStreamSeconds = n },
            _ when key.StartsWith(TimeoutPrefix, StringComparison.Ordinal) => s with { TcpTimeouts = s.TcpTimeouts.SetItem(key[TimeoutPrefix.Length..], n) },
            _ => throw new ArgumentException($"unsupported sysctl key '{key}'", nameof(key)),
        };
    }
}
