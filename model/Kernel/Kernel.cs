using System.Collections.Immutable;
using System.Globalization;
using ConntrackModel.Model.Addressing;
using ConntrackModel.Model.Choices;
using ConntrackModel.Model.Conntrack;
using ConntrackModel.Model.Nat;
using ConntrackModel.Model.Packets;
using ConntrackModel.Model.Scenarios;
using ConntrackModel.Model.Sockets;

namespace ConntrackModel.Model.Kernel;

/// <summary>
/// The semantics: <see cref="Step"/> is the one pure transition function. A command runs to completion as it
/// would in a shell (connect blocks until the handshake is decided), every segment is pushed through the netfilter
/// path of a locally generated packet on loopback, and time only moves inside connect and sleep.
/// </summary>
/// <remarks>
/// Packet path (net/ipv4/ip_output.c, net/netfilter/nf_conntrack_core.c, nf_nat_core.c):
/// LOCAL_OUT: <c>nf_conntrack_in</c> (priority -200), nat OUTPUT chain (DST manip, -100);
/// POST_ROUTING: nat POSTROUTING chain (SRC manip, +100), <c>nf_confirm</c> (INT_MAX);
/// the segment is captured on lo, then received: PRE_ROUTING and LOCAL_IN see the same skb with its entry still
/// attached (<c>loopback_xmit</c> keeps it, <c>nf_conntrack_in</c> returns at once), so only a packet that lost its
/// entry (invalid) is tracked again; then <c>tcp_v4_rcv</c> demultiplexes it to a socket.
/// </remarks>
public static class Kernel
{
    /// <summary>How long the scenario's connect waits for the handshake before giving up (the replay uses the same).</summary>
    public const long ConnectTimeoutMs = 3000;

    /// <summary>The output device of every packet in a namespace that has only lo.</summary>
    public const string Loopback = "lo";

    public static StepResult Step(World world, Command command, ChoiceSource choices)
    {
        ArgumentNullException.ThrowIfNull(world);
        ArgumentNullException.ThrowIfNull(command);
        ArgumentNullException.ThrowIfNull(choices);
        if (Check(world, command) is { } rejected) return new StepResult(world, [], rejected);
        var ctx = new StepContext(world, choices);
        try
        {
            ctx.Run(command);
        }
        catch (RejectedException e)
        {
            return new StepResult(world, [], e.Message);
        }
        return new StepResult(ctx.World, ctx.Events.DrainToImmutable(), null);
    }

    /// <summary>The command's precondition: null if it may run, else what is wrong (as the shell would report it).</summary>
    public static string? Check(World world, Command command)
    {
        ArgumentNullException.ThrowIfNull(world);
        switch (command)
        {
            case Command.Listen l:
                if (!l.Address.Ip.IsLoopback) return $"listen {l.Address}: cannot bind: the namespace only has 127.0.0.0/8 (EADDRNOTAVAIL)";
                return world.Sockets.PortInUse(l.Address) ? $"listen {l.Address}: Address already in use (EADDRINUSE)" : null;
            case Command.Connect c:
                if (world.FindConnection(c.Name) is not null) return $"connect {c.Name}: connection name already used";
                if (c.Local is { } local)
                {
                    if (!local.Ip.IsLoopback) return $"connect {c.Name}: bind {local}: Cannot assign requested address (EADDRNOTAVAIL)";
                    if (world.Sockets.PortInUse(local)) return $"connect {c.Name}: bind {local}: Address already in use (EADDRINUSE)";
                    if (world.Sockets.Established(new ConnTuple(c.Remote, local)) is not null)
                        return $"connect {c.Name}: {local} -> {c.Remote}: Address already in use (EADDRINUSE)";
                }
                // A connect() without bind that finds no free local port is rejected by Step itself (EADDRNOTAVAIL),
                // where the port search runs anyway.
                return null;
            case Command.Send s:
                return CheckEnd(world, s.End, "send");
            case Command.Close cl:
                return CheckEnd(world, cl.End, "close");
            case Command.Abort a:
                return CheckEnd(world, a.End, "abort");
            case Command.IptablesDelete d:
                if (d.Rule is not null && !world.Netfilter.Rules.Any(r => r.SameRule(d.Rule)))
                    return "iptables: Bad rule (does a matching rule exist in that chain?).";
                if (d.Index is { } i && world.Netfilter.Chain(d.Chain).Count() < i)
                    return "iptables: Index of deletion too big.";
                return null;
            case Command.IptablesAdd add:
                if (add.Position is { } pos && pos > world.Netfilter.Chain(add.Rule.Chain).Count() + 1)
                    return "iptables: Index of insertion too big.";
                return null;
            default:
                return null;
        }
    }

