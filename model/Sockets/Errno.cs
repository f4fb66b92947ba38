namespace ConntrackModel.Model.Sockets;

/// <summary>The socket errors the model can leave on an end (SO_ERROR / the error a call returns).</summary>
public enum Errno
{
    ECONNRESET,
    ECONNREFUSED,
    ETIMEDOUT,
    EPIPE,
    ENETUNREACH,
}
