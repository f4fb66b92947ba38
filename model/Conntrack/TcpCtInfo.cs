using System.Runtime.InteropServices;

namespace ConntrackModel.Model.Conntrack;

/// <summary>
/// The TCP tracker's per-entry memory (<c>struct ip_ct_tcp</c>): both directions and the <c>last_*</c> fields that
/// the IGNORE, retransmission and RST rules of <c>nf_conntrack_tcp_packet</c> consult. <c>retrans</c> is a u8 in
/// the kernel and here (it wraps as the kernel's does), which also keeps the struct at 40 bytes in every entry.
/// </summary>
// Auto layout packs the fields: every conntrack entry carries this, and a step copies entries.
[StructLayout(LayoutKind.Auto)]
public readonly record struct TcpCtInfo(
    TcpDirState Original,
    TcpDirState Reply,
    TcpFlagClass LastIndex,
    CtDirection LastDir,
    uint LastSeq,
    uint LastAck,
    uint LastEnd,
    byte Retrans,
    bool ExpectChallengeAck)
{
    public static TcpCtInfo Empty { get; } = new(TcpDirState.Empty, TcpDirState.Empty, TcpFlagClass.None, CtDirection.Original, 0, 0, 0, 0, false);

    public TcpDirState Seen(CtDirection dir) => dir == CtDirection.Original ? Original : Reply;

    public TcpCtInfo WithSeen(CtDirection dir, TcpDirState s) => dir == CtDirection.Original ? this with { Original = s } : this with { Reply = s };
}