    private static string? CheckEnd(World world, string end, string verb)
    {
        var conn = Segment.ConnectionOf(end);
        if (world.FindConnection(conn) is null) return $"{verb} {end}: no connection named {conn}";
        var e = world.Sockets.End(end);
        if (e is null || !e.Accepted)
        {
            return end.EndsWith(".server", StringComparison.Ordinal)
                ? $"{verb} {end}: the server never accepted connection {conn}"
                : $"{verb} {end}: no such socket end";
        }
        if (e.AppClosed) return $"{verb} {end}: the socket was already closed by the application";
        return null;
    }

    /// <summary>
    /// The source address connect() picks without bind: the namespace has only lo, whose primary address is
    /// 127.0.0.1, so every route (127.0.0.0/8 local) selects it.
    /// </summary>
    private static IPv4Address SourceAddress => IPv4Address.Loopback;

    /// <summary>A precondition found only while running (the port search): Step turns it into a rejection.</summary>
    private sealed class RejectedException(string message) : Exception(message);

    /// <summary>The step's scratch state: the world as it evolves and the events so far. Never escapes Step.</summary>
    private sealed class StepContext(World world, ChoiceSource choices)
    {
        public World World { get; private set; } = world;

        public ImmutableArray<KernelEvent>.Builder Events { get; } = ImmutableArray.CreateBuilder<KernelEvent>();

        private readonly Queue<Segment> _wire = new();

        private long Now => World.Now;

        public void Run(Command command)
        {
            switch (command)
            {
                case Command.Listen l:
                    World = World with { Sockets = World.Sockets.Listen(l.Address) };
                    break;
                case Command.Connect c:
                    Connect(c);
                    break;
                case Command.Send s:
                    AppCall(s.End, e => e.State == TcpState.Close ? null : Tcp.Send(e, s.Label, Now), $"send \"{s.Label}\"");
                    break;
                case Command.Close cl:
                    AppCall(cl.End, e => Tcp.Close(e, Now), "close");
                    break;
                case Command.Abort a:
                    AppCall(a.End, Tcp.Abort, "abort");
                    break;
                case Command.IptablesAdd add:
                    var rules = World.Netfilter.Rules;
                    if (add.Position is { } pos)
                    {
                        var chainRules = rules.Where(r => r.Chain == add.Rule.Chain).ToList();
                        var at = pos - 1 < chainRules.Count ? rules.IndexOf(chainRules[pos - 1]) : rules.Count;
                        rules = rules.Insert(at, add.Rule);
                    }
                    else
                    {
                        rules = rules.Add(add.Rule);
                    }
                    SetRules(rules);
                    break;
                case Command.IptablesDelete d:
                    var victim = d.Rule is not null
                        ? World.Netfilter.Rules.First(r => r.SameRule(d.Rule))
                        : World.Netfilter.Chain(d.Chain).ElementAt(d.Index!.Value - 1);
                    SetRules(World.Netfilter.Rules.Remove(victim));
                    break;
                case Command.IptablesFlush f:
                    SetRules(f.Chain is { } ch ? World.Netfilter.Rules.RemoveAll(r => r.Chain == ch) : []);
                    break;
                case Command.Modprobe:
                    var was = World.Netfilter.Tracking;
                    World = World with { Netfilter = World.Netfilter with { Modprobed = true } };
                    NoteTracking(was);
                    break;
                case Command.ConntrackFlush:
                    var n = World.Conntrack.Live(Now).Count();
                    World = World with { Conntrack = CtTable.Empty };
                    Events.Add(new KernelEvent.Conntrack(Now, string.Create(CultureInfo.InvariantCulture, $"conntrack -F: {n} flow entries deleted")));
                    break;
                case Command.Sysctl s:
                    World = World with { Sysctls = SysctlKeys.Apply(World.Sysctls, s.Key, s.Value) };
                    break;
                case Command.Sleep sl:
                    RunUntil(Now + sl.Milliseconds, inclusive: true, stop: null);
                    break;
                default:
                    throw new ArgumentOutOfRangeException(nameof(command), command, "unknown command");
            }
            Settle();
        }

