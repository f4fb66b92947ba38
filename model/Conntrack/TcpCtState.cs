namespace ConntrackModel.Model.Conntrack;

/// <summary>
/// The TCP conntrack states in the kernel's enum order (<c>enum tcp_conntrack</c>); the order matters because
/// <c>nf_conntrack_tcp_packet</c> and <c>nf_nat_used_tuple_harder</c> compare states numerically.
/// <see cref="Max"/> is the table's "invalid" (sIV) and <see cref="Ignore"/> its "ignore" (sIG) pseudo-state.
/// </summary>
// One byte, as struct ip_ct_tcp stores it (u_int8_t state, include/linux/netfilter/nf_conntrack_tcp.h).
public enum TcpCtState : byte
{
    None = 0,
    SynSent = 1,
    SynRecv = 2,
    Established = 3,
    FinWait = 4,
    CloseWait = 5,
    LastAck = 6,
    TimeWait = 7,
    Close = 8,
    SynSent2 = 9,
    Max = 10,
    Ignore = 11,
}
