using ConntrackModel.Model.Addressing;

namespace ConntrackModel.Model.Kernel;

/// <summary>A connection the scenario opened: name, how connect() returned and the socket's own addresses.</summary>
public sealed record Connection(string Name, ConnectResult Result, SockAddr Local, SockAddr Remote)
{
    /// <summary>Its position in the order the scenario opened connections (set by <see cref="World.WithConnection"/>).</summary>
    public int Ordinal { get; init; }

    /// <summary>TCP (<c>connect</c>) or UDP (<c>connect -u</c>: a connect(2)ed datagram socket).</summary>
    public Addressing.L4Proto Proto { get; init; }
}