        private void SetRules(ImmutableList<NatRule> rules)
        {
            var was = World.Netfilter.Tracking;
            World = World with { Netfilter = World.Netfilter with { Rules = rules, NatTableExists = true } };
            NoteTracking(was);
        }

        private void NoteTracking(bool was)
        {
            var now = World.Netfilter.Tracking;
            if (!was && now)
                Events.Add(new KernelEvent.Conntrack(Now, "conntrack hooks registered in the namespace (nf_ct_netns_get): tracking starts; existing connections are not tracked until they send"));
            else if (was && !now)
                Events.Add(new KernelEvent.Conntrack(Now, "last conntrack user gone (nf_ct_netns_put): hooks unregistered; entries stay until they time out"));
        }

        // ------------------------------------------------------------ sockets and time

        private void Connect(Command.Connect c)
        {
            SockAddr local;
            if (c.Local is { } l)
            {
                local = l;
            }
            else
            {
                local = PickEphemeral(c.Name, c.Remote);
            }
            var r = Tcp.Connect(c.Name, local, c.Remote, c.Local is not null, Now, NextIsnClock());
            // The connection is recorded once, with its result, when connect() returns: nothing during the step reads it.
            Apply(r, null);
            var deadline = Now + ConnectTimeoutMs;
            RunUntil(deadline, inclusive: false, stop: () => World.Sockets.End(c.Name) is { State: not TcpState.SynSent and not TcpState.SynRecv } or { Gone: true });
            var end = World.Sockets.End(c.Name)!;
            ConnectResult result;
            if (end.State == TcpState.SynSent && !end.Gone)
            {
                // The application gives up and closes the socket.
                var closed = Tcp.Close(end, Now);
                Put(closed.End with { Error = Errno.ETIMEDOUT });
                Events.Add(new KernelEvent.Socket(Now, c.Name, "connect gave up after 3 s; socket closed"));
                result = ConnectResult.Timeout;
            }
            else
            {
                result = end.Error switch
                {
                    Errno.ECONNREFUSED => ConnectResult.Refused,
                    Errno.ECONNRESET => ConnectResult.Reset,
                    Errno.ETIMEDOUT => ConnectResult.Timeout,
                    _ => ConnectResult.Established,
                };
                // A blocking connect() that fails returns the error and so consumes it: __inet_stream_connect's
                // sock_error path calls sock_error(sk), which clears sk_err; SO_ERROR then reads 0 (kernel run:
                // refused connect, SO_ERROR 0 afterwards).
                if (result != ConnectResult.Established) Put(end with { Error = null });
            }
            World = World.WithConnection(new Connection(c.Name, result, local, c.Remote));
        }

