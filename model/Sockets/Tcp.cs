using System.Collections.Immutable;
using System.Globalization;
using ConntrackModel.Model.Addressing;
using ConntrackModel.Model.Choices;
using ConntrackModel.Model.Packets;

namespace ConntrackModel.Model.Sockets;

/// <summary>
/// TCP endpoint behaviour (net/ipv4/tcp_input.c, tcp_output.c, tcp_minisocks.c, tcp_ipv4.c, tcp_timer.c), reduced
/// to the decisions that change the observable outcome: who answers what, who is reset, what is delivered.
/// Not modelled: timestamps/PAWS, SACK, window scaling, delayed ACKs (loopback ACKs at once), congestion control.
/// Sequence numbers are real 32-bit values so the RST and window rules work as in the kernel.
/// </summary>
public static class Tcp
{
    /// <summary>
    /// Receive window used for the sequence acceptability test (<c>tcp_sequence</c>): a model constant, not the
    /// kernel's scaled window. It matters only for segments of another connection, whose sequence numbers are
    /// unrelated to the receiver's: such a RST is ignored out of window and draws a challenge ACK in window. With
    /// 65535 of 2^32 sequence numbers in window the model almost always says "out of window", as the kernel would.
    /// </summary>
    public const uint RcvWnd = 65535;

    /// <summary>TCP_TIMEOUT_INIT: first SYN / SYN-ACK retransmission timeout.</summary>
    public const long SynRtoMs = 1000;

    /// <summary>
    /// <c>net.ipv4.tcp_syn_linear_timeouts</c> (default 4): SYN retransmissions at a fixed 1 s before backing off.
    /// Measured on 6.18: a dropped SYN was re-sent at +1.01, +2.04, +3.06 s.
    /// </summary>
    public const int SynLinearTimeouts = 4;

    /// <summary><c>net.ipv4.tcp_syn_retries</c> default (not reached by the 3 s connect of scenarios).</summary>
    public const int SynRetries = 6;

    /// <summary><c>net.ipv4.tcp_synack_retries</c> default; not re-read from the source nor measured here.</summary>
    public const int SynAckRetries = 5;

    /// <summary>TCP_RTO_MIN: the RTO on loopback, where the measured RTT is ~0 (measured: data re-sent after 207 ms).</summary>
    public const long RtoMinMs = 200;

    /// <summary>TCP_RTO_MAX.</summary>
    public const long RtoMaxMs = 120_000;

    /// <summary><c>net.ipv4.tcp_retries2</c> default; not re-read from the source nor measured here (no scenario runs that long).</summary>
    public const int Retries2 = 15;

    /// <summary>
    /// TCP_TIMEOUT_MIN = 2 jiffies (HZ=250): the SYN re-send after a RST for an unacceptable ACK
    /// (<c>tcp_rcv_synsent_state_process</c>; measured 8.2-15.6 ms, timer slack included).
    /// </summary>
    public const long TimeoutMinMs = 8;

    /// <summary>TCP_TIMEWAIT_LEN.</summary>
    public const long TimeWaitMs = 60_000;

    /// <summary><c>net.ipv4.tcp_fin_timeout</c> default: lifetime of an orphaned FIN_WAIT2 socket; not re-read from the source.</summary>
    public const long FinTimeoutMs = 60_000;

    /// <summary><c>net.ipv4.tcp_invalid_ratelimit</c>: at most one challenge/out-of-window ACK per socket per 500 ms.</summary>
    public const long InvalidRateLimitMs = 500;

    /// <summary>
    /// <c>secure_tcp_seq</c>: a keyed hash of the 4-tuple plus a clock ticking every 64 ns, so a later SYN on the
    /// same 4-tuple has a higher ISN (what lets TIME_WAIT accept it). The model's key is fixed;
    /// <paramref name="clock"/> is the 64 ns clock (see <see cref="IsnClock"/>).
    /// </summary>
    public static uint SecureSeq(SockAddr local, SockAddr remote, uint clock)
    {
        // The hash of the text "LOCAL>REMOTE", formatted on the stack (the model's stand-in for the siphash key).
        Span<char> text = stackalloc char[64];
        var n = 0;
        if (!(SpanFormat.Append(text, ref n, local) && SpanFormat.Append(text, ref n, ">") && SpanFormat.Append(text, ref n, remote)))
            throw new InvalidOperationException("address text too long");
        return (uint)SeededChoices.SplitMix64(SeededChoices.Fnv1a(text[..n])) + clock;
    }

