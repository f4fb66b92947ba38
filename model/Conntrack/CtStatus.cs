namespace ConntrackModel.Model.Conntrack;

/// <summary>The <c>IPS_*</c> status bits the model uses (include/uapi/linux/netfilter/nf_conntrack_common.h).</summary>
[Flags]
public enum CtStatus : ushort
{
    None = 0,

    /// <summary>IPS_EXPECTED: the entry was made for an expectation (a helper's); no entry of the model is.</summary>
    Expected = 1 << 0,
    SeenReply = 1 << 1,
    Assured = 1 << 2,
    Confirmed = 1 << 3,
    SrcNat = 1 << 4,
    DstNat = 1 << 5,
    SrcNatDone = 1 << 7,
    DstNatDone = 1 << 8,
}
