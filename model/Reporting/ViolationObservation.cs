namespace ConntrackModel.Model.Reporting;

/// <summary>A violated invariant by name, the 1-based step that broke it, and what happened.</summary>
public sealed record ViolationObservation(string Invariant, int Step, string Message);