        /// <summary>
        /// <c>__inet_hash_connect</c>: from a hashed start offset (a choice), try ports of the same parity as the
        /// range's low end, then the other parity; a port is usable if no bind() holds it and the 4-tuple is unique.
        /// </summary>
        private SockAddr PickEphemeral(string name, SockAddr remote)
        {
            var low = World.Sysctls.LocalPortLow;
            var high = World.Sysctls.LocalPortHigh;
            var remaining = high + 1 - low;
            if (remaining > 1) remaining &= ~1;
            var point = new ChoicePoint(ChoiceKind.EphemeralPort, "ephemeral:" + name, Math.Max(1, remaining));
            var offset = choices.Choose(point) & ~1;
            Events.Add(new KernelEvent.Choice(Now, new ChoiceMade(point, offset, []), name));
            var src = SourceAddress;
            for (var pass = 0; pass < 2; pass++, offset++)
            {
                for (var i = 0; i < remaining; i += 2)
                {
                    var port = low + ((offset + i) % remaining);
                    if (port > high) continue;
                    var cand = new SockAddr(src, port);
                    if (World.Sockets.EphemeralUsable(cand, remote)) return cand;
                }
            }
            // An odd-sized range's last port is not on either parity walk.
            foreach (var p in Enumerable.Range(low, high - low + 1))
            {
                if (World.Sockets.EphemeralUsable(new SockAddr(src, p), remote)) return new SockAddr(src, p);
            }
            throw new RejectedException($"connect {name}: no free local port in ip_local_port_range (EADDRNOTAVAIL)");
        }

        private void AppCall(string endName, Func<TcpEnd, EndResult?> call, string what)
        {
            var e = World.Sockets.End(endName)!;
            if (e.Gone && what != "close" && what != "abort")
            {
                // tcp_sendmsg_locked on a dead socket fails with -EPIPE, which sk_stream_error turns into the pending
                // error through sock_error(sk), consuming it: the next call (and SO_ERROR) sees none.
                Events.Add(new KernelEvent.Socket(Now, endName, $"{what} failed: {(e.Error?.ToString() ?? "EPIPE")}"));
                if (e.Error is not null) Put(e with { Error = null });
                return;
            }
            if (e.Gone)
            {
                Put(e with { AppClosed = true });
                return;
            }
            var r = call(e);
            if (r is null)
            {
                Events.Add(new KernelEvent.Socket(Now, endName, $"{what} failed: EPIPE"));
                return;
            }
            Apply(r, null);
        }

        /// <summary>Fire timers in time order until the deadline or until <paramref name="stop"/> holds.</summary>
        private void RunUntil(long deadline, bool inclusive, Func<bool>? stop)
        {
            while (true)
            {
                Settle();
                if (stop is not null && stop()) return;
                var next = NextTimer();
                if (next is null || next.Value.Due > deadline || (!inclusive && next.Value.Due == deadline))
                {
                    World = World with { Now = Math.Max(Now, deadline) };
                    return;
                }
                var t = next.Value;
                World = World with { Now = Math.Max(Now, t.Due), Timers = World.Timers.Remove(t) };
                Fire(t);
            }
        }

        private TimerEntry? NextTimer()
        {
            while (!World.Timers.IsEmpty)
            {
                var t = World.Timers.Min;
                var e = World.Sockets.End(t.End);
                var live = e is not null && !e.Gone && (t.Kind == TimerKind.Retransmit ? e.RetransmitAt == t.Due : e.TimeWaitUntil == t.Due);
                if (live) return t;
                World = World with { Timers = World.Timers.Remove(t) };
            }
            return null;
        }

        private void Fire(TimerEntry t)
        {
            var e = World.Sockets.End(t.End)!;
            if (t.Kind == TimerKind.TimeWait)
            {
                Put(Tcp.Expire(e));
                Events.Add(new KernelEvent.Socket(Now, e.Name, $"{Tcp.StateName(e.State)} timer expired: socket gone"));
                return;
            }
            var r = Tcp.Retransmit(e, Now);
            Events.Add(new KernelEvent.Socket(Now, e.Name, r.Reaction));
            Apply(r, null);
        }

