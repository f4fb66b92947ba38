namespace ConntrackModel.Model.Scenarios;

/// <summary>
/// A parsed command with the 1-based line it came from, the line's text and the 1-based column where the command
/// starts (1 for scripts made from commands).
/// </summary>
public sealed record ScenarioLine(int Line, string Text, Command Command)
{
    public int Column { get; init; } = 1;

    /// <summary>Where a message about this command points: <c>FILE:LINE:COL</c>.</summary>
    public string Position(string file) => $"{file}:{Line}:{Column}";
}
