namespace ConntrackModel.Model.Sockets;

/// <summary>The socket states of include/net/tcp_states.h.</summary>
public enum TcpState
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
