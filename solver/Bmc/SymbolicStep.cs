namespace ConntrackModel.Solver.Bmc;

/// <summary>One step of a Z3 model, decoded: the op and the values it took.</summary>
public sealed record SymbolicStep(Op Op, bool Bound, bool ToSvc, int Port, int W1, int W2, int RuleLo, int RuleHi, bool Violation);
