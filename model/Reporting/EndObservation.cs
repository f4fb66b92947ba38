namespace ConntrackModel.Model.Reporting;

/// <summary>One socket end as an observer sees it: kernel TCP state name (or CLOSED_BY_APP) and pending error.</summary>
public sealed record EndObservation(string State, string? Error)
{
    /// <summary>An end as the comparisons write it: <c>STATE</c>, <c>STATE (ERROR)</c>, or <c>(never accepted)</c> for none.</summary>
    public static string Text(EndObservation? e) => e is null ? "(never accepted)" : e.Error is null ? e.State : $"{e.State} ({e.Error})";
}
