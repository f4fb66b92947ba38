using System.Globalization;

namespace ConntrackModel.Model.Diagnostics;

/// <summary>An invariant that failed at a step (1-based command index) of a scenario.</summary>
public sealed record Violation(InvariantId Invariant, int Step, string Message)
{
    public string Name => Invariants.Name(Invariant);

    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"step {Step}: {Name}: {Message}");
}
