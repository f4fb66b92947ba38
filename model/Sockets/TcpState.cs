namespace ConntrackModel.Model.Sockets;

/// <summary>
/// The socket states of include/net/tcp_states.h. A byte, as <c>sk_state</c> is (<c>unsigned char</c> in
/// <c>struct sock_common</c>): every end a world keeps is 8 bytes smaller than with an int.
/// </summary>
public enum TcpState : byte
{
    Established,
    SynSent,
    SynRecv,
    FinWait1,
    FinWait2,
    TimeWait,
    Close,
    CloseWait,
    LastAck,
    Listen,
    Closing,
}
