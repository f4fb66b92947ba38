using System.Runtime.InteropServices;

namespace ConntrackModel.Model.Conntrack;

/// <summary>
/// One direction of <c>struct ip_ct_tcp</c>'s <c>seen[]</c>, reduced to what the modelled decisions read:
/// <c>td_end</c> (highest seq+len sent), <c>td_maxack</c> (highest ack sent) and the flags CLOSE_INIT,
/// BE_LIBERAL, MAXACK_SET and DATA_UNACKNOWLEDGED. <see cref="Initialized"/> stands for td_maxwin != 0.
/// </summary>
// Auto layout packs the fields: every conntrack entry carries two.
[StructLayout(LayoutKind.Auto)]
public readonly record struct TcpDirState(
    bool Initialized,
    uint TdEnd,
    uint TdMaxAck,
    bool MaxAckSet,
    bool CloseInit,
    bool BeLiberal,
    bool DataUnacknowledged)
{
    public static TcpDirState Empty { get; } = new(false, 0, 0, false, false, false, false);
}
