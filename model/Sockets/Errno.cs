namespace ConntrackModel.Model.Sockets;

/// <summary>The socket errors the model can leave on an end (SO_ERROR / the error a call returns).</summary>
/// <remarks>A byte: every socket end keeps two of these (its error and its soft error).</remarks>
public enum Errno : byte
{
    ECONNRESET,
    ECONNREFUSED,
    ETIMEDOUT,
    EPIPE,
    ENETUNREACH,
    EHOSTUNREACH,
    ENOPROTOOPT,
}
