namespace ConntrackModel.Model.Choices;

/// <summary>
/// One open decision: <paramref name="Key"/> names it stably (kind, the socket end whose packet caused it, and a
/// per-end counter), so a choice source can answer by key and a run is reproducible from its choices alone.
/// </summary>
public sealed record ChoicePoint(ChoiceKind Kind, string Key, int Arity)
{
    /// <summary>
    /// For <see cref="ChoiceKind.NatPortOffset"/>: the range's first port and its size, so answer <c>off</c> probes
    /// port <c>PortLow + off % PortCount</c> first (0 for other kinds). Lets a choice source aim at a port.
    /// </summary>
    public int PortLow { get; init; }

    /// <inheritdoc cref="PortLow"/>
    public int PortCount { get; init; }
}
