using System.Collections.Immutable;
using ConntrackModel.Model.Conntrack;

namespace ConntrackModel.Model.Kernel;

/// <summary>
/// The per-namespace knobs the model reads, with the kernel's defaults:
/// <c>nf_conntrack_tcp_init_net</c> (loose=1, ignore_invalid_rst=0, max_retrans=3), <c>tcp_timeouts[]</c> in
/// nf_conntrack_proto_tcp.c, and <c>net.ipv4.ip_local_port_range</c> (32768-60999, inet_init_net).
/// Timeouts are in seconds, as sysctl shows them.
/// </summary>
public sealed record Sysctls(
    bool TcpLoose,
    bool TcpIgnoreInvalidRst,
    int TcpMaxRetrans,
    ImmutableDictionary<string, int> TcpTimeouts,
    int LocalPortLow,
    int LocalPortHigh)
{
    /// <summary>
    /// <c>net.ipv4.ip_forward</c>: 0 in a new namespace (measured on 6.18 here; <c>devinet_init_net</c> copies the
    /// initial namespace's <c>conf/all</c> when <c>net.core.devconf_inherit_init_net</c> is 0, so a host that forwards may
    /// start its namespaces with 1: scenarios set it).
    /// </summary>
    public bool IpForward { get; init; }

    /// <summary>
    /// <c>nf_conntrack_udp_timeout</c> and <c>..._udp_timeout_stream</c> in seconds: <c>udp_timeouts[]</c> in
    /// nf_conntrack_proto_udp.c, 30 and 120 (measured on 6.18 in a new namespace).
    /// </summary>
    public int UdpTimeoutSeconds { get; init; } = 30;

    /// <inheritdoc cref="UdpTimeoutSeconds"/>
    public int UdpTimeoutStreamSeconds { get; init; } = 120;

    /// <summary>The timeout slots (<c>enum tcp_conntrack</c> + RETRANS, UNACK) by their sysctl suffix.</summary>
    public static ImmutableDictionary<string, int> DefaultTimeouts { get; } = new Dictionary<string, int>
    {
        ["syn_sent"] = 120,
        ["syn_recv"] = 60,
        ["established"] = 5 * 24 * 3600,
        ["fin_wait"] = 120,
        ["close_wait"] = 60,
        ["last_ack"] = 30,
        ["time_wait"] = 120,
        ["close"] = 10,
        ["max_retrans"] = 300,
        ["unacknowledged"] = 300,
    }.ToImmutableDictionary(StringComparer.Ordinal);

    public static Sysctls Default { get; } = new(true, false, 3, DefaultTimeouts, 32768, 60999);

    /// <summary>Timeout in ms of a state's slot; NONE and SYN_SENT2 share SYN_SENT's value as in <c>tcp_timeouts</c>.</summary>
    public long TimeoutMs(TcpCtState s) => TcpTimeouts[SlotName(s)] * 1000L;

    public long RetransTimeoutMs => TcpTimeouts["max_retrans"] * 1000L;

    public long UnackTimeoutMs => TcpTimeouts["unacknowledged"] * 1000L;

    public static string SlotName(TcpCtState s) => s switch
    {
        TcpCtState.None or TcpCtState.SynSent or TcpCtState.SynSent2 => "syn_sent",
        TcpCtState.SynRecv => "syn_recv",
        TcpCtState.Established => "established",
        TcpCtState.FinWait => "fin_wait",
        TcpCtState.CloseWait => "close_wait",
        TcpCtState.LastAck => "last_ack",
        TcpCtState.TimeWait => "time_wait",
        TcpCtState.Close => "close",
        _ => throw new ArgumentOutOfRangeException(nameof(s), s, "no timeout slot"),
    };

    public bool Equals(Sysctls? other) =>
        other is not null && TcpLoose == other.TcpLoose && TcpIgnoreInvalidRst == other.TcpIgnoreInvalidRst &&
        TcpMaxRetrans == other.TcpMaxRetrans && LocalPortLow == other.LocalPortLow && LocalPortHigh == other.LocalPortHigh && IpForward == other.IpForward &&
        UdpTimeoutSeconds == other.UdpTimeoutSeconds && UdpTimeoutStreamSeconds == other.UdpTimeoutStreamSeconds &&
        TcpTimeouts.Count == other.TcpTimeouts.Count &&
        TcpTimeouts.All(kv => other.TcpTimeouts.TryGetValue(kv.Key, out var v) && v == kv.Value);

    public override int GetHashCode() => HashCode.Combine(TcpLoose, TcpIgnoreInvalidRst, LocalPortLow, LocalPortHigh, TcpTimeouts.Count);
}
