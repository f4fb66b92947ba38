using System.Globalization;
using ConntrackModel.Model.Addressing;
using ConntrackModel.Model.Iptables;

namespace ConntrackModel.Model.Conntrack;

/// <summary>
/// A conntrack entry (<c>struct nf_conn</c>): original and reply tuple, status bits, TCP state and the absolute
/// time (ms) at which it expires (<c>nf_ct_is_expired</c>: expired once now &gt;= <paramref name="ExpiresAt"/>).
/// </summary>
public sealed record CtEntry(long Id, ConnTuple Orig, ConnTuple Reply, CtStatus Status, TcpCtState State, long ExpiresAt, TcpCtInfo Tcp)
{
    /// <summary>The namespace whose table holds the entry (<c>nf_ct_net</c>).</summary>
    public int Netns { get; init; }

    /// <summary>
    /// What few entries carry (the MASQUERADE device, the DNAT rule, UDP's stream timestamp), in one object that
    /// plain TCP entries do without: an entry stays 136 bytes, as the kernel keeps these in <c>ct->ext</c>.
    /// </summary>
    private readonly CtExtension? _ext;

    private CtExtension Ext => _ext ?? CtExtension.None;

    private static CtExtension? WithExt(CtExtension e) => e == CtExtension.None ? null : e;

    /// <summary>
    /// The output device MASQUERADE chose the source address from (<c>nat->masq_index</c>), null otherwise: the entry
    /// goes when that device goes down or loses the address (<c>masq_device_event</c>, <c>masq_inet_event</c>).
    /// </summary>
    public string? MasqDevice
    {
        get => _ext?.MasqDevice;
        init => _ext = WithExt(Ext.WithMasqDevice(value));
    }

    /// <summary>
    /// The rule whose DNAT target chose this entry's destination binding, null if none did. The binding outlives the
    /// rule: <c>nf_nat_setup_info</c> runs once per entry, and deleting or replacing a rule touches no entry. The
    /// namespace still has the rule while its table holds one equal to it (as <c>iptables -D</c> compares rules).
    /// </summary>
    public Iptables.IptRule? DnatRule
    {
        get => _ext?.DnatRule;
        init => _ext = WithExt(Ext with { DnatRule = value });
    }

    /// <summary>
    /// UDP: when the entry counts as a stream (<c>ct->proto.udp.stream_ts</c>, set to 2 s after the first packet while
    /// unconfirmed, <c>nf_conntrack_udp_packet</c>); 0 for TCP.
    /// </summary>
    public long UdpStreamTs
    {
        get => _ext?.UdpStreamTs ?? 0;
        init => _ext = WithExt(Ext with { UdpStreamTs = value });
    }

    /// <summary>
    /// The connection mark (<c>ct-&gt;mark</c>): 0 when the entry is made (<c>__nf_conntrack_alloc</c>; the model has no
    /// expectations, whose entries inherit their master's), changed only by CONNMARK (<c>connmark_tg_shift</c>), read
    /// by <c>-m connmark</c> and CONNMARK --restore-mark; <c>conntrack -L</c> prints it as <c>mark=</c>.
    /// </summary>
    public uint Mark
    {
        get => _ext?.Mark ?? 0;
        init => _ext = WithExt(Ext with { Mark = value });
    }

    public Addressing.L4Proto Proto => Orig.Proto;

    public bool Has(CtStatus s) => (Status & s) == s;

    public bool IsExpired(long now) => now >= ExpiresAt;

    public ConnTuple Tuple(CtDirection dir) => dir == CtDirection.Original ? Orig : Reply;

    /// <summary>The entry as <c>conntrack -L</c> prints it (UDP has no state name).</summary>
    public string ToConntrackLine(long now)
    {
        var remaining = Math.Max(0, (ExpiresAt - now) / 1000);
        var unreplied = Has(CtStatus.SeenReply) ? "" : " [UNREPLIED]";
        var assured = Has(CtStatus.Assured) ? " [ASSURED]" : "";
        var head = Proto == Addressing.L4Proto.Udp
            ? string.Create(CultureInfo.InvariantCulture, $"udp      17 {remaining}")
            : string.Create(CultureInfo.InvariantCulture, $"tcp      6 {remaining} {StateName(State)}");
        return string.Create(CultureInfo.InvariantCulture,
            $"{head} src={Orig.Src.Ip} dst={Orig.Dst.Ip} sport={Orig.Src.Port} dport={Orig.Dst.Port}{unreplied} src={Reply.Src.Ip} dst={Reply.Dst.Ip} sport={Reply.Src.Port} dport={Reply.Dst.Port}{assured} mark={Mark} use=1");
    }

    /// <summary>The state names of <c>tcp_conntrack_names</c>, as <c>conntrack -L</c> prints them.</summary>
    public static string StateName(TcpCtState s) => s switch
    {
        TcpCtState.None => "NONE",
        TcpCtState.SynSent => "SYN_SENT",
        TcpCtState.SynRecv => "SYN_RECV",
        TcpCtState.Established => "ESTABLISHED",
        TcpCtState.FinWait => "FIN_WAIT",
        TcpCtState.CloseWait => "CLOSE_WAIT",
        TcpCtState.LastAck => "LAST_ACK",
        TcpCtState.TimeWait => "TIME_WAIT",
        TcpCtState.Close => "CLOSE",
        TcpCtState.SynSent2 => "SYN_SENT2",
        _ => s.ToString().ToUpperInvariant(),
    };
}