    /// <summary>
    /// The ISN clock (ns &gt;&gt; 6) at model time <paramref name="nowMs"/> after <paramref name="isnsSoFar"/> ISNs:
    /// commands the model runs at the same millisecond still happen at distinct real instants, so every ISN
    /// advances the clock by 1000 ticks (64 us) beyond the 15625 ticks per millisecond.
    /// </summary>
    public static uint IsnClock(long nowMs, long isnsSoFar) => (uint)(nowMs * 15625 + isnsSoFar * 1000);

    public static bool After(uint a, uint b) => (int)(b - a) < 0;

    public static bool Before(uint a, uint b) => (int)(a - b) < 0;

    private static Segment Make(TcpEnd e, TcpFlags flags, uint seq, uint ack, string? payload = null) =>
        new(new ConnTuple(e.Local, e.Remote), flags, seq, ack, payload, e.Name);

    // ---------------------------------------------------------------- application calls

    /// <summary>connect(): SYN_SENT, SYN sent, retransmit timer armed.</summary>
    public static EndResult Connect(string name, SockAddr local, SockAddr remote, bool explicitBind, long now, uint clock)
    {
        var iss = SecureSeq(local, remote, clock);
        var syn = new Segment(new ConnTuple(local, remote), TcpFlags.Syn, iss, 0, null, name);
        var e = TcpEnd.Create(name, local, remote, TcpState.SynSent, iss, explicitBind, sndNxt: iss + 1, unacked: [syn], retransmitAt: now + SynRtoMs);
        return new EndResult(e, [syn], "SYN sent", false);
    }

    /// <summary>send(): one data segment carrying the label.</summary>
    public static EndResult Send(TcpEnd e, string label, long now)
    {
        ArgumentNullException.ThrowIfNull(e);
        var seg = Make(e, TcpFlags.Psh | TcpFlags.Ack, e.SndNxt, e.RcvNxt, label);
        e = e with { SndNxt = e.SndNxt + (uint)seg.Length, Unacked = e.Unacked.Add(seg), RetransmitAt = e.RetransmitAt ?? now + RtoMinMs };
        return new EndResult(e, [seg], "data sent", false);
    }

    /// <summary>close(): FIN from ESTABLISHED / CLOSE_WAIT (<c>tcp_close</c>); a connecting socket just goes away.</summary>
    public static EndResult Close(TcpEnd e, long now)
    {
        ArgumentNullException.ThrowIfNull(e);
        e = e with { AppClosed = true };
        switch (e.State)
        {
            case TcpState.Established:
            case TcpState.CloseWait:
                var fin = Make(e, TcpFlags.Fin | TcpFlags.Ack, e.SndNxt, e.RcvNxt);
                e = e with
                {
                    State = e.State == TcpState.Established ? TcpState.FinWait1 : TcpState.LastAck,
                    SndNxt = e.SndNxt + 1,
                    Unacked = e.Unacked.Add(fin),
                    RetransmitAt = e.RetransmitAt ?? now + RtoMinMs,
                };
                return new EndResult(e, [fin], "FIN sent", false);
            case TcpState.SynSent:
            case TcpState.SynRecv:
                return EndResult.Quiet(Destroy(e with { State = TcpState.Close }), "closed before established");
            default:
                return EndResult.Quiet(e, "already closing");
        }
    }

    /// <summary>close() with SO_LINGER {1, 0}: <c>tcp_disconnect</c> sends RST where <c>tcp_need_reset</c> says so.</summary>
    public static EndResult Abort(TcpEnd e)
    {
        ArgumentNullException.ThrowIfNull(e);
        var needReset = e.State is TcpState.Established or TcpState.CloseWait or TcpState.FinWait1 or TcpState.FinWait2 or TcpState.SynRecv;
        var closed = Destroy(e with { State = TcpState.Close, AppClosed = true });
        if (!needReset) return EndResult.Quiet(closed, "aborted");
        var rst = Make(e, TcpFlags.Rst | TcpFlags.Ack, e.SndNxt, e.RcvNxt);
        return new EndResult(closed, [rst], "RST sent (abort)", false);
    }

    // ---------------------------------------------------------------- input

