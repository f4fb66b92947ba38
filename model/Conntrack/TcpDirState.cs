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
    // The five flags in one byte (td_flags is a bit set in the kernel too): 12 bytes a direction instead of 16.
    private readonly byte _flags = (byte)((Initialized ? 1 : 0) | (MaxAckSet ? 2 : 0) | (CloseInit ? 4 : 0) | (BeLiberal ? 8 : 0) | (DataUnacknowledged ? 16 : 0));

    public bool Initialized { get => (_flags & 1) != 0; init => _flags = Set(_flags, 1, value); }

    public bool MaxAckSet { get => (_flags & 2) != 0; init => _flags = Set(_flags, 2, value); }

    public bool CloseInit { get => (_flags & 4) != 0; init => _flags = Set(_flags, 4, value); }

    public bool BeLiberal { get => (_flags & 8) != 0; init => _flags = Set(_flags, 8, value); }

    public bool DataUnacknowledged { get => (_flags & 16) != 0; init => _flags = Set(_flags, 16, value); }

    private static byte Set(byte flags, int bit, bool on) => (byte)(on ? flags | bit : flags & ~bit);

    public static TcpDirState Empty { get; } = new(false, 0, 0, false, false, false, false);
}
