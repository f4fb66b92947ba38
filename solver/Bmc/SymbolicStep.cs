namespace ConntrackModel.Solver.Bmc;

/// <summary>
/// One step of a Z3 model, decoded: the op and the values it took (<paramref name="Origin"/>: node configurations' 0
/// for node, k for pod k; <paramref name="Slot"/>: UDP, the flow a datagram or an answer is for).
/// </summary>
public sealed record SymbolicStep(Op Op, bool Bound, bool ToSvc, int Port, int W1, int W2, int RuleLo, int RuleHi, bool Violation, int Origin = 0, int Slot = 0)
{
    /// <summary>UDP: the label the decoded scenario gives the datagram (unique in the trace).</summary>
    public string? Label { get; init; }
}
