using ConntrackModel.Model.Sockets;

namespace ConntrackModel.Model.Kernel;

/// <summary>A pending socket timer; stale entries (the end re-armed or cancelled it) are skipped when due.</summary>
public readonly record struct TimerEntry(long Due, string End, TimerKind Kind) : IComparable<TimerEntry>
{
    public int CompareTo(TimerEntry other)
    {
        var c = Due.CompareTo(other.Due);
        if (c != 0) return c;
        c = string.CompareOrdinal(End, other.End);
        return c != 0 ? c : Kind.CompareTo(other.Kind);
    }

    public static bool operator <(TimerEntry left, TimerEntry right) => left.CompareTo(right) < 0;

    public static bool operator <=(TimerEntry left, TimerEntry right) => left.CompareTo(right) <= 0;

    public static bool operator >(TimerEntry left, TimerEntry right) => left.CompareTo(right) > 0;

    public static bool operator >=(TimerEntry left, TimerEntry right) => left.CompareTo(right) >= 0;
}
