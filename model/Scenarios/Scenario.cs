using System.Collections.Immutable;
using System.Globalization;

namespace ConntrackModel.Model.Scenarios;

/// <summary>
/// A parsed scenario script: its name (file path), commands in order, and the choices it pins with
/// <c>choose KEY VALUE</c> lines (they override whatever choice source runs it, so a counterexample that depends
/// on a particular NAT offset or ephemeral port replays exactly).
/// </summary>
public sealed record Scenario(string Name, ImmutableList<ScenarioLine> Lines)
{
    public ImmutableSortedDictionary<string, int> Choices { get; init; } = ImmutableSortedDictionary.Create<string, int>(StringComparer.Ordinal);

    /// <summary>The opt-in invariants the scenario turns on (<c>invariant NAME</c> lines; <see cref="Diagnostics.Invariants.OptIn"/>).</summary>
    public ImmutableSortedSet<Diagnostics.InvariantId> Invariants { get; init; } = [];

    /// <summary>Where each pinned choice's key was written (for messages; not part of the scenario's identity).</summary>
    public ImmutableSortedDictionary<string, SourcePosition> PinnedAt { get; init; } = ImmutableSortedDictionary.Create<string, SourcePosition>(StringComparer.Ordinal);

    /// <summary>
    /// The pins no choice point of a run asked for (<paramref name="asked"/>: every key the run asked), each with
    /// where it was written and the asked key it most likely meant, if one is close.
    /// </summary>
    public IEnumerable<(string Key, SourcePosition At, string? Meant)> UnusedPins(IReadOnlySet<string> asked)
    {
        ArgumentNullException.ThrowIfNull(asked);
        foreach (var key in Choices.Keys)
        {
            if (asked.Contains(key)) continue;
            var meant = Spelling.Closest(key, asked, _ => Math.Max(2, key.Length / 4), ignoreCase: true);
            yield return (key, PinnedAt.GetValueOrDefault(key, new SourcePosition(1, 1)), meant);
        }
    }

    /// <summary>Connection names in the order generated scenarios hand them out: A, B, ..., Z, then C26, C27, ...</summary>
    public static string ConnectionName(int i) => i < 26 ? ((char)('A' + i)).ToString() : "C" + i.ToString(CultureInfo.InvariantCulture);

    public static Scenario Of(string name, params Command[] commands) =>
        new(name, commands.Select((c, i) => new ScenarioLine(i + 1, c.ToScript(), c)).ToImmutableList());

    /// <summary>The scenario as a script: the opt-in invariants and pinned choices first, then one command a line.</summary>
    public string ToScript() =>
        string.Concat(Invariants.Select(i => $"invariant {Diagnostics.Invariants.Name(i)}\n")) +
        string.Concat(Choices.Select(kv => string.Create(CultureInfo.InvariantCulture, $"choose {kv.Key} {kv.Value}\n"))) +
        string.Concat(Lines.Select(l => l.Command.ToScript() + "\n"));

    public bool Equals(Scenario? other) =>
        other is not null && Name == other.Name && Lines.SequenceEqual(other.Lines) && Choices.Count == other.Choices.Count && Choices.SequenceEqual(other.Choices) &&
        Invariants.SetEquals(other.Invariants);

    public override int GetHashCode() => HashCode.Combine(Name, Lines.Count, Choices.Count);
}