        private uint NextIsnClock()
        {
            var clock = Tcp.IsnClock(Now, World.IsnCount);
            World = World with { IsnCount = World.IsnCount + 1 };
            return clock;
        }

        /// <summary>Stores an end's new state and queues what it transmitted.</summary>
        private void Apply(EndResult r, Segment? cause)
        {
            Put(r.End);
            if (r.WasReset && cause is not null) Events.Add(new KernelEvent.Reset(Now, r.End.Name, cause));
            foreach (var s in r.Out) _wire.Enqueue(s);
        }

        private void Put(TcpEnd e)
        {
            var timers = World.Timers;
            if (e.RetransmitAt is { } rt) timers = timers.Add(new TimerEntry(rt, e.Name, TimerKind.Retransmit));
            if (e.TimeWaitUntil is { } tw) timers = timers.Add(new TimerEntry(tw, e.Name, TimerKind.TimeWait));
            World = World with { Sockets = World.Sockets.Put(e), Timers = timers };
        }

        /// <summary>Process every queued segment; loopback delivery is instantaneous and in order.</summary>
        private void Settle()
        {
            while (_wire.Count > 0) Transmit(_wire.Dequeue());
        }

        // ------------------------------------------------------------ the netfilter path

        /// <summary>A packet in flight: the segment as rewritten so far and the conntrack entry attached to it.</summary>
        private sealed record Skb(Segment Seg, CtEntry? Ct, CtDirection Dir, bool Confirmed);

        private void Transmit(Segment seg)
        {
            var skb = new Skb(seg, null, CtDirection.Original, false);
            var tracking = World.Netfilter.Tracking;
            var nat = World.Netfilter.NatTableExists;

            // NF_INET_LOCAL_OUT
            if (tracking)
            {
                skb = ConntrackIn(skb);
                if (skb is null) return;
            }
            if (nat)
            {
                skb = NatHook(skb, Manip.Dst, NatChain.Output);
                if (skb is null) return;
            }
            // NF_INET_POST_ROUTING
            if (nat)
            {
                skb = NatHook(skb, Manip.Src, NatChain.PostRouting);
                if (skb is null) return;
            }
            skb = Confirm(skb);
            if (skb is null) return;

            Events.Add(new KernelEvent.Captured(Now, skb.Seg));

            // Receive side: NF_INET_PRE_ROUTING / NF_INET_LOCAL_IN. Only a packet without an entry is tracked again.
            if (tracking && skb.Ct is null)
            {
                skb = ConntrackIn(skb);
                if (skb is null) return;
                if (nat)
                {
                    skb = NatHook(skb, Manip.Dst, NatChain.PreRouting);
                    if (skb is null) return;
                    skb = NatHook(skb, Manip.Src, NatChain.Input);
                    if (skb is null) return;
                }
                skb = Confirm(skb);
                if (skb is null) return;
            }
            Receive(skb.Seg);
        }

