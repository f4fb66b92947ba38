namespace ConntrackModel.Model.Reporting;

/// <summary>One field where the model and the kernel disagree: where, what the model said, what the kernel did.</summary>
public sealed record Difference(string Field, string Model, string Kernel)
{
    public override string ToString() => $"{Field}: model {Model}, kernel {Kernel}";
}
