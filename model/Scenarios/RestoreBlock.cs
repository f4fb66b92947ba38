using System.Collections.Immutable;

namespace ConntrackModel.Model.Scenarios;

/// <summary>
/// One <c>*nat</c> ... <c>COMMIT</c> block of an <c>iptables-restore</c> input: its lines in order (chain declarations
/// and commands), and the line of its COMMIT. Line numbers count from the input's first line, as iptables-restore's
/// messages do.
/// </summary>
public sealed record RestoreBlock(int Line, ImmutableArray<RestoreItem> Items, int CommitLine)
{
    public bool Equals(RestoreBlock? other) => other is not null && Line == other.Line && CommitLine == other.CommitLine && Items.SequenceEqual(other.Items);

    public override int GetHashCode() => HashCode.Combine(Line, CommitLine, Items.Length);
}

/// <summary>
/// A line of a restore block: <c>:CHAIN POLICY [p:b]</c> (<see cref="Declared"/> set; counters ignored) or a command
/// (<c>-A</c>, <c>-I</c>, <c>-D</c>, <c>-R</c>, <c>-N</c>, <c>-X</c>, <c>-F</c>; <see cref="Command"/> set). <c>-P CHAIN
/// ACCEPT</c> changes nothing and is not kept.
/// </summary>
public sealed record RestoreItem(int Line, string? Declared, Command? Command);
