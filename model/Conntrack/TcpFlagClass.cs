namespace ConntrackModel.Model.Conntrack;

/// <summary>
/// The row index of the TCP state table (<c>enum tcp_bit_set</c>, computed by <c>get_conntrack_index</c>):
/// RST wins, then SYN (SYN/ACK if ACK is set), then FIN, then ACK.
/// </summary>
// One byte, as struct ip_ct_tcp stores it (u_int8_t last_index).
public enum TcpFlagClass : byte
{
    Syn = 0,
    SynAck = 1,
    Fin = 2,
    Ack = 3,
    Rst = 4,
    None = 5,
}