    /// <summary>A segment demultiplexed to end <paramref name="e"/> (<c>tcp_v4_rcv</c> → state processing).</summary>
    public static EndResult Receive(TcpEnd e, Segment seg, long now)
    {
        ArgumentNullException.ThrowIfNull(e);
        ArgumentNullException.ThrowIfNull(seg);
        return e.State switch
        {
            TcpState.SynSent => SynSent(e, seg, now),
            TcpState.SynRecv => SynRecv(e, seg, now),
            TcpState.TimeWait => TimeWait(e, seg, now),
            _ => Synchronized(e, seg, now),
        };
    }

    /// <summary>A SYN for a listener (<c>tcp_conn_request</c>): a new SYN_RECV end answers with SYN/ACK.</summary>
    public static EndResult Accept(string name, Segment syn, long now, uint clock, uint? iss = null)
    {
        ArgumentNullException.ThrowIfNull(syn);
        var local = syn.Tuple.Dst;
        var remote = syn.Tuple.Src;
        var s = iss ?? SecureSeq(local, remote, clock);
        var synack = new Segment(new ConnTuple(local, remote), TcpFlags.Syn | TcpFlags.Ack, s, syn.Seq + 1, null, name);
        var e = TcpEnd.Create(name, local, remote, TcpState.SynRecv, s, false, sndNxt: s + 1, rcvNxt: syn.Seq + 1, unacked: [synack], retransmitAt: now + SynRtoMs);
        return new EndResult(e, [synack], "SYN/ACK sent", false);
    }

    /// <summary>
    /// What the stack sends for a segment no socket takes (<c>tcp_v4_send_reset</c>): never a RST for a RST; with
    /// ACK set, RST seq = that ack and no ACK flag; otherwise RST|ACK seq 0 ack = seq + len (+SYN +FIN).
    /// The RST is attributed to <paramref name="origin"/>.
    /// </summary>
    public static Segment? ResetFor(Segment seg, string origin)
    {
        ArgumentNullException.ThrowIfNull(seg);
        if (seg.Has(TcpFlags.Rst)) return null;
        return seg.Has(TcpFlags.Ack)
            ? new Segment(seg.Tuple.Invert(), TcpFlags.Rst, seg.Ack, 0, null, origin)
            : new Segment(seg.Tuple.Invert(), TcpFlags.Rst | TcpFlags.Ack, 0, seg.EndSeq, null, origin);
    }

    /// <summary><c>tcp_rcv_synsent_state_process</c>.</summary>
    private static EndResult SynSent(TcpEnd e, Segment seg, long now)
    {
        if (seg.Has(TcpFlags.Ack))
        {
            if (!After(seg.Ack, e.SndUna) || After(seg.Ack, e.SndNxt))
            {
                if (seg.Has(TcpFlags.Rst)) return EndResult.Quiet(e, "RST with unacceptable ACK ignored");
                // Unacceptable ACK (e.g. a challenge ACK of another connection): answer with RST seq = ack and, if
                // the SYN was not retransmitted yet, re-send it almost at once.
                if (e.Retransmits == 0) e = e with { RetransmitAt = now + TimeoutMinMs };
                var rst = ResetFor(seg, e.Name)!;
                return new EndResult(e, [rst], "unacceptable ACK: RST sent, SYN re-send armed", false);
            }
            if (seg.Has(TcpFlags.Rst)) return new EndResult(ResetEnd(e), [], "connection refused", true);
        }
        if (seg.Has(TcpFlags.Rst)) return EndResult.Quiet(e, "RST without ACK ignored");
        if (seg.Has(TcpFlags.Syn) && seg.Has(TcpFlags.Ack))
        {
            e = e with
            {
                State = TcpState.Established,
                RcvNxt = seg.Seq + 1,
                SndUna = seg.Ack,
                Unacked = [],
                RetransmitAt = null,
                Retransmits = 0,
            };
            return new EndResult(e, [Make(e, TcpFlags.Ack, e.SndNxt, e.RcvNxt)], "established", false);
        }
        if (seg.Has(TcpFlags.Syn))
        {
            // Simultaneous open.
            e = e with { State = TcpState.SynRecv, RcvNxt = seg.Seq + 1 };
            return new EndResult(e, [Make(e, TcpFlags.Syn | TcpFlags.Ack, e.Iss, e.RcvNxt)], "simultaneous open", false);
        }
        return EndResult.Quiet(e, "dropped in SYN_SENT");
    }