        /// <summary><c>nf_conntrack_in</c> → <c>resolve_normal_ct</c> → <c>nf_conntrack_tcp_packet</c>.</summary>
        private Skb? ConntrackIn(Skb skb)
        {
            var seg = skb.Seg;
            for (var repeat = 0; repeat < 3; repeat++)
            {
                var hit = World.Conntrack.Find(seg.Tuple, Now);
                if (hit is null)
                {
                    var fresh = new CtEntry(World.NextCtId, seg.Tuple, seg.Tuple.Invert(), CtStatus.None, TcpCtState.None, Now, TcpCtInfo.Empty);
                    var opened = TcpTracker.New(fresh, seg, World.Sysctls);
                    if (opened is null)
                    {
                        Count(c => c with { Invalid = c.Invalid + 1 });
                        Events.Add(new KernelEvent.Conntrack(Now, $"{Describe(seg)}: no entry and may not open one (tcp_new): leaves untracked"));
                        return skb;
                    }
                    var r = TcpTracker.Packet(opened, CtDirection.Original, seg, World.Sysctls, Now);
                    if (r.Verdict != TrackVerdict.Accept)
                    {
                        Count(c => c with { Invalid = c.Invalid + 1 });
                        return skb;
                    }
                    World = World with { NextCtId = World.NextCtId + 1 };
                    Events.Add(new KernelEvent.Conntrack(Now, string.Create(CultureInfo.InvariantCulture,
                        $"new entry #{r.Ct.Id} {r.Ct.Orig} {CtEntry.StateName(r.Ct.State)}{(seg.Has(TcpFlags.Syn) ? "" : " (mid-stream pickup)")}")));
                    return skb with { Ct = r.Ct, Dir = CtDirection.Original, Confirmed = false };
                }
                var (entry, dir) = hit.Value;
                var res = TcpTracker.Packet(entry, dir, seg, World.Sysctls, Now);
                switch (res.Verdict)
                {
                    case TrackVerdict.Repeat:
                        World = World with { Conntrack = World.Conntrack.Remove(entry.Id) };
                        Events.Add(new KernelEvent.Conntrack(Now, string.Create(CultureInfo.InvariantCulture, $"entry #{entry.Id} killed: {res.Note}")));
                        continue;
                    case TrackVerdict.Invalid:
                        Count(c => c with { Invalid = c.Invalid + 1 });
                        Events.Add(new KernelEvent.Conntrack(Now, string.Create(CultureInfo.InvariantCulture, $"{Describe(seg)}: INVALID for entry #{entry.Id} ({res.Note}): leaves untracked, not NATed")));
                        return skb with { Ct = null };
                    case TrackVerdict.Drop:
                        Count(c => c with { Invalid = c.Invalid + 1, Drop = c.Drop + 1 });
                        Events.Add(new KernelEvent.Dropped(Now, seg, "conntrack: " + res.Note));
                        return null;
                }
                var ct = res.Ct;
                if (dir == CtDirection.Reply && !ct.Has(CtStatus.SeenReply)) ct = ct with { Status = ct.Status | CtStatus.SeenReply };
                if (res.Kill)
                {
                    World = World with { Conntrack = World.Conntrack.Remove(ct.Id) };
                    Events.Add(new KernelEvent.Conntrack(Now, string.Create(CultureInfo.InvariantCulture, $"entry #{ct.Id} deleted: {res.Note}")));
                }
                else
                {
                    World = World with { Conntrack = World.Conntrack.Update(ct) };
                    if (ct.State != entry.State)
                        Events.Add(new KernelEvent.Conntrack(Now, string.Create(CultureInfo.InvariantCulture, $"entry #{ct.Id} {CtEntry.StateName(entry.State)} -> {CtEntry.StateName(ct.State)}")));
                    else if (res.Note.Length > 0)
                        Events.Add(new KernelEvent.Conntrack(Now, string.Create(CultureInfo.InvariantCulture, $"entry #{ct.Id}: {res.Note}")));
                }
                return skb with { Ct = ct, Dir = dir, Confirmed = true };
            }
            throw new InvalidOperationException("NF_REPEAT loop did not settle");
        }

