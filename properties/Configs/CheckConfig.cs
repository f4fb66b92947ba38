using System.Collections.Immutable;
using ConntrackModel.Model.Scenarios;

namespace ConntrackModel.Properties.Configs;

/// <summary>
/// A named configuration: which commands the generator may use, which rules it writes, and the settings every
/// sequence starts with. <paramref name="Setup"/> is fixed (never generated or shrunk); when
/// <paramref name="TrackingFromStart"/> holds, the first generated command is a rule that starts tracking and no
/// candidate may lose it, so no connection can predate tracking. <paramref name="KnownMinimum"/> is the length of
/// the shortest generated body that breaks an invariant, where one is known (null for a configuration believed
/// safe); tests and the benchmark measure shrinking against it.
/// </summary>
public sealed record CheckConfig(
    string Name,
    string Description,
    ImmutableArray<Command> Setup,
    bool TrackingFromStart,
    ImmutableArray<OpKind> Alphabet,
    ImmutableArray<RuleKind> Rules,
    long MaxSleepMs,
    int MaxLength,
    int? KnownMinimum)
{
    /// <summary>The node topology of a <c>node-*</c> configuration (null: one namespace, loopback, as before).</summary>
    public NodeTopology? Node { get; init; }

    /// <summary>The user setup a <c>check --setup</c> configuration generates workloads around (null for the catalogue's).</summary>
    public Setups.SetupSpace? Space { get; init; }

    /// <summary>Connections are opened only before the first rule (a rule comes while they run, not before new ones).</summary>
    public bool ConnectsBeforeRuleOnly { get; init; }

    /// <summary>The opt-in invariants its trials are checked against (<see cref="Model.Diagnostics.Invariants.OptIn"/>).</summary>
    public ImmutableSortedSet<Model.Diagnostics.InvariantId> Invariants { get; init; } = [];

    public bool Allows(OpKind k) => Alphabet.Contains(k);

    public bool Equals(CheckConfig? other) => other is not null && Name == other.Name;

    public override int GetHashCode() => StringComparer.Ordinal.GetHashCode(Name);
}
