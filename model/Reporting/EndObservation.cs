namespace ConntrackModel.Model.Reporting;

/// <summary>One socket end as an observer sees it: kernel TCP state name (or CLOSED_BY_APP) and pending error.</summary>
public sealed record EndObservation(string State, string? Error);
