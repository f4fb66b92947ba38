namespace ConntrackModel.Solver.Bmc;

/// <summary>The step kinds of the symbolic encoding (their numbers are the values of the step's op variable).</summary>
public enum Op
{
    Connect = 0,
    SnatAdd = 1,
    DnatAdd = 2,
    Modprobe = 3,
    Flush = 4,
    Expire = 5,

    /// <summary>UDP: a flow's client socket sends a datagram.</summary>
    Send = 6,

    /// <summary>UDP: the server answers a flow at the address it last heard it from.</summary>
    Answer = 7,
}