    /// <summary>A request socket (<c>tcp_check_req</c>).</summary>
    private static EndResult SynRecv(TcpEnd e, Segment seg, long now)
    {
        if (seg.Has(TcpFlags.Rst))
        {
            return InWindow(e, seg)
                ? new EndResult(Destroy(e with { State = TcpState.Close }), [], "request dropped by RST", false)
                : EndResult.Quiet(e, "RST out of window ignored");
        }
        if (seg.Has(TcpFlags.Syn) && !seg.Has(TcpFlags.Ack))
        {
            if (seg.Seq + 1 == e.RcvNxt) return new EndResult(e, [e.Unacked[0]], "SYN retransmit: SYN/ACK re-sent", false);
            return OutOfWindowAck(e, seg, now, "SYN to request socket");
        }
        if (!seg.Has(TcpFlags.Ack)) return EndResult.Quiet(e, "dropped (no ACK)");
        if (seg.Ack != e.SndNxt)
            return new EndResult(e, [ResetFor(seg, e.Name)!], "bad ACK to request socket: RST sent", false);
        e = e with { State = TcpState.Established, Accepted = true, SndUna = seg.Ack, Unacked = [], RetransmitAt = null, Retransmits = 0 };
        var rest = Synchronized(e, seg, now);
        return rest with { Reaction = rest.Reaction.Length == 0 ? "accepted" : "accepted; " + rest.Reaction };
    }

    /// <summary><c>tcp_timewait_state_process</c> for a true TIME_WAIT socket.</summary>
    private static EndResult TimeWait(TcpEnd e, Segment seg, long now)
    {
        if (seg.Has(TcpFlags.Rst))
        {
            return seg.Seq == e.RcvNxt
                ? new EndResult(Destroy(e), [], "RST kills TIME_WAIT", false)
                : EndResult.Quiet(e, "RST ignored in TIME_WAIT");
        }
        if (seg.Has(TcpFlags.Syn) && !seg.Has(TcpFlags.Ack) && After(seg.Seq, e.RcvNxt))
            return new EndResult(Destroy(e), [], "TIME_WAIT takes new SYN", false, e.SndNxt + 65537);
        if (seg.Has(TcpFlags.Fin) && seg.EndSeq == e.RcvNxt)
        {
            e = e with { TimeWaitUntil = now + TimeWaitMs };
            return new EndResult(e, [Make(e, TcpFlags.Ack, e.SndNxt, e.RcvNxt)], "FIN retransmit acked", false);
        }
        return OutOfWindowAck(e, seg, now, "segment to TIME_WAIT");
    }

    /// <summary>The retransmit queue without the segments <paramref name="ack"/> covers (<c>tcp_clean_rtx_queue</c>).</summary>
    private static ImmutableList<Segment> Acked(ImmutableList<Segment> unacked, uint ack)
    {
        if (unacked.IsEmpty) return unacked;
        var queue = unacked;
        foreach (var s in unacked)
        {
            if (!After(s.EndSeq, ack)) queue = queue.Remove(s);
        }
        return queue;
    }

