namespace ConntrackModel.Properties.Checking;

/// <summary>In how many of the run's tests a coverage label (category: item) occurred.</summary>
public sealed record CoverageRow(string Category, string Item, int Tests, double Percent);
