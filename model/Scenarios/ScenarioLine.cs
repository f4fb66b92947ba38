namespace ConntrackModel.Model.Scenarios;

/// <summary>A parsed command with the 1-based line it came from and the line's text.</summary>
public sealed record ScenarioLine(int Line, string Text, Command Command);