    /// <summary><c>tcp_validate_incoming</c>, <c>tcp_ack</c>, <c>tcp_data_queue</c>, <c>tcp_fin</c> for synchronised states.</summary>
    private static EndResult Synchronized(TcpEnd e, Segment seg, long now)
    {
        if (e.State is TcpState.Close or TcpState.Listen) return EndResult.Quiet(e, "socket closed");
        if (!InWindow(e, seg))
        {
            if (seg.Has(TcpFlags.Rst))
            {
                return seg.Seq == e.RcvNxt - 1 && e.State is TcpState.CloseWait or TcpState.LastAck or TcpState.Closing
                    ? new EndResult(ResetEnd(e), [], "reset", true)
                    : EndResult.Quiet(e, "RST out of window ignored");
            }
            if (seg.Has(TcpFlags.Syn)) return ChallengeAck(e, now, "SYN out of window");
            return OutOfWindowAck(e, seg, now, "out of window");
        }
        if (seg.Has(TcpFlags.Rst))
        {
            return seg.Seq == e.RcvNxt
                ? new EndResult(ResetEnd(e), [], "reset", true)
                : ChallengeAck(e, now, "RST in window, not exact");
        }
        // RFC 5961 4.2: any SYN on a synchronised socket draws a challenge ACK and is dropped.
        if (seg.Has(TcpFlags.Syn)) return ChallengeAck(e, now, "SYN on " + StateName(e.State));
        if (!seg.Has(TcpFlags.Ack)) return EndResult.Quiet(e, "dropped (no ACK)");

        if (After(seg.Ack, e.SndNxt))
        {
            return e.State == TcpState.Established
                ? EndResult.Quiet(e, "ACK of unsent data: dropped")
                : ChallengeAck(e, now, "ACK of unsent data");
        }
        var ourFinSent = e.State is TcpState.FinWait1 or TcpState.Closing or TcpState.LastAck;
        if (After(seg.Ack, e.SndUna))
        {
            var unacked = Acked(e.Unacked, seg.Ack);
            e = e with { SndUna = seg.Ack, Unacked = unacked, RetransmitAt = unacked.IsEmpty ? null : now + RtoMinMs, Retransmits = 0 };
        }
        var finAcked = ourFinSent && e.SndUna == e.SndNxt;
        // What the end did, "; "-separated (a segment may carry data and a FIN).
        var reactions = "";
        if (finAcked)
        {
            switch (e.State)
            {
                case TcpState.FinWait1:
                    e = e with { State = TcpState.FinWait2, TimeWaitUntil = e.AppClosed ? now + FinTimeoutMs : null };
                    break;
                case TcpState.Closing:
                    e = e with { State = TcpState.TimeWait, TimeWaitUntil = now + TimeWaitMs };
                    break;
                case TcpState.LastAck:
                    return EndResult.Quiet(Destroy(e with { State = TcpState.Close }), "FIN acked: closed");
            }
        }

        var respond = false;
        // tcp_rcv_state_process, step 7: new data for a socket the application closed (close() set RCV_SHUTDOWN)
        // in FIN_WAIT1/FIN_WAIT2 aborts it (TCPAbortOnData, RFC 1122 "MUST send a reset"): tcp_reset, and the
        // caller answers the segment with a RST (tcp_v4_send_reset, seq = its ACK). Kernel run: close A, then
        // send A.server: A.server is reset (CLOSE, EPIPE) and A never holds the data.
        if (seg.Length > 0 && e.AppClosed && e.State is TcpState.FinWait1 or TcpState.FinWait2 && After(seg.EndSeq, e.RcvNxt))
            return new EndResult(ResetEnd(e), [ResetFor(seg, e.Name)!], "data after close: abort, RST sent", false);
        if (seg.Length > 0)
        {
            if (seg.Seq == e.RcvNxt && e.State is TcpState.Established or TcpState.FinWait1 or TcpState.FinWait2)
            {
                e = e with { RcvNxt = e.RcvNxt + (uint)seg.Length, Received = e.Received.Add(seg.Payload!) };
                reactions = $"delivered \"{seg.Payload}\"";
            }
            else
            {
                reactions = "data not in sequence: duplicate ACK";
            }
            respond = true;
        }
        if (seg.Has(TcpFlags.Fin))
        {
            var finSeq = seg.Seq + (uint)seg.Length;
            if (finSeq == e.RcvNxt)
            {
                e = e with { RcvNxt = e.RcvNxt + 1 };
                e = e.State switch
                {
                    TcpState.Established => e with { State = TcpState.CloseWait },
                    TcpState.FinWait1 => finAcked || e.SndUna == e.SndNxt
                        ? e with { State = TcpState.TimeWait, TimeWaitUntil = now + TimeWaitMs }
                        : e with { State = TcpState.Closing },
                    TcpState.FinWait2 => e with { State = TcpState.TimeWait, TimeWaitUntil = now + TimeWaitMs },
                    _ => e,
                };
                reactions = reactions.Length == 0 ? "FIN" : reactions + "; FIN";
            }
            respond = true;
        }
        if (!respond) return EndResult.Quiet(e, reactions);
        return new EndResult(e, [Make(e, TcpFlags.Ack, e.SndNxt, e.RcvNxt)], reactions, false);
    }

    /// <summary><c>tcp_sequence</c>: end_seq not before rcv_nxt and seq not after the right edge of the window.</summary>
    private static bool InWindow(TcpEnd e, Segment seg) =>
        !Before(seg.EndSeq, e.RcvNxt) && !After(seg.Seq, e.RcvNxt + RcvWnd);

    /// <summary><c>tcp_send_challenge_ack</c>: an ACK with snd_nxt/rcv_nxt, at most one per 500 ms per socket.</summary>
    private static EndResult ChallengeAck(TcpEnd e, long now, string why)
    {
        if (now - e.LastOowAckAt < InvalidRateLimitMs) return EndResult.Quiet(e, why + ": challenge ACK rate-limited");
        e = e with { LastOowAckAt = now };
        return new EndResult(e, [Make(e, TcpFlags.Ack, e.SndNxt, e.RcvNxt)], why + ": challenge ACK", false);
    }

