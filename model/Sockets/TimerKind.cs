namespace ConntrackModel.Model.Sockets;

/// <summary>The per-socket timers the model runs.</summary>
public enum TimerKind
{
    /// <summary>ICSK_TIME_RETRANS: SYN, SYN/ACK, data or FIN retransmission.</summary>
    Retransmit,

    /// <summary>The TIME_WAIT (or orphaned FIN_WAIT2) lifetime, after which the socket is gone.</summary>
    TimeWait,
}
