namespace ConntrackModel.Replay.Host;

/// <summary>The kernel run could not go on: a tool failed or the kernel refused a command. The message says which.</summary>
public sealed class ReplayException : Exception
{
    public ReplayException()
    {
    }

    public ReplayException(string message) : base(message)
    {
    }

    public ReplayException(string message, Exception inner) : base(message, inner)
    {
    }
}
