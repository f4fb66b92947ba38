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
            var meant = asked.Select(a => (Key: a, Distance: Distance(key, a))).Where(x => x.Distance <= Math.Max(2, key.Length / 4))
                .OrderBy(x => x.Distance).ThenBy(x => x.Key, StringComparer.Ordinal).Select(x => x.Key).FirstOrDefault();
            yield return (key, PinnedAt.GetValueOrDefault(key, new SourcePosition(1, 1)), meant);
        }
    }

    /// <summary>Edit distance, with a change of letter case costing nothing (ephemeral:b for ephemeral:B).</summary>
    private static int Distance(string a, string b)
    {
        var d = new int[b.Length + 1];
        for (var j = 0; j <= b.Length; j++) d[j] = j;
        for (var i = 1; i <= a.Length; i++)
        {
            var prev = d[0];
            d[0] = i;
            for (var j = 1; j <= b.Length; j++)
            {
                var cost = char.ToUpperInvariant(a[i - 1]) == char.ToUpperInvariant(b[j - 1]) ? 0 : 1;
                var next = Math.Min(Math.Min(d[j] + 1, d[j - 1] + 1), prev + cost);
                prev = d[j];
                d[j] = next;
            }
        }
        return d[b.Length];
    }

    /// <summary>Connection names in the order generated scenarios hand them out: A, B, ..., Z, then C26, C27, ...</summary>
    public static string ConnectionName(int i) => i < 26 ? ((char)('A' + i)).ToString() : "C" + i.ToString(CultureInfo.InvariantCulture);

    public static Scenario Of(string name, params Command[] commands) =>
        new(name, commands.Select((c, i) => new ScenarioLine(i + 1, c.ToScript(), c)).ToImmutableList());

    /// <summary>The scenario as a script: the pinned choices first, then one command a line.</summary>
    public string ToScript() =>
        string.Concat(Choices.Select(kv => string.Create(CultureInfo.InvariantCulture, $"choose {kv.Key} {kv.Value}\n"))) +
        string.Concat(Lines.Select(l => l.Command.ToScript() + "\n"));

    public bool Equals(Scenario? other) =>
        other is not null && Name == other.Name && Lines.SequenceEqual(other.Lines) && Choices.Count == other.Choices.Count && Choices.SequenceEqual(other.Choices);

    public override int GetHashCode() => HashCode.Combine(Name, Lines.Count, Choices.Count);
}
