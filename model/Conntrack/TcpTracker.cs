using ConntrackModel.Model.Kernel;
using ConntrackModel.Model.Packets;

namespace ConntrackModel.Model.Conntrack;

/// <summary>
/// The TCP conntrack protocol handler: <c>tcp_new</c> and <c>nf_conntrack_tcp_packet</c>
/// (net/netfilter/nf_conntrack_proto_tcp.c). Window tracking (<c>tcp_in_window</c>) is reduced to the
/// bookkeeping later decisions read (td_end, td_maxack, DATA_UNACKNOWLEDGED, the retransmission counter); every
/// segment the modelled endpoints emit is taken to be inside the window, which holds for the loopback scenarios
/// the model runs (in-order delivery, windows far larger than the data).
/// </summary>
public static class TcpTracker
{
    /// <summary><c>get_conntrack_index</c>.</summary>
    public static TcpFlagClass Classify(Segment seg)
    {
        ArgumentNullException.ThrowIfNull(seg);
        if (seg.Has(TcpFlags.Rst)) return TcpFlagClass.Rst;
        if (seg.Has(TcpFlags.Syn)) return seg.Has(TcpFlags.Ack) ? TcpFlagClass.SynAck : TcpFlagClass.Syn;
        if (seg.Has(TcpFlags.Fin)) return TcpFlagClass.Fin;
        if (seg.Has(TcpFlags.Ack)) return TcpFlagClass.Ack;
        return TcpFlagClass.None;
    }

    /// <summary>
    /// <c>tcp_new</c>: the tracking state a first packet opens an entry with (in state NONE), or null when it may not create one: SYN/ACK, FIN,
    /// RST and flagless packets never do; a non-SYN only with <c>nf_conntrack_tcp_loose</c> (mid-stream pickup,
    /// both directions then BE_LIBERAL).
    /// </summary>
    public static TcpCtInfo? New(Segment seg, Sysctls sys)
    {
        ArgumentNullException.ThrowIfNull(seg);
        ArgumentNullException.ThrowIfNull(sys);
        var state = TcpTransitionTable.Next(CtDirection.Original, Classify(seg), TcpCtState.None);
        if (state >= TcpCtState.Max) return null;
        if (state == TcpCtState.SynSent)
            return TcpCtInfo.Empty with { Original = TcpDirState.Empty with { Initialized = true, TdEnd = seg.EndSeq } };
        if (!sys.TcpLoose) return null;
        var picked = TcpDirState.Empty with { Initialized = true, TdEnd = seg.EndSeq, BeLiberal = true };
        return TcpCtInfo.Empty with { Original = picked, Reply = TcpDirState.Empty with { BeLiberal = true } };
    }

