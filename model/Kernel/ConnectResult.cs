namespace ConntrackModel.Model.Kernel;

/// <summary>How a blocking connect() returned.</summary>
public enum ConnectResult : byte
{
    Established,
    Timeout,
    Refused,
    Reset,

    /// <summary>ENETUNREACH: no route to the destination (the namespace routes only 127.0.0.0/8); nothing was sent.</summary>
    Unreachable,
}