        /// <summary><c>nf_nat_inet_fn</c> at one hook, then <c>nf_nat_packet</c>.</summary>
        private Skb? NatHook(Skb skb, Manip manip, NatChain chain)
        {
            if (skb.Ct is not { } ct) return skb;
            var done = manip == Manip.Src ? CtStatus.SrcNatDone : CtStatus.DstNatDone;
            // NAT is decided once, for a new (unconfirmed) entry; nf_nat_setup_info returns at once for a confirmed one.
            if (!skb.Confirmed && !ct.Has(done))
            {
                NatRange? range = null;
                NatTarget? by = null;
                foreach (var rule in World.Netfilter.Chain(chain))
                {
                    if (!rule.Match.Matches(skb.Seg.Tuple, Loopback)) continue;
                    by = rule.Target;
                    switch (rule.Target)
                    {
                        case NatTarget.Snat s:
                            range = s.Range;
                            break;
                        case NatTarget.Dnat d:
                            range = d.Range;
                            break;
                        case NatTarget.Masquerade:
                            // nf_nat_masquerade_ipv4: inet_select_addr(out, nh, RT_SCOPE_UNIVERSE). The namespace has
                            // only lo, whose 127.0.0.1/8 is host scope: no address, so the packet is dropped.
                            Events.Add(new KernelEvent.Dropped(Now, skb.Seg, "MASQUERADE: lo ate my IP address (no universe-scope address)"));
                            return null;
                        case NatTarget.Accept:
                            break;
                    }
                    break;
                }
                var nullBinding = range is null;
                range ??= NatRange.NullBinding(manip == Manip.Src ? ct.Reply.Dst.Ip : ct.Reply.Src.Ip);
                ct = SetupInfo(ct, range, manip, skb.Seg.Origin, nullBinding ? "null binding" : by!.ToString());
            }
            var seg = NatPacket(skb.Seg, ct, skb.Dir, manip);
            return skb with { Ct = ct, Seg = seg };
        }

        /// <summary><c>nf_nat_setup_info</c> for an unconfirmed entry.</summary>
        private CtEntry SetupInfo(CtEntry ct, NatRange range, Manip manip, string origin, string by)
        {
            var curr = ct.Reply.Invert();
            var k = World.Decisions.GetValueOrDefault(origin);
            World = World with { Decisions = World.Decisions.SetItem(origin, k + 1) };
            var key = string.Create(CultureInfo.InvariantCulture, $"nat:{(manip == Manip.Src ? "src" : "dst")}:{origin}#{k}");
            var outcome = NatSelection.GetUniqueTuple(curr, range, ct, manip, World.Conntrack, Now, choices, key);
            foreach (var made in outcome.Choices) Events.Add(new KernelEvent.Choice(Now, made, Segment.ConnectionOf(origin)));
            if (outcome.Evicted is { } victim)
            {
                World = World with { Conntrack = World.Conntrack.Remove(victim) };
                Events.Add(new KernelEvent.Conntrack(Now, string.Create(CultureInfo.InvariantCulture, $"entry #{victim} evicted to free its reply tuple (nf_nat_used_tuple_harder)")));
            }
            var status = ct.Status | (manip == Manip.Src ? CtStatus.SrcNatDone : CtStatus.DstNatDone);
            if (outcome.Tuple != curr)
            {
                status |= manip == Manip.Src ? CtStatus.SrcNat : CtStatus.DstNat;
                Events.Add(new KernelEvent.Conntrack(Now, string.Create(CultureInfo.InvariantCulture,
                    $"entry #{ct.Id} {(manip == Manip.Src ? "SNAT" : "DNAT")} ({by}): {curr} becomes {outcome.Tuple}")));
                ct = ct with { Reply = outcome.Tuple.Invert() };
            }
            else if (by != "null binding")
            {
                Events.Add(new KernelEvent.Conntrack(Now, string.Create(CultureInfo.InvariantCulture, $"entry #{ct.Id} {by}: tuple {curr} kept")));
            }
            return ct with { Status = status };
        }

        /// <summary><c>nf_nat_packet</c> / <c>nf_nat_manip_pkt</c>: rewrite to the inverse of the other direction's tuple.</summary>
        private static Segment NatPacket(Segment seg, CtEntry ct, CtDirection dir, Manip manip)
        {
            var bit = manip == Manip.Src ? CtStatus.SrcNat : CtStatus.DstNat;
            if (dir == CtDirection.Reply) bit = bit == CtStatus.SrcNat ? CtStatus.DstNat : CtStatus.SrcNat;
            if (!ct.Has(bit)) return seg;
            var target = ct.Tuple(dir == CtDirection.Original ? CtDirection.Reply : CtDirection.Original).Invert();
            return manip == Manip.Src
                ? seg with { Tuple = seg.Tuple with { Src = target.Src } }
                : seg with { Tuple = seg.Tuple with { Dst = target.Dst } };
        }

