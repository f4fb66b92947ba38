using ConntrackModel.Solver.Native;

namespace ConntrackModel.Tests.Solver;

/// <summary>
/// A fact that needs the Z3 engine on this machine (the system libz3 and gcc for its shim): where either is missing
/// it is skipped with the reason <see cref="Z3Runtime.Problem"/> gives (CI installs both and fails on skips).
/// </summary>
public sealed class Z3FactAttribute : FactAttribute
{
    public override string? Skip
    {
        get => base.Skip ?? Missing;
        set => base.Skip = value;
    }

    internal static string? Missing => Z3Runtime.Problem is { } p ? "needs the Z3 engine: " + p : null;
}

/// <summary>The theory counterpart of <see cref="Z3FactAttribute"/>.</summary>
public sealed class Z3TheoryAttribute : TheoryAttribute
{
    public override string? Skip
    {
        get => base.Skip ?? Z3FactAttribute.Missing;
        set => base.Skip = value;
    }
}
