using System.Collections.Immutable;
using System.Globalization;
using ConntrackModel.Model.Addressing;
using ConntrackModel.Model.Choices;
using ConntrackModel.Model.Collections;
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
public static class LinuxKernel
{
    /// <summary>How long the scenario's connect waits for the handshake before giving up (the replay uses the same).</summary>
    public const long ConnectTimeoutMs = 3000;

    /// <summary>
    /// How the last outcome of an order decision at a connect's deadline ends when the connect's own SYN is among what
    /// fell due: the SYN goes and the wait runs out before the answer is seen (conform's guidance looks for it).
    /// </summary>
    public const string AnswerMissedSuffix = " gives up before it sees the answer";

    /// <summary>The output device of every packet in a namespace that has only lo.</summary>
    public const string Loopback = "lo";

    public static StepResult Step(World world, Command command, ChoiceSource choices)
    {
        ArgumentNullException.ThrowIfNull(world);
        ArgumentNullException.ThrowIfNull(command);
        ArgumentNullException.ThrowIfNull(choices);
        if (Check(world, command) is { } rejected) return new StepResult(world, [], rejected);
        var ctx = new StepContext(world, choices);
        var (events, rejectedWhileRunning) = ctx.Step(command);
        return rejectedWhileRunning is not null ? new StepResult(world, [], rejectedWhileRunning) : new StepResult(ctx.Result(), events, null);
    }

    /// <summary>The command's precondition: null if it may run, else what is wrong (as the shell would report it).</summary>
    public static string? Check(World world, Command command)
    {
        ArgumentNullException.ThrowIfNull(world);
        ArgumentNullException.ThrowIfNull(command);
        return Check(world.Sockets, world.ConnectionsByName.ContainsKey, world.Netfilter, command);
    }

    private static string? Check(SocketView sockets, Func<string, bool> isConnection, NetfilterConfig netfilter, Command command)
    {
        switch (command)
        {
            case Command.Listen l:
                if (!l.Address.Ip.IsLoopback) return $"listen {l.Address}: cannot bind: the namespace only has 127.0.0.0/8 (EADDRNOTAVAIL)";
                return sockets.PortInUse(l.Address) ? $"listen {l.Address}: Address already in use (EADDRINUSE)" : null;
            case Command.Connect c:
                if (isConnection(c.Name)) return $"connect {c.Name}: connection name already used";
                if (c.Local is { } local)
                {
                    if (!local.Ip.IsLoopback) return $"connect {c.Name}: bind {local}: Cannot assign requested address (EADDRNOTAVAIL)";
                    if (sockets.PortInUse(local)) return $"connect {c.Name}: bind {local}: Address already in use (EADDRINUSE)";
                    if (sockets.Established(new ConnTuple(Destination(c.Remote), local)) is not null)
                        return $"connect {c.Name}: {local} -> {c.Remote}: Address already in use (EADDRINUSE)";
                }
                // A connect() without bind that finds no free local port is rejected by Step itself (EADDRNOTAVAIL),
                // where the port search runs anyway.
                return null;
            case Command.Send s:
                return CheckEnd(sockets, isConnection, s.End, "send");
            case Command.Close cl:
                return CheckEnd(sockets, isConnection, cl.End, "close");
            case Command.Abort a:
                return CheckEnd(sockets, isConnection, a.End, "abort");
            case Command.IptablesDelete d:
                if (d.Rule is not null && !netfilter.Rules.Any(r => r.SameRule(d.Rule)))
                    return "iptables: Bad rule (does a matching rule exist in that chain?).";
                if (d.Index is { } i && netfilter.Chain(d.Chain).Count < i)
                    return "iptables: Index of deletion too big.";
                return null;
            case Command.IptablesAdd add:
                if (add.Position is { } pos && pos > netfilter.Chain(add.Rule.Chain).Count + 1)
                    return "iptables: Index of insertion too big.";
                return null;
            default:
                return null;
        }
    }

    /// <summary>
    /// <see cref="Step"/> applied command after command to a world nobody looks at in between: the step's builders
    /// are kept from one command to the next, so a run copies no path of its hashes twice, and the world is built once
    /// at the end (<see cref="Freeze"/>). Each command's events, rejection and invariants are exactly those of
    /// <see cref="Step"/> (a test runs every example and generated runs both ways). Not shared between threads; a
    /// frozen world is immutable like any other.
    /// </summary>
    public sealed class Run
    {
        private readonly StepContext _ctx;
        private readonly Func<string, bool> _isConnection;

        public Run(World start, ChoiceSource choices)
        {
            ArgumentNullException.ThrowIfNull(start);
            ArgumentNullException.ThrowIfNull(choices);
            _ctx = new StepContext(start, choices);
            _isConnection = _ctx.IsConnection;
        }