    /// <summary><c>nf_conntrack_tcp_packet</c> for a packet in direction <paramref name="dir"/> of <paramref name="ct"/>.</summary>
    public static TrackResult Packet(CtEntry ct, CtDirection dir, Segment seg, Sysctls sys, long now)
    {
        ArgumentNullException.ThrowIfNull(ct);
        ArgumentNullException.ThrowIfNull(seg);
        ArgumentNullException.ThrowIfNull(sys);
        var index = Classify(seg);
        var old = ct.State;
        var tcp = ct.Tcp;
        var other = dir == CtDirection.Original ? CtDirection.Reply : CtDirection.Original;
        var newState = TcpTransitionTable.Next(dir, index, old);
        var skipWindow = false;

        switch (newState)
        {
            case TcpCtState.SynSent:
                if (old < TcpCtState.TimeWait) break;
                // A SYN reopening a closed flow: the old entry is killed and the SYN starts a new one (and gets a
                // fresh NAT decision) if a FIN was seen or the last packet was our own RST.
                if (tcp.Original.CloseInit || tcp.Reply.CloseInit || (tcp.LastDir == dir && tcp.LastIndex == TcpFlagClass.Rst))
                    return new TrackResult(TrackVerdict.Repeat, ct, false, "SYN reopens closed entry: kill, NF_REPEAT");
                return Ignore(ct, dir, index, seg, old, "SYN on TIME_WAIT/CLOSE entry ignored");
            case TcpCtState.Ignore:
                // SYN/ACK answering a SYN we ignored earlier: resynchronise as if the entry were in SYN_SENT.
                if (index == TcpFlagClass.SynAck && tcp.LastIndex == TcpFlagClass.Syn && tcp.LastDir != dir && seg.Ack == tcp.LastEnd)
                {
                    newState = TcpCtState.SynRecv;
                    break;
                }
                return Ignore(ct, dir, index, seg, old, "ignored (sIG)");
            case TcpCtState.Max:
                return new TrackResult(TrackVerdict.Invalid, ct, false, "invalid state transition (sIV)");
            case TcpCtState.TimeWait:
                // In LAST_ACK an ACK that answers an ignored SYN is a challenge ACK, not the end of the flow.
                if (old == TcpCtState.LastAck && index == TcpFlagClass.Ack && tcp.LastDir != dir &&
                    tcp.LastIndex == TcpFlagClass.Syn && tcp.ExpectChallengeAck)
                {
                    return new TrackResult(TrackVerdict.Accept, ct with { Tcp = tcp with { ExpectChallengeAck = false } }, false,
                        "challenge ACK in LAST_ACK");
                }
                break;
            case TcpCtState.Close:
                if (index != TcpFlagClass.Rst) break;
                if (CanEarlyDrop(old))
                {
                    skipWindow = true;
                    break;
                }
                var peer = tcp.Seen(other);
                if (peer.MaxAckSet && tcp.LastIndex != TcpFlagClass.Syn)
                {
                    var established = old == TcpCtState.Established;
                    if (seg.Seq == 0 && !established) break;
                    if (Before(seg.Seq, peer.TdMaxAck) && !sys.TcpIgnoreInvalidRst)
                        return new TrackResult(TrackVerdict.Invalid, ct, false, "invalid rst (seq below peer's max ack)");
                    if (!established || seg.Seq == peer.TdMaxAck) break;
                    if (tcp.LastIndex == TcpFlagClass.Ack && tcp.LastDir == dir && seg.Seq == tcp.LastEnd) break;
                    // Inexact RST on ESTABLISHED: keep the state so the peer can send a challenge ACK.
                    newState = old;
                }
                if (((ct.Has(CtStatus.SeenReply) && tcp.LastIndex == TcpFlagClass.Syn) ||
                     (!ct.Has(CtStatus.Assured) && tcp.LastIndex == TcpFlagClass.Ack)) && seg.Ack == tcp.LastEnd)
                {
                    skipWindow = true;
                    break;
                }
                // "Reset in response to a challenge-ack we let through earlier" (the blog's RST).
                if (old == TcpCtState.SynSent && tcp.LastIndex == TcpFlagClass.Ack && tcp.LastDir == CtDirection.Reply &&
                    seg.Seq == tcp.LastAck)
                {
                    skipWindow = true;
                }
                break;
            default:
                break;
        }

        if (!skipWindow) tcp = InWindow(tcp, dir, index, seg);

        // in_window:
        tcp = tcp with { LastIndex = index, LastDir = dir };
        if (old != newState && newState == TcpCtState.FinWait)
            tcp = tcp.WithSeen(dir, tcp.Seen(dir) with { CloseInit = true });

        long timeout;
        if (tcp.Retrans >= sys.TcpMaxRetrans && sys.TimeoutMs(newState) > sys.RetransTimeoutMs) timeout = sys.RetransTimeoutMs;
        else if (index == TcpFlagClass.Rst) timeout = sys.TimeoutMs(TcpCtState.Close);
        else if ((tcp.Original.DataUnacknowledged || tcp.Reply.DataUnacknowledged) && sys.TimeoutMs(newState) > sys.UnackTimeoutMs)
            timeout = sys.UnackTimeoutMs;
        else timeout = sys.TimeoutMs(newState);

        // The entry is built once, at the end, with whichever of these applied.
        if (!ct.Has(CtStatus.SeenReply))
        {
            if (seg.Has(TcpFlags.Rst))
                return new TrackResult(TrackVerdict.Accept, ct with { State = newState, Tcp = tcp }, true, "only reply is a RST: entry deleted");
            if (index == TcpFlagClass.Syn && old == TcpCtState.SynSent)
                return new TrackResult(TrackVerdict.Accept, ct with { Tcp = tcp }, false, "SYN retransmit; timeout not renewed");
            if (newState == TcpCtState.Established && timeout > sys.UnackTimeoutMs) timeout = sys.UnackTimeoutMs;
        }
        var status = ct.Status;
        if (ct.Has(CtStatus.SeenReply) && !ct.Has(CtStatus.Assured) && (old == TcpCtState.SynRecv || old == TcpCtState.Established) && newState == TcpCtState.Established)
            status |= CtStatus.Assured;
        return new TrackResult(TrackVerdict.Accept, ct with { State = newState, Tcp = tcp, Status = status, ExpiresAt = now + timeout }, false, "");
    }

