namespace ConntrackModel.Model.Choices;

/// <summary>
/// One open decision: <paramref name="Key"/> names it stably (kind, the socket end whose packet caused it, and a
/// per-end counter), so a choice source can answer by key and a run is reproducible from its choices alone.
/// </summary>
public sealed record ChoicePoint(ChoiceKind Kind, string Key, int Arity);
