using System.Collections.Immutable;
using ConntrackModel.Model.Iptables;

namespace ConntrackModel.Model.Scenarios;

/// <summary>
/// One <c>*TABLE</c> ... <c>COMMIT</c> block of an <c>iptables-restore</c> input: its lines in order (chain declarations
/// and commands), and the line of its COMMIT. Line numbers count from the input's first line, as iptables-restore's
/// messages do.
/// </summary>
public sealed record RestoreBlock(int Line, ImmutableArray<RestoreItem> Items, int CommitLine)
{
    /// <summary>The table the block is for (<c>*nat</c>, <c>*filter</c>).</summary>
    public IptTable Table { get; init; }

    public bool Equals(RestoreBlock? other) => other is not null && Line == other.Line && Table == other.Table && CommitLine == other.CommitLine && Items.SequenceEqual(other.Items);

    public override int GetHashCode() => HashCode.Combine(Line, CommitLine, Items.Length);
}

/// <summary>
/// A line of a restore block: <c>:CHAIN POLICY [p:b]</c> (<see cref="Declared"/> set; counters ignored) or a command
/// (<c>-A</c>, <c>-I</c>, <c>-D</c>, <c>-R</c>, <c>-N</c>, <c>-X</c>, <c>-F</c>, <c>-P</c>; <see cref="Command"/> set).
/// </summary>
public sealed record RestoreItem(int Line, string? Declared, Command? Command)
{
    /// <summary>A declared built-in chain's policy (ACCEPT or DROP); null for a user chain and for a command.</summary>
    public string? Policy { get; init; }
}
