using ConntrackModel.Model.Sockets;

namespace ConntrackModel.Model.Kernel;

/// <summary>
/// An armed socket timer: the retransmit timer (<c>inet_csk_reset_xmit_timer</c>, cancelled by
/// <c>inet_csk_clear_xmit_timer</c>) or the TIME_WAIT timer (<c>inet_twsk_schedule</c>). Re-arming or cancelling it
/// replaces or removes the entry, as the kernel's timer wheel does, so the world holds exactly the armed timers.
/// </summary>
public readonly record struct TimerEntry(long Due, string End, TimerKind Kind) : IComparable<TimerEntry>
{
    public int CompareTo(TimerEntry other)
    {
        var c = Due.CompareTo(other.Due);
        if (c != 0) return c;
        c = string.CompareOrdinal(End, other.End);
        return c != 0 ? c : ((int)Kind).CompareTo((int)other.Kind);
    }

    public static bool operator <(TimerEntry left, TimerEntry right) => left.CompareTo(right) < 0;

    public static bool operator <=(TimerEntry left, TimerEntry right) => left.CompareTo(right) <= 0;

    public static bool operator >(TimerEntry left, TimerEntry right) => left.CompareTo(right) > 0;

    public static bool operator >=(TimerEntry left, TimerEntry right) => left.CompareTo(right) >= 0;
}