        /// <summary>The time the next command starts at (ms).</summary>
        public long Now => _ctx.Time;

        /// <summary>The sockets as they are now, for the invariants.</summary>
        public SocketView Sockets => _ctx.Sockets;

        /// <summary>The conntrack table as it is now, for the invariants.</summary>
        public CtView Conntrack => _ctx.Conntrack;

        /// <summary>
        /// Runs one command as <see cref="Step"/> would. A rejected command changes nothing: the run goes on from the
        /// world before it.
        /// </summary>
        public (ImmutableArray<KernelEvent> Events, string? Rejected) Step(Command command)
        {
            ArgumentNullException.ThrowIfNull(command);
            if (Check(_ctx.Sockets, _isConnection, _ctx.Netfilter, command) is { } rejected) return ([], rejected);
            return _ctx.Step(command);
        }

        /// <summary>The world as it is now. The run may go on: later commands copy what the frozen world shares.</summary>
        public World Freeze() => _ctx.Result();
    }

    private static string? CheckEnd(SocketView sockets, Func<string, bool> isConnection, string end, string verb)
    {
        var conn = Segment.ConnectionOf(end);
        if (!isConnection(conn)) return $"{verb} {end}: no connection named {conn}";
        var e = sockets.End(end);
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
    /// Where connect() really sends: to 0.0.0.0 the route lookup (<c>ip_route_output_key_hash_rcu</c>, no
    /// destination) uses the loopback address, and tcp_v4_connect stores it as the peer. Kernel run: a connect to
    /// 0.0.0.0:8080 is accepted by the listener on 127.0.0.1:8080 and both ends name 127.0.0.1.
    /// </summary>
    private static SockAddr Destination(SockAddr remote) => remote.Ip.Value == 0 ? remote with { Ip = IPv4Address.Loopback } : remote;

    /// <summary>
    /// The source address connect() picks without bind: the namespace has only lo, whose primary address is
    /// 127.0.0.1, so every route (127.0.0.0/8 local) selects it.
    /// </summary>
    private static IPv4Address SourceAddress => IPv4Address.Loopback;

    /// <summary>
    /// A precondition found only while running (the port search): Step turns it into a rejection. Thrown before the
    /// step changes anything but its own events, so a <see cref="Run"/> goes on from the world before the command.
    /// </summary>
    private sealed class RejectedException(string message) : Exception(message);

    /// <summary>
    /// The world's parts as steps change them (the socket, conntrack and connection tables as builders, which copy
    /// each changed path of their hashes once until the next <see cref="Result"/>) and the current step's events.
    /// Never escapes LinuxKernel: <see cref="Result"/> freezes it into a world.
    /// </summary>
    private sealed class StepContext(World world, ChoiceSource choices)
    {
        /// <summary>The current step's events; the list (and its capacity) is kept from step to step.</summary>
        private List<KernelEvent> Events { get; } = [];

        private readonly Queue<Segment> _wire = new();

        private long Now { get; set; } = world.Now;

        private Sysctls _sysctls = world.Sysctls;
        private NetfilterConfig _netfilter = world.Netfilter;
        private CtTable.Builder _ct = world.Conntrack.ToBuilder();
        private CtCounters _counters = world.Counters;
        private readonly SocketTable.Builder _sockets = world.Sockets.ToBuilder();
        private readonly PersistentDictionary<string, Connection>.Builder _connections = world.ConnectionsByName.ToBuilder();
        private readonly ImmutableSortedSet<TimerEntry>.Builder _timers = world.Timers.ToBuilder();
        private long _nextCtId = world.NextCtId;
        private long _isnCount = world.IsnCount;
        private readonly PersistentDictionary<string, int>.Builder _decisions = world.Decisions.ToBuilder();

        public long Time => Now;

        public SocketView Sockets => _sockets;

        public CtView Conntrack => _ct;

        public NetfilterConfig Netfilter => _netfilter;

        public bool IsConnection(string name) => _connections.ContainsKey(name);

        public World Result() => new World(Now, [.. _namespaces], _ct.ToImmutable(), _sockets.ToImmutable(), _connections.ToImmutable(), _timers.ToImmutable(),
            _nextCtId, _isnCount, _decisions.ToImmutable()) { Sysctls = _sysctls, Netfilter = _netfilter } is var w ? w with { Namespaces = w.Namespaces.SetItem(0, w.Namespaces[0] with { Counters = _counters }) } : null!;

        private readonly List<Net.Netns> _namespaces = [.. world.Namespaces];

        /// <summary>Runs one command whose precondition holds: its events, or the rejection found while running.</summary>
        public (ImmutableArray<KernelEvent> Events, string? Rejected) Step(Command command)
        {
            try
            {
                Run(command);
            }
            catch (RejectedException e)
            {
                Events.Clear();
                return ([], e.Message);
            }
            ImmutableArray<KernelEvent> events = [.. Events];
            Events.Clear();
            return (events, null);
        }

        private void Run(Command command)
        {
            switch (command)
            {
                case Command.Listen l:
                    _sockets.Listen(l.Address);
                    break;
                case Command.Connect c:
                    Connect(c);
                    break;
                case Command.Send s:
                    AppCall(s.End, s);
                    break;
                case Command.Close cl:
                    AppCall(cl.End, cl);
                    break;
                case Command.Abort a:
                    AppCall(a.End, a);
                    break;
                case Command.IptablesAdd add when add.Position is null:
                    var tracked = _netfilter.Tracking;
                    _netfilter = _netfilter.Append(add.Rule);
                    NoteTracking(tracked);
                    break;
                case Command.IptablesAdd add:
                    var rules = _netfilter.Rules;
                    var chainRules = _netfilter.Chain(add.Rule.Chain);
                    var at = add.Position!.Value - 1 < chainRules.Count ? rules.IndexOf(chainRules[add.Position.Value - 1]) : rules.Count;
                    SetRules(rules.Insert(at, add.Rule));
                    break;
                case Command.IptablesDelete d:
                    var victim = d.Rule is not null
                        ? _netfilter.Rules.First(r => r.SameRule(d.Rule))
                        : _netfilter.Chain(d.Chain)[d.Index!.Value - 1];
                    SetRules(_netfilter.Rules.Remove(victim));
                    break;
                case Command.IptablesFlush f:
                    SetRules(f.Chain is { } ch ? _netfilter.Rules.RemoveAll(r => r.Chain == ch) : []);
                    break;
                case Command.Modprobe:
                    var was = _netfilter.Tracking;
                    _netfilter = _netfilter with { Modprobed = true };
                    NoteTracking(was);
                    break;
                case Command.ConntrackFlush:
                    var n = _ct.ToImmutable().Live(Now).Count();
                    _ct = CtTable.Empty.ToBuilder();
                    Events.Add(new KernelEvent.Ct(Now, string.Create(CultureInfo.InvariantCulture, $"conntrack -F: {n} flow entries deleted")));
                    break;
                case Command.Sysctl s:
                    _sysctls = SysctlKeys.Apply(_sysctls, s.Key, s.Value);
                    break;
                case Command.Sleep sl:
                    RunUntil(Now + sl.Milliseconds, inclusive: true, connecting: null);
                    break;
                default:
                    throw new ArgumentOutOfRangeException(nameof(command), command, "unknown command");
            }
            Settle();
        }

        private void SetRules(ImmutableList<NatRule> rules)
        {
            var was = _netfilter.Tracking;
            _netfilter = _netfilter with { Rules = rules, NatTableExists = true };
            NoteTracking(was);
        }

        private void NoteTracking(bool was)
        {
            var now = _netfilter.Tracking;
            if (!was && now)
                Events.Add(new KernelEvent.Ct(Now, "conntrack hooks registered in the namespace (nf_ct_netns_get): tracking starts; existing connections are not tracked until they send"));
            else if (was && !now)
                Events.Add(new KernelEvent.Ct(Now, "last conntrack user gone (nf_ct_netns_put): hooks unregistered; entries stay until they time out"));
        }

        // ------------------------------------------------------------ sockets and time

        private void Connect(Command.Connect c)
        {
            if (!Routable(c.Remote.Ip))
            {
                Unreachable(c);
                return;
            }
            var remote = Destination(c.Remote);
            SockAddr local;
            if (c.Local is { } l)
            {
                local = l;
            }
            else
            {
                local = PickEphemeral(c.Name, remote);
            }
            var r = Tcp.Connect(c.Name, local, remote, c.Local is not null, Now, NextIsnClock());
            // The connection is recorded once, with its result, when connect() returns: nothing during the step reads it.
            Apply(r, null);
            var deadline = Now + ConnectTimeoutMs;
            var answerMissed = RunUntil(deadline, inclusive: false, connecting: c.Name) == Stop.AnswerMissed;
            var end = _sockets.End(c.Name)!;
            ConnectResult result;
            if (answerMissed || (end.State == TcpState.SynSent && !end.Gone))
            {
                // The application gives up and closes the socket. A socket still connecting is destroyed. When the
                // wait ran out as the re-sent SYN was answered (FirstDue), connect() fails whatever the answer did: a
                // socket it established sends a FIN, one it reset is closed with the reset's error unread, and the
                // server's application never accepts the connection (it accepts those whose connect() returned).
                if (end.Gone)
                {
                    Put(end with { Error = Errno.ETIMEDOUT, AppClosed = true });
                    Events.Add(new KernelEvent.Socket(Now, c.Name, "connect gave up after 3 s as the answer came; the socket it reset is closed"));
                }
                else
                {
                    var closed = Tcp.Close(end, Now);
                    Apply(closed with { End = closed.End with { Error = Errno.ETIMEDOUT } }, null);
                    if (_sockets.End(c.Name + ".server") is { Accepted: true } server) Put(server with { Accepted = false });
                    Events.Add(new KernelEvent.Socket(Now, c.Name, answerMissed && end.State != TcpState.SynSent
                        ? $"connect gave up after 3 s as the handshake completed ({Tcp.StateName(end.State)}); socket closed"
                        : "connect gave up after 3 s; socket closed"));
                    Settle();
                }
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
            World.Record(_connections, new Connection(c.Name, result, local, remote));
        }

        /// <summary>
        /// Does the namespace have a route to <paramref name="ip"/>? It has only lo, whose local table covers
        /// 127.0.0.0/8; 0.0.0.0 is routed to the loopback device too (<see cref="Destination"/>).
        /// </summary>
        private static bool Routable(IPv4Address ip) => ip.IsLoopback || ip.Value == 0;

        /// <summary>
        /// <c>tcp_v4_connect</c> fails in <c>ip_route_connect</c> with -ENETUNREACH before it picks a source port or
        /// sends anything (kernel run: <c>connect()</c> to 10.0.0.1 in a namespace with only lo). The socket stays
        /// CLOSE, with the address bind() gave it or none.
        /// </summary>
        private void Unreachable(Command.Connect c)
        {
            var local = c.Local ?? new SockAddr(default, 0);
            var end = TcpEnd.Create(c.Name, local, c.Remote, TcpState.Close, 0, c.Local is not null) with { Gone = true };
            Put(end);
            Events.Add(new KernelEvent.Socket(Now, c.Name, "connect failed: ENETUNREACH (no route to the destination); nothing sent"));
            World.Record(_connections, new Connection(c.Name, ConnectResult.Unreachable, local, c.Remote));
        }

        /// <summary>
        /// <c>__inet_hash_connect</c>: from a hashed start offset (a choice), try ports of the same parity as the
        /// range's low end, then the other parity; a port is usable if no bind() holds it and the 4-tuple is unique.
        /// </summary>
        private SockAddr PickEphemeral(string name, SockAddr remote)
        {
            var low = _sysctls.LocalPortLow;
            var high = _sysctls.LocalPortHigh;
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
                    if (_sockets.EphemeralUsable(cand, remote)) return cand;
                }
            }
            // An odd-sized range's last port is not on either parity walk.
            foreach (var p in Enumerable.Range(low, high - low + 1))
            {
                if (_sockets.EphemeralUsable(new SockAddr(src, p), remote)) return new SockAddr(src, p);
            }
            throw new RejectedException($"connect {name}: no free local port in ip_local_port_range (EADDRNOTAVAIL)");
        }

        /// <summary>An application's send, close or abort on one end.</summary>
        private void AppCall(string endName, Command call)
        {
            var e = _sockets.End(endName)!;
            if (e.Gone && call is Command.Send s)
            {
                // tcp_sendmsg_locked on a dead socket fails with -EPIPE, which sk_stream_error turns into the pending
                // error through sock_error(sk), consuming it: the next call (and SO_ERROR) sees none.
                Events.Add(new KernelEvent.Socket(Now, endName, $"send \"{s.Label}\" failed: {(e.Error?.ToString() ?? "EPIPE")}"));
                if (e.Error is not null) Put(e with { Error = null });
                return;
            }
            if (e.Gone)
            {
                Put(e with { AppClosed = true });
                return;
            }
            if (call is Command.Send send)
            {
                if (e.State == TcpState.Close)
                {
                    Events.Add(new KernelEvent.Socket(Now, endName, $"send \"{send.Label}\" failed: EPIPE"));
                    return;
                }
                Apply(Tcp.Send(e, send.Label, Now), null);
                return;
            }
            Apply(call is Command.Close ? Tcp.Close(e, Now) : Tcp.Abort(e), null);
        }

        /// <summary>
        /// Fire timers in time order until the deadline or, if <paramref name="connecting"/> names an end, until its
        /// handshake is decided (connect() returns). What falls due at the same instant (timers, and the deadline
        /// itself) runs in an order that is a choice (<see cref="FirstDue"/>).
        /// </summary>
        private Stop RunUntil(long deadline, bool inclusive, string? connecting)
        {
            while (true)
            {
                Settle();
                if (connecting is not null && _sockets.End(connecting) is { State: not TcpState.SynSent and not TcpState.SynRecv } or { Gone: true }) return Stop.Decided;
                var next = NextTimer();
                if (next is null || next.Value.Due > deadline)
                {
                    Now = Math.Max(Now, deadline);
                    return Stop.Deadline;
                }
                var due = next.Value.Due;
                var (first, thenGiveUp) = DueTogether(due, deadline) ? FirstDue(due, deadline, inclusive, connecting) : (next, false);
                if (first is not { } t)
                {
                    // The command's deadline came first: the timers due at this instant stay armed and fire later.
                    Now = Math.Max(Now, deadline);
                    return Stop.Deadline;
                }
                Now = Math.Max(Now, t.Due);
                _timers.Remove(t);
                Fire(t);
                if (!thenGiveUp) continue;
                Settle();
                return Stop.AnswerMissed;
            }
        }

        /// <summary>Why <see cref="RunUntil"/> returned.</summary>
        private enum Stop
        {
            /// <summary>The connecting end's handshake was decided (established, refused, reset).</summary>
            Decided,

            /// <summary>The deadline came (a sleep ended; a connect's wait ran out).</summary>
            Deadline,

            /// <summary>A connect's own SYN was re-sent as its wait ran out, and the wait ended before the answer was seen.</summary>
            AnswerMissed,
        }

        /// <summary>Does anything besides the earliest timer fall due at its instant <paramref name="due"/>?</summary>
        private bool DueTogether(long due, long deadline)
        {
            if (due == deadline) return true;
            var n = 0;
            foreach (var t in _timers)
            {
                if (t.Due != due || ++n == 2) break;
            }
            return n == 2;
        }

        /// <summary>
        /// Which of the timers due at <paramref name="due"/>, and the command's own deadline if it is the same instant,
        /// runs first (null: the deadline). The kernel does not fix the order. Socket timers are timer-wheel timers
        /// (<c>sk_reset_timer</c>, <c>inet_twsk_schedule</c>: <c>mod_timer</c>), and so is connect()'s wait
        /// (<c>inet_wait_for_connect</c>: <c>schedule_timeout</c>); <c>calc_index</c> (kernel/time/timer.c) files each
        /// in the bucket after its expiry at its level's granularity, so each fires late by up to 4 ms (due within
        /// 255 ms), 32 ms (2 s) or 256 ms (16 s) at HZ=250, and two timers due together fire in either order. A sleep
        /// is not a wheel timer and ends on time (measured: the replay's 0.25, 1 and 3 s sleeps ended 0.3-0.4 ms late)
        /// while a timer due then may still be waiting. Measured
        /// (issue 17): a SYN re-sent at a nominal 3 s, 3.07 s after the first, came before the 3 s connect timeout
        /// (750 jiffies, rounded to 256 ms) in some runs and after it in others. By default (choice 0) the deadline of
        /// a connect comes first and a sleep's last, the model's order before choices existed.
        /// </summary>
        private (TimerEntry? First, bool ThenGiveUp) FirstDue(long due, long deadline, bool inclusive, string? connecting)
        {
            var timers = new List<TimerEntry>();
            foreach (var t in _timers)
            {
                if (t.Due != due) break;
                timers.Add(t);
            }
            var withDeadline = due == deadline;
            // The members in their default order; null stands for the deadline.
            var members = new List<TimerEntry?>(timers.Count + 1);
            if (withDeadline && !inclusive) members.Add(null);
            members.AddRange(timers.Select(t => (TimerEntry?)t));
            if (withDeadline && inclusive) members.Add(null);
            var labels = members.Select(m => m is { } t ? DueLabel(t) : connecting is not null ? $"connect {connecting} gives up" : "the sleep ends").ToList();
            ImmutableArray<string> alternatives = members.Count == 2
                ? [$"{labels[0]} before {labels[1]}", $"{labels[1]} before {labels[0]}"]
                : [.. labels.Select(l => l + " first")];
            // A connect's own SYN re-sent as its wait times out: the wait can end before the application sees the
            // answer, so connect() fails with the handshake complete (__inet_stream_connect: inet_wait_for_connect
            // returns 0 once the timeout is spent, whatever the state). Measured: SYN re-sent at 3.053 s, handshake
            // done at 3.053 s, connect() timed out and the socket's FIN left at 3.058 s.
            var own = withDeadline && connecting is not null ? timers.FindIndex(t => t.End == connecting && t.Kind == TimerKind.Retransmit) : -1;
            if (own >= 0) alternatives = alternatives.Add($"{DueLabel(timers[own])} but connect {connecting}{AnswerMissedSuffix}");
            var counter = string.Create(CultureInfo.InvariantCulture, $"order@{due}");
            var k = _decisions.GetValueOrDefault(counter);
            _decisions.SetItem(counter, k + 1);
            var point = new ChoicePoint(ChoiceKind.Order, string.Create(CultureInfo.InvariantCulture, $"{counter}#{k}"), alternatives.Length);
            var v = choices.Choose(point);
            var owner = connecting ?? members.First(m => m is not null)!.Value.End;
            Events.Add(new KernelEvent.Choice(due, new ChoiceMade(point, v, alternatives), Segment.ConnectionOf(owner)));
            return v < members.Count ? (members[v], false) : (timers[own], true);
        }

        /// <summary>What a timer does when it fires, for the order choices.</summary>
        private string DueLabel(TimerEntry t)
        {
            if (t.Kind == TimerKind.TimeWait) return $"{t.End}'s TIME_WAIT ends";
            return _sockets.End(t.End) switch
            {
                { State: TcpState.SynSent } => $"{t.End} re-sends its SYN",
                { State: TcpState.SynRecv } => $"{t.End} re-sends its SYN/ACK",
                _ => $"{t.End} retransmits",
            };
        }

        /// <summary>The earliest armed timer. <see cref="Put"/> keeps the set exact, so every entry is live.</summary>
        private TimerEntry? NextTimer() => _timers.Count == 0 ? null : _timers.Min;

        private void Fire(TimerEntry t)
        {
            var e = _sockets.End(t.End)!;
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
            var clock = Tcp.IsnClock(Now, _isnCount);
            _isnCount++;
            return clock;
        }

        /// <summary>Stores an end's new state and queues what it transmitted.</summary>
        private void Apply(EndResult r, Segment? cause)
        {
            Put(r.End);
            if (r.WasReset && cause is not null) Events.Add(new KernelEvent.Reset(Now, r.End.Name, cause));
            foreach (var s in r.Out) _wire.Enqueue(s);
        }

        /// <summary>Stores an end, re-arming or cancelling its timers as they changed (a gone socket has none).</summary>
        private void Put(TcpEnd e)
        {
            var old = _sockets.End(e.Name);
            Rearm(e.Name, TimerKind.Retransmit, old is { Gone: false } ? old.RetransmitAt : null, e.Gone ? null : e.RetransmitAt);
            Rearm(e.Name, TimerKind.TimeWait, old is { Gone: false } ? old.TimeWaitUntil : null, e.Gone ? null : e.TimeWaitUntil);
            _sockets.Put(e);
        }

        private void Rearm(string end, TimerKind kind, long? was, long? now)
        {
            if (was == now) return;
            if (was is { } w) _timers.Remove(new TimerEntry(w, end, kind));
            if (now is { } n) _timers.Add(new TimerEntry(n, end, kind));
        }

        /// <summary>Process every queued segment; loopback delivery is instantaneous and in order.</summary>
        private void Settle()
        {
            while (_wire.Count > 0) Transmit(_wire.Dequeue());
        }

        // ------------------------------------------------------------ the netfilter path

        /// <summary>A packet in flight: the segment as rewritten so far and the conntrack entry attached to it.</summary>
        private readonly record struct Skb(Segment Seg, CtEntry? Ct, CtDirection Dir, bool Confirmed);

        private void Transmit(Segment seg)
        {
            // Each hook returns its verdict: false is NF_DROP (the packet goes no further), true is NF_ACCEPT.
            var skb = new Skb(seg, null, CtDirection.Original, false);
            var tracking = _netfilter.Tracking;
            var nat = _netfilter.NatTableExists;

            // NF_INET_LOCAL_OUT, then NF_INET_POST_ROUTING
            if (tracking && !ConntrackIn(ref skb)) return;
            if (nat && !NatHook(ref skb, Manip.Dst, NatChain.Output)) return;
            if (nat && !NatHook(ref skb, Manip.Src, NatChain.PostRouting)) return;
            if (!Confirm(ref skb)) return;

            Events.Add(new KernelEvent.Captured(Now, skb.Seg));

            // Receive side: NF_INET_PRE_ROUTING / NF_INET_LOCAL_IN. Only a packet without an entry is tracked again.
            if (tracking && skb.Ct is null)
            {
                if (!ConntrackIn(ref skb)) return;
                if (nat && !NatHook(ref skb, Manip.Dst, NatChain.PreRouting)) return;
                if (nat && !NatHook(ref skb, Manip.Src, NatChain.Input)) return;
                if (!Confirm(ref skb)) return;
            }
            Receive(skb.Seg);
        }

        /// <summary><c>nf_conntrack_in</c> → <c>resolve_normal_ct</c> → <c>nf_conntrack_tcp_packet</c>.</summary>
        private bool ConntrackIn(ref Skb skb)
        {
            var seg = skb.Seg;
            for (var repeat = 0; repeat < 3; repeat++)
            {
                var hit = _ct.Find(seg.Tuple, Now);
                if (hit is null)
                {
                    var opening = TcpTracker.New(seg, _sysctls);
                    if (opening is not { } info)
                    {
                        Count(c => c with { Invalid = c.Invalid + 1 });
                        Events.Add(new KernelEvent.Ct(Now, $"{Describe(seg)}: no entry and may not open one (tcp_new): leaves untracked"));
                        return true;
                    }
                    var opened = new CtEntry(_nextCtId, seg.Tuple, seg.Tuple.Invert(), CtStatus.None, TcpCtState.None, Now, info);
                    var r = TcpTracker.Packet(opened, CtDirection.Original, seg, _sysctls, Now);
                    if (r.Verdict != TrackVerdict.Accept)
                    {
                        Count(c => c with { Invalid = c.Invalid + 1 });
                        return true;
                    }
                    _nextCtId++;
                    Events.Add(new KernelEvent.Ct(Now, new CtNote(CtNoteKind.NewEntry, r.Ct.Id, r.Ct.Orig, To: r.Ct.State, Flag: !seg.Has(TcpFlags.Syn))));
                    skb = skb with { Ct = r.Ct, Dir = CtDirection.Original, Confirmed = false };
                    return true;
                }
                var (entry, dir) = hit.Value;
                var res = TcpTracker.Packet(entry, dir, seg, _sysctls, Now);
                switch (res.Verdict)
                {
                    case TrackVerdict.Repeat:
                        _ct.Remove(entry.Id);
                        Events.Add(new KernelEvent.Ct(Now, string.Create(CultureInfo.InvariantCulture, $"entry #{entry.Id} killed: {res.Note}")));
                        continue;
                    case TrackVerdict.Invalid:
                        Count(c => c with { Invalid = c.Invalid + 1 });
                        Events.Add(new KernelEvent.Ct(Now, string.Create(CultureInfo.InvariantCulture, $"{Describe(seg)}: INVALID for entry #{entry.Id} ({res.Note}): leaves untracked, not NATed")));
                        skb = skb with { Ct = null };
                        return true;
                    case TrackVerdict.Drop:
                        Count(c => c with { Invalid = c.Invalid + 1, Drop = c.Drop + 1 });
                        Events.Add(new KernelEvent.Dropped(Now, seg, "conntrack: " + res.Note));
                        return false;
                }
                var ct = res.Ct;
                if (dir == CtDirection.Reply && !ct.Has(CtStatus.SeenReply)) ct = ct with { Status = ct.Status | CtStatus.SeenReply };
                if (res.Kill)
                {
                    _ct.Remove(ct.Id);
                    Events.Add(new KernelEvent.Ct(Now, string.Create(CultureInfo.InvariantCulture, $"entry #{ct.Id} deleted: {res.Note}")));
                }
                else
                {
                    _ct.Update(ct);
                    if (ct.State != entry.State)
                        Events.Add(new KernelEvent.Ct(Now, new CtNote(CtNoteKind.StateChange, ct.Id, ct.Orig, From: entry.State, To: ct.State)));
                    else if (res.Note.Length > 0)
                        Events.Add(new KernelEvent.Ct(Now, string.Create(CultureInfo.InvariantCulture, $"entry #{ct.Id}: {res.Note}")));
                }
                skb = skb with { Ct = ct, Dir = dir, Confirmed = true };
                return true;
            }
            throw new InvalidOperationException("NF_REPEAT loop did not settle");
        }

        /// <summary><c>nf_nat_inet_fn</c> at one hook, then <c>nf_nat_packet</c>.</summary>
        private bool NatHook(ref Skb skb, Manip manip, NatChain chain)
        {
            if (skb.Ct is not { } ct) return true;
            var done = manip == Manip.Src ? CtStatus.SrcNatDone : CtStatus.DstNatDone;
            // NAT is decided once, for a new (unconfirmed) entry; nf_nat_setup_info returns at once for a confirmed one.
            if (!skb.Confirmed && !ct.Has(done))
            {
                NatRange? range = null;
                NatTarget? by = null;
                foreach (var rule in _netfilter.Chain(chain))
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
                            return false;
                        case NatTarget.Accept:
                            break;
                    }
                    break;
                }
                var nullBinding = range is null;
                range ??= NatRange.NullBinding(manip == Manip.Src ? ct.Reply.Dst.Ip : ct.Reply.Src.Ip);
                ct = SetupInfo(ct, range, manip, skb.Seg.Origin, nullBinding ? null : by);
            }
            var seg = NatPacket(skb.Seg, ct, skb.Dir, manip);
            skb = skb with { Ct = ct, Seg = seg };
            return true;
        }

        /// <summary><c>nf_nat_setup_info</c> for an unconfirmed entry, by the rule target <c>by</c> (null: the null binding, no rule matched).</summary>
        private CtEntry SetupInfo(CtEntry ct, NatRange range, Manip manip, string origin, NatTarget? by)
        {
            var curr = ct.Reply.Invert();
            var k = _decisions.GetValueOrDefault(origin);
            _decisions.SetItem(origin, k + 1);
            var key = string.Create(CultureInfo.InvariantCulture, $"nat:{(manip == Manip.Src ? "src" : "dst")}:{origin}#{k}");
            var outcome = NatSelection.GetUniqueTuple(curr, range, ct, manip, _ct, Now, choices, key);
            foreach (var made in outcome.Choices) Events.Add(new KernelEvent.Choice(Now, made, Segment.ConnectionOf(origin)));
            if (outcome.Evicted is { } victim)
            {
                _ct.Remove(victim);
                Events.Add(new KernelEvent.Ct(Now, string.Create(CultureInfo.InvariantCulture, $"entry #{victim} evicted to free its reply tuple (nf_nat_used_tuple_harder)")));
            }
            var status = ct.Status | (manip == Manip.Src ? CtStatus.SrcNatDone : CtStatus.DstNatDone);
            if (outcome.Tuple != curr)
            {
                status |= manip == Manip.Src ? CtStatus.SrcNat : CtStatus.DstNat;
                Events.Add(new KernelEvent.Ct(Now, new CtNote(CtNoteKind.NatRewrite, ct.Id, curr, outcome.Tuple, Target: by, Flag: manip == Manip.Src)));
                return ct with { Reply = outcome.Tuple.Invert(), Status = status };
            }
            if (by is not null)
                Events.Add(new KernelEvent.Ct(Now, new CtNote(CtNoteKind.NatKept, ct.Id, curr, Target: by)));
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
        private bool Confirm(ref Skb skb)
        {
            if (skb.Ct is not { } ct || skb.Confirmed) return true;
            if (_ct.Clashes(ct, Now))
            {
                Count(c => c with { InsertFailed = c.InsertFailed + 1, Drop = c.Drop + 1 });
                Events.Add(new KernelEvent.Dropped(Now, skb.Seg, string.Create(CultureInfo.InvariantCulture,
                    $"conntrack confirm: entry #{ct.Id} ({ct.Orig} | {ct.Reply}) clashes with an existing entry; TCP cannot resolve clashes (insert_failed, drop)")));
                return false;
            }
            ct = ct with { Status = ct.Status | CtStatus.Confirmed };
            _ct.Insert(ct, Now);
            _counters = _counters with { Insert = _counters.Insert + 1 };
            skb = skb with { Ct = ct, Confirmed = true };
            return true;
        }

        private void Count(Func<CtCounters, CtCounters> f) => _counters = f(_counters);

        private static string Describe(Segment s) => $"{s.Tuple.Src} > {s.Tuple.Dst} [{s.FlagString()}]";

        // ------------------------------------------------------------ the socket layer

        /// <summary><c>tcp_v4_rcv</c>: established hash first, then the listener, else a RST from the stack.</summary>
        private void Receive(Segment seg)
        {
            var end = _sockets.Established(seg.Tuple);
            if (end is not null)
            {
                var r = Tcp.Receive(end, seg, Now);
                Events.Add(new KernelEvent.Delivered(Now, seg, end.Name, r.Reaction));
                Apply(r, seg);
                if (r.ReopenIss is { } iss && _sockets.IsListening(seg.Tuple.Dst)) Listener(seg, iss);
                return;
            }
            if (_sockets.IsListening(seg.Tuple.Dst))
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
            if (_sockets.End(name) is { Gone: false })
            {
                var n = 2;
                while (_sockets.End(string.Create(CultureInfo.InvariantCulture, $"{name}#{n}")) is { Gone: false }) n++;
                name = string.Create(CultureInfo.InvariantCulture, $"{name}#{n}");
            }
            var r = Tcp.Accept(name, seg, Now, NextIsnClock(), iss);
            Events.Add(new KernelEvent.Delivered(Now, seg, listener, "new request " + name));
            Apply(r, seg);
        }
    }
}