    /// <summary><c>tcp_can_early_drop</c>: the closing states.</summary>
    public static bool CanEarlyDrop(TcpCtState s) =>
        s is TcpCtState.FinWait or TcpCtState.LastAck or TcpCtState.TimeWait or TcpCtState.Close or TcpCtState.CloseWait;

    /// <summary>Serial-number comparison <c>before(a, b)</c>.</summary>
    public static bool Before(uint a, uint b) => (int)(a - b) < 0;

    private static TrackResult Ignore(CtEntry ct, CtDirection dir, TcpFlagClass index, Segment seg, TcpCtState old, string note)
    {
        var tcp = ct.Tcp with { LastIndex = index, LastDir = dir, LastSeq = seg.Seq, LastEnd = seg.EndSeq };
        if (index == TcpFlagClass.Syn && dir == CtDirection.Original && old == TcpCtState.LastAck)
            tcp = tcp with { ExpectChallengeAck = true };
        // A challenge ACK answering a SYN that hit an entry in SYN_SENT: remember its ack so the RST the client
        // will send with seq == that ack is recognised ("reset in response to a challenge-ack").
        if (old == TcpCtState.SynSent && index == TcpFlagClass.Ack && dir == CtDirection.Reply)
            tcp = tcp with { LastAck = seg.Ack };
        return new TrackResult(TrackVerdict.Accept, ct with { Tcp = tcp }, false, note);
    }

    /// <summary>The bookkeeping half of <c>tcp_in_window</c> (its bounds checks are assumed to pass).</summary>
    private static TcpCtInfo InWindow(TcpCtInfo tcp, CtDirection dir, TcpFlagClass index, Segment seg)
    {
        var other = dir == CtDirection.Original ? CtDirection.Reply : CtDirection.Original;
        var sender = tcp.Seen(dir);
        var receiver = tcp.Seen(other);
        var end = seg.EndSeq;
        if (!sender.Initialized) sender = sender with { Initialized = true, TdEnd = end };
        else if (Before(sender.TdEnd, end)) sender = sender with { TdEnd = end, DataUnacknowledged = true };
        if (seg.Has(TcpFlags.Ack))
        {
            if (!sender.MaxAckSet || Before(sender.TdMaxAck, seg.Ack)) sender = sender with { TdMaxAck = seg.Ack, MaxAckSet = true };
            if (seg.Ack == receiver.TdEnd) receiver = receiver with { DataUnacknowledged = false };
        }
        tcp = tcp.WithSeen(dir, sender).WithSeen(other, receiver);
        if (index == TcpFlagClass.Ack)
        {
            // Retransmission detection: the same pure ACK again (window is constant in the model).
            tcp = tcp.LastDir == dir && tcp.LastSeq == seg.Seq && tcp.LastAck == seg.Ack && tcp.LastEnd == end
                ? tcp with { Retrans = unchecked((byte)(tcp.Retrans + 1)) }
                : tcp with { LastSeq = seg.Seq, LastAck = seg.Ack, LastEnd = end, Retrans = 0 };
        }
        return tcp;
    }

    /// <summary>
    /// <c>nf_conntrack_tcp_set_closing</c> (called by REJECT's <c>nf_send_reset</c> for the entry of the packet it
    /// answers): the entry's state becomes CLOSE and, unless it was CLOSE already, its timeout CLOSE's.
    /// </summary>
    public static CtEntry SetClosing(CtEntry ct, Sysctls sys, long now)
    {
        ArgumentNullException.ThrowIfNull(ct);
        ArgumentNullException.ThrowIfNull(sys);
        return ct.State == TcpCtState.Close ? ct : ct with { State = TcpCtState.Close, ExpiresAt = now + sys.TimeoutMs(TcpCtState.Close) };
    }
}