        /// <summary><c>__nf_conntrack_confirm</c>: insert a new entry unless a tuple clashes; TCP clashes are dropped.</summary>
        private Skb? Confirm(Skb skb)
        {
            if (skb.Ct is not { } ct || skb.Confirmed) return skb;
            if (World.Conntrack.Clashes(ct, Now))
            {
                Count(c => c with { InsertFailed = c.InsertFailed + 1, Drop = c.Drop + 1 });
                Events.Add(new KernelEvent.Dropped(Now, skb.Seg, string.Create(CultureInfo.InvariantCulture,
                    $"conntrack confirm: entry #{ct.Id} ({ct.Orig} | {ct.Reply}) clashes with an existing entry; TCP cannot resolve clashes (insert_failed, drop)")));
                return null;
            }
            ct = ct with { Status = ct.Status | CtStatus.Confirmed };
            World = World with { Conntrack = World.Conntrack.Insert(ct, Now), Counters = World.Counters with { Insert = World.Counters.Insert + 1 } };
            return skb with { Ct = ct, Confirmed = true };
        }

        private void Count(Func<CtCounters, CtCounters> f) => World = World with { Counters = f(World.Counters) };

        private static string Describe(Segment s) => $"{s.Tuple.Src} > {s.Tuple.Dst} [{s.FlagString()}]";

        // ------------------------------------------------------------ the socket layer

        /// <summary><c>tcp_v4_rcv</c>: established hash first, then the listener, else a RST from the stack.</summary>
        private void Receive(Segment seg)
        {
            var end = World.Sockets.Established(seg.Tuple);
            if (end is not null)
            {
                var r = Tcp.Receive(end, seg, Now);
                Events.Add(new KernelEvent.Delivered(Now, seg, end.Name, r.Reaction));
                Apply(r, seg);
                if (r.ReopenIss is { } iss && World.Sockets.IsListening(seg.Tuple.Dst)) Listener(seg, iss);
                return;
            }
            if (World.Sockets.IsListening(seg.Tuple.Dst))
            {
                Listener(seg, null);
                return;
            }
            Events.Add(new KernelEvent.Delivered(Now, seg, "(no socket)", "no socket: RST"));
            if (Tcp.ResetFor(seg, Segment.ConnectionOf(seg.Origin) + ".kernel") is { } rst) _wire.Enqueue(rst);
        }

        private void Listener(Segment seg, uint? iss)
        {
            var listener = $"(listener {seg.Tuple.Dst})";
            if (seg.Has(TcpFlags.Rst))
            {
                Events.Add(new KernelEvent.Delivered(Now, seg, listener, "RST to listener ignored"));
                return;
            }
            if (seg.Has(TcpFlags.Ack) || !seg.Has(TcpFlags.Syn))
            {
                Events.Add(new KernelEvent.Delivered(Now, seg, listener, seg.Has(TcpFlags.Ack) ? "ACK to listener: RST" : "dropped"));
                if (seg.Has(TcpFlags.Ack) && Tcp.ResetFor(seg, Segment.ConnectionOf(seg.Origin) + ".kernel") is { } rst) _wire.Enqueue(rst);
                return;
            }
            var name = Segment.ConnectionOf(seg.Origin) + ".server";
            if (World.Sockets.End(name) is { Gone: false })
            {
                var n = 2;
                while (World.Sockets.End(string.Create(CultureInfo.InvariantCulture, $"{name}#{n}")) is { Gone: false }) n++;
                name = string.Create(CultureInfo.InvariantCulture, $"{name}#{n}");
            }
            var r = Tcp.Accept(name, seg, Now, NextIsnClock(), iss);
            Events.Add(new KernelEvent.Delivered(Now, seg, listener, "new request " + name));
            Apply(r, seg);
        }
    }
}
