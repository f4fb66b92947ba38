namespace ConntrackModel.Model.Reporting;

/// <summary>
/// A <c>conntrack -L</c> line: protocol, TCP state (null for UDP, which conntrack prints none for), both tuples as <c>SRC->DST</c>, ASSURED, and the namespace whose
/// table holds it (its name; null for the scenario's initial namespace).
/// </summary>
public sealed record CtObservation(string Proto, string? State, string Orig, string Reply, bool Assured, string? Netns = null)
{
    /// <summary>The connection mark (<c>mark=</c>), 0 unless CONNMARK set it.</summary>
    public uint Mark { get; init; }

    /// <summary>The entry as the comparisons write it: its namespace is part of it (the same tuples in another namespace's table differ).</summary>
    public string Text => $"{(Netns is null ? "" : Netns + ": ")}{Proto} {State} {Orig} | {Reply}{(Assured ? " [ASSURED]" : "")}{(Mark != 0 ? $" mark={Mark}" : "")}";
}