    /// <summary>Duplicate ACK for an unacceptable segment, under the same limiter except for data (<c>tcp_oow_rate_limited</c>).</summary>
    private static EndResult OutOfWindowAck(TcpEnd e, Segment seg, long now, string why)
    {
        var limited = seg.Length == 0 || seg.Has(TcpFlags.Syn);
        if (limited && now - e.LastOowAckAt < InvalidRateLimitMs) return EndResult.Quiet(e, why + ": ACK rate-limited");
        if (limited) e = e with { LastOowAckAt = now };
        return new EndResult(e, [Make(e, TcpFlags.Ack, e.SndNxt, e.RcvNxt)], why + ": ACK", false);
    }

    /// <summary><c>tcp_reset</c>: the error the application sees, and the socket is done.</summary>
    private static TcpEnd ResetEnd(TcpEnd e)
    {
        Errno? err = e.State switch
        {
            TcpState.SynSent => Errno.ECONNREFUSED,
            TcpState.CloseWait => Errno.EPIPE,
            _ => Errno.ECONNRESET,
        };
        return Destroy(e with { State = TcpState.Close, Error = e.AppClosed ? e.Error : err });
    }

    private static TcpEnd Destroy(TcpEnd e) => e with { Gone = true, RetransmitAt = null, TimeWaitUntil = null, Unacked = [] };

    // ---------------------------------------------------------------- timers

    /// <summary>The retransmit timer fired (<c>tcp_retransmit_timer</c>, <c>reqsk_timer_handler</c>).</summary>
    public static EndResult Retransmit(TcpEnd e, long now)
    {
        ArgumentNullException.ThrowIfNull(e);
        if (e.Unacked.IsEmpty) return EndResult.Quiet(e with { RetransmitAt = null }, "nothing to retransmit");
        var n = e.Retransmits + 1;
        switch (e.State)
        {
            case TcpState.SynSent:
                if (e.Retransmits >= SynRetries)
                    return EndResult.Quiet(Destroy(e with { State = TcpState.Close, Error = Errno.ETIMEDOUT }), "connect timed out");
                var rto = n <= SynLinearTimeouts ? SynRtoMs : Math.Min(SynRtoMs << (n - SynLinearTimeouts), RtoMaxMs);
                return new EndResult(e with { Retransmits = n, RetransmitAt = now + rto }, [e.Unacked[0]], "SYN retransmitted", false);
            case TcpState.SynRecv:
                if (e.Retransmits >= SynAckRetries)
                    return EndResult.Quiet(Destroy(e with { State = TcpState.Close }), "request timed out");
                return new EndResult(e with { Retransmits = n, RetransmitAt = now + Math.Min(SynRtoMs << n, RtoMaxMs) },
                    [e.Unacked[0]], "SYN/ACK retransmitted", false);
            default:
                if (e.Retransmits >= Retries2)
                    return EndResult.Quiet(Destroy(e with { State = TcpState.Close, Error = Errno.ETIMEDOUT }), "retransmissions exhausted");
                var head = e.Unacked[0] with { Ack = e.RcvNxt };
                return new EndResult(e with { Retransmits = n, RetransmitAt = now + Math.Min(RtoMinMs << n, RtoMaxMs) },
                    [head], "retransmitted", false);
        }
    }

    /// <summary>TIME_WAIT / orphaned FIN_WAIT2 lifetime over: the socket is gone.</summary>
    public static TcpEnd Expire(TcpEnd e) => Destroy(e ?? throw new ArgumentNullException(nameof(e)));

    /// <summary>Kernel state name as <c>ss</c> and TCP_INFO report it.</summary>
    public static string StateName(TcpState s) => s switch
    {
        TcpState.Established => "ESTABLISHED",
        TcpState.SynSent => "SYN_SENT",
        TcpState.SynRecv => "SYN_RECV",
        TcpState.FinWait1 => "FIN_WAIT1",
        TcpState.FinWait2 => "FIN_WAIT2",
        TcpState.TimeWait => "TIME_WAIT",
        TcpState.Close => "CLOSE",
        TcpState.CloseWait => "CLOSE_WAIT",
        TcpState.LastAck => "LAST_ACK",
        TcpState.Listen => "LISTEN",
        TcpState.Closing => "CLOSING",
        _ => s.ToString(),
    };
}
