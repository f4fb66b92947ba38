namespace ConntrackModel.Model.Conntrack;

/// <summary>
/// The row index of the TCP state table (<c>enum tcp_bit_set</c>, computed by <c>get_conntrack_index</c>):
/// RST wins, then SYN (SYN/ACK if ACK is set), then FIN, then ACK.
/// </summary>
public enum TcpFlagClass
{
    Syn = 0,
    SynAck = 1,
    Fin = 2,
    Ack = 3,
    Rst = 4,
    None = 5,
}
