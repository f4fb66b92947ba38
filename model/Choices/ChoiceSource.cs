namespace ConntrackModel.Model.Choices;

/// <summary>
/// Answers choice points. A source is an immutable function of the point (never of call order), so
/// <c>LinuxKernel.Step</c> stays pure and a scripted source can override single decisions by key.
/// </summary>
public abstract record ChoiceSource
{
    /// <summary>A value in [0, point.Arity).</summary>
    public abstract int Choose(ChoicePoint point);

    /// <summary>Always the first alternative: lowest offsets, lowest ports.</summary>
    public static ChoiceSource First { get; } = new FirstChoices();

    /// <summary>A pseudo-random answer derived from the seed and the point's key (SplitMix64).</summary>
    public static ChoiceSource Seeded(ulong seed) => new SeededChoices(seed);

    private sealed record FirstChoices : ChoiceSource
    {
        public override int Choose(ChoicePoint point) => 0;
    }
}
