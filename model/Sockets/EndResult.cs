using System.Collections.Immutable;
using ConntrackModel.Model.Packets;

namespace ConntrackModel.Model.Sockets;

/// <summary>
/// What an end did with an input: its new state, the segments it transmits (in order), a short description of
/// its reaction, and whether it accepted a reset. <paramref name="ReopenIss"/>: a TIME_WAIT end accepted a new SYN
/// (TCP_TW_SYN); the end is gone and the listener must take the SYN with this initial sequence number.
/// </summary>
public readonly record struct EndResult(TcpEnd End, ImmutableArray<Segment> Out, string Reaction, bool WasReset, uint? ReopenIss = null)
{
    public static EndResult Quiet(TcpEnd end, string reaction) => new(end, [], reaction, false);
}
