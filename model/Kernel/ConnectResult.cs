namespace ConntrackModel.Model.Kernel;

/// <summary>How a blocking connect() returned.</summary>
public enum ConnectResult : byte
{
    Established,
    Timeout,
    Refused,
    Reset,

    /// <summary>ENETUNREACH or EHOSTUNREACH: no route to the destination (nothing was sent), or an ICMP net or host unreachable or prohibited answered the SYN.</summary>
    Unreachable,

    /// <summary>ENOPROTOOPT: an ICMP protocol unreachable answered the SYN (REJECT --reject-with icmp-proto-unreachable).</summary>
    ProtocolUnreachable,
}
