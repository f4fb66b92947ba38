namespace ConntrackModel.Model.Kernel;

/// <summary>How a blocking connect() returned.</summary>
public enum ConnectResult
{
    Established,
    Timeout,
    Refused,
    Reset,
}
