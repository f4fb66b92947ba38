using System.Collections.Immutable;
using System.Globalization;
using ConntrackModel.Model.Addressing;
using ConntrackModel.Model.Choices;
using ConntrackModel.Model.Collections;
using ConntrackModel.Model.Conntrack;
using ConntrackModel.Model.Iptables;
using ConntrackModel.Model.Nat;
using ConntrackModel.Model.Net;
using ConntrackModel.Model.Packets;
using ConntrackModel.Model.Scenarios;
using ConntrackModel.Model.Sockets;

namespace ConntrackModel.Model.Kernel;

/// <summary>
/// The semantics: <see cref="Step"/> is the one pure transition function. A command runs to completion as it
/// would in a shell (connect blocks until the handshake is decided), every segment is pushed through the netfilter
/// path of the namespaces it crosses, and time only moves inside connect and sleep.
/// </summary>
/// <remarks>
/// Packet path by kind (net/ipv4/ip_output.c, ip_input.c, ip_forward.c, net/netfilter/nf_conntrack_core.c,
/// nf_nat_core.c), each hook in its namespace, with that namespace's tables, tracking switch and conntrack table, its
/// hook functions in the order <see cref="Iptables.HookOrder"/> gives: locally generated: route
/// (<c>ip_route_output_key_hash_rcu</c>), LOCAL_OUT (conntrack, nat OUTPUT: DST manip and a new route if DNAT moved the
/// destination, filter OUTPUT), POST_ROUTING (nat POSTROUTING: SRC manip, confirm), out of the route's device.
/// Received: PRE_ROUTING (conntrack, nat PREROUTING: DST manip), route; for the namespace LOCAL_IN (filter INPUT, nat
/// INPUT: SRC manip, confirm), then <c>tcp_v4_rcv</c> demultiplexes it to a socket; forwarded (<c>net.ipv4.ip_forward</c>
/// on) FORWARD (filter FORWARD), POST_ROUTING as above, out again. On <c>lo</c> a packet comes back into the same
/// namespace with its entry still attached (<c>loopback_xmit</c> keeps it, <c>nf_conntrack_in</c> returns at once), so
/// only a packet that lost its entry (invalid) is tracked again, while the filter table sees it again at LOCAL_IN;
/// across a veth pair it loses the entry (<c>veth_xmit</c> → <c>__dev_forward_skb</c> → <c>skb_scrub_packet</c>) and
/// the peer namespace tracks it anew.
/// </remarks>
public static partial class LinuxKernel
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
        return Check(world.Sockets, world.ConnectionsByName.ContainsKey, world.Namespaces, command);
    }

    /// <summary>The index of the namespace called <paramref name="name"/> (null: the initial one), or -1.</summary>
    private static int IndexOf(IReadOnlyList<Netns> namespaces, string? name)
    {
        for (var i = 0; i < namespaces.Count; i++)
        {
            if (namespaces[i].Name == name) return i;
        }
        return -1;
    }

    /// <summary>What <c>ip</c> prints for a namespace it cannot open.</summary>
    private static string NoNetns(string name) => $"Cannot open network namespace \"{name}\": No such file or directory";

    private static string NoDevice(string name) => $"Cannot find device \"{name}\"";

    private static string BadNetnsArgument(string name) => $"Error: argument \"{name}\" is wrong: Invalid \"netns\" value";

    private static string? Check(SocketView sockets, Func<string, bool> isConnection, IReadOnlyList<Netns> namespaces, Command command)
    {
        var n = IndexOf(namespaces, command.Netns);
        if (n < 0) return NoNetns(command.Netns!);
        var ns = namespaces[n];
        var netfilter = ns.Netfilter;
        switch (command)
        {
            case Command.Listen l when l.Proto == L4Proto.Udp:
                if (l.Address.Ip.Value == 0) return $"listen -u {l.Address}: a wildcard socket is not modelled: bind an address of the namespace";
                if (!Bindable(ns, l.Address.Ip)) return $"listen -u {l.Address}: cannot bind: Cannot assign requested address (EADDRNOTAVAIL): not an address of {NetnsPhrase(ns)}";
                return sockets.UdpBound(l.Address, n) is not null ? $"listen -u {l.Address}: Address already in use (EADDRINUSE)" : null;
            case Command.Connect c when c.Proto == L4Proto.Udp:
                if (isConnection(c.Name)) return $"connect {c.Name}: connection name already used";
                if (c.Local is { } udpLocal)
                {
                    if (udpLocal.Ip.Value == 0)
                        return sockets.UdpPortInUse(udpLocal.Port, n) ? $"connect -u {c.Name}: bind {udpLocal}: Address already in use (EADDRINUSE)" : null;
                    if (!Bindable(ns, udpLocal.Ip)) return $"connect -u {c.Name}: bind {udpLocal}: Cannot assign requested address (EADDRNOTAVAIL)";
                    if (sockets.UdpBound(udpLocal, n) is not null || sockets.UdpBound(udpLocal with { Ip = default }, n) is not null)
                        return $"connect -u {c.Name}: bind {udpLocal}: Address already in use (EADDRINUSE)";
                }
                return null;
            case Command.Listen l:
                if (l.Address.Ip.Value == 0) return $"listen {l.Address}: a wildcard listener is not modelled: listen on an address of the namespace";
                if (!Bindable(ns, l.Address.Ip)) return $"listen {l.Address}: cannot bind: Cannot assign requested address (EADDRNOTAVAIL): not an address of {NetnsPhrase(ns)}";
                return sockets.PortInUse(l.Address, n) ? $"listen {l.Address}: Address already in use (EADDRINUSE)" : null;
            case Command.Connect c:
                if (isConnection(c.Name)) return $"connect {c.Name}: connection name already used";
                if (c.Local is { } local)
                {
                    if (!Bindable(ns, local.Ip)) return $"connect {c.Name}: bind {local}: Cannot assign requested address (EADDRNOTAVAIL)";
                    if (sockets.PortInUse(local, n)) return $"connect {c.Name}: bind {local}: Address already in use (EADDRINUSE)";
                    if (sockets.Established(new ConnTuple(Destination(c.Remote), local), n) is not null)
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
            case Command.IptablesCommand iptables:
                return CheckIptables(netfilter, iptables);
            case Command.IptablesRestore restore:
                return Restore(netfilter, restore).Error;
            case Command.IpCommand ip:
                return CheckIp(namespaces, ns, ip);
            default:
                return null;
        }
    }

    /// <summary>What iptables says of a command on its table (null: it is accepted).</summary>
    private static string? CheckIptables(NetfilterConfig netfilter, Command.IptablesCommand command) => CheckIptables(netfilter.Table(command.Table), command);

    /// <summary>What iptables says of a command on <paramref name="table"/> (null: it is accepted).</summary>
    private static string? CheckIptables(XtTable table, Command.IptablesCommand command)
    {
        switch (command)
        {
            case Command.IptablesDelete d:
                if (d.UserChain is { } du && !table.HasChain(du)) return NoChain(table, du);
                if (d.Rule is not null && !table.Rules.Any(r => r.SameRule(d.Rule)))
                    return "iptables: Bad rule (does a matching rule exist in that chain?).";
                if (d.Index is { } i && table.ChainNamed(d.ChainText).Count < i)
                    return "iptables: Index of deletion too big.";
                return null;
            case Command.IptablesAdd add:
                if (RuleProblem(table, add.Rule) is { } addProblem) return addProblem;
                if (add.Position is { } pos && pos > table.ChainNamed(add.Rule.ChainName).Count + 1)
                    return "iptables: Index of insertion too big.";
                // An append is checked for what it changes (XtTable.AppendProblem, the same answer); an insert walks the table.
                var why = add.Position is { } p ? (table with { Rules = table.Inserted(add.Rule, p) }).HookProblem() : table.AppendProblem(add.Rule);
                return why is null ? null : $"iptables v1.8.9 (nf_tables):  {(add.Position is null ? "RULE_APPEND" : "RULE_INSERT")} failed ({why}): rule in chain {add.Rule.ChainName}";
            case Command.IptablesReplace replace:
                // Measured with iptables 1.8.9 (nf_tables): before the table exists iptables cannot find the chain.
                if (replace.Rule.UserChain is null && !table.Exists) return "iptables: No chain/target/match by that name.";
                if (RuleProblem(table, replace.Rule) is { } replaceProblem) return replaceProblem;
                if (table.ChainNamed(replace.Rule.ChainName).Count < replace.Index) return "iptables: Index of replacement too big.";
                return HookProblem(table with { Rules = table.Replaced(replace.Rule, replace.Index) }, "RULE_REPLACE", replace.Rule.ChainName);
            case Command.IptablesFlush f:
                return f.UserChain is { } fu && !table.HasChain(fu) ? NoChain(table, fu) : null;
            case Command.IptablesNewChain nc:
                return table.HasChain(nc.Chain) ? "iptables: Chain already exists." : null;
            case Command.IptablesDeleteChain dc:
                if (dc.Chain is { } dn)
                {
                    if (!table.IsUserChain(dn)) return NoChain(table, dn);
                    return Busy(table, dn) ? ChainBusy(dn) : null;
                }
                // Every user chain at once, or none: the oldest that is busy is named (measured).
                return table.UserChains.FirstOrDefault(c => Busy(table, c)) is { } busy ? ChainBusy(busy) : null;
            case Command.IptablesPolicy policy:
                // Measured (iptables 1.8.9): a user chain or a chain the table lacks, then a policy other than ACCEPT or DROP.
                if (table.Table.Builtin(policy.Chain) is null) return "iptables: Bad built-in chain name.";
                return policy.Policy is "ACCEPT" or "DROP" ? null : "iptables: Bad policy name. Run `dmesg' for more information.";
            default:
                return null;
        }
    }

    /// <summary>
    /// A table after an accepted command (one definition for a command and the same line of a restore). A change to a
    /// built-in chain makes the table's base chains (its hooks); a user chain alone makes none (measured: <c>nft list
    /// ruleset</c> shows the table with only that chain).
    /// </summary>
    private static NetfilterConfig ApplyIptables(NetfilterConfig nf, Command.IptablesCommand command) => nf.With(ApplyIptables(nf.Table(command.Table), command));

    /// <inheritdoc cref="ApplyIptables(NetfilterConfig, Command.IptablesCommand)"/>
    private static XtTable ApplyIptables(XtTable table, Command.IptablesCommand command)
    {
        XtTable WithRules(ImmutableList<IptRule> rules, bool builtin) => table with { Rules = rules, Exists = builtin || table.Exists };
        switch (command)
        {
            case Command.IptablesAdd add when add.Position is null:
                return table.Append(add.Rule);
            case Command.IptablesAdd add:
                return WithRules(table.Inserted(add.Rule, add.Position!.Value), add.Rule.UserChain is null);
            case Command.IptablesDelete d:
                var victim = d.Rule is not null ? table.Rules.First(r => r.SameRule(d.Rule)) : table.ChainNamed(d.ChainText)[d.Index!.Value - 1];
                return WithRules(table.Deleted(victim), d.UserChain is null);
            case Command.IptablesReplace replace:
                return WithRules(table.Replaced(replace.Rule, replace.Index), replace.Rule.UserChain is null);
            case Command.IptablesNewChain nc:
                return table.WithUserChain(nc.Chain);
            case Command.IptablesDeleteChain dc:
                return dc.Chain is { } one ? table.WithoutUserChain(one) : table with { UserChains = [] };
            case Command.IptablesFlush f:
                if (f.UserChain is { } uc) return WithRules(table.Rules.RemoveAll(r => r.UserChain == uc), builtin: false);
                return WithRules(f.Chain is { } ch ? table.Rules.RemoveAll(r => r.UserChain is null && r.Chain == ch) : [], builtin: true);
            case Command.IptablesPolicy policy:
                return table.WithPolicy(table.Table.Builtin(policy.Chain)!.Value, policy.Policy == "DROP");
            default:
                throw new ArgumentOutOfRangeException(nameof(command), "not an iptables command");
        }
    }

    /// <summary>
    /// <c>iptables-restore</c> (iptables 1.8.9, nf_tables; measured): each block in turn; without <c>--noflush</c> a
    /// block first empties its table (every rule, user chain and base chain goes: <c>nft list ruleset</c> then shows
    /// only what the block made); a <c>:CHAIN POLICY</c> line makes a user chain, or, with <c>--noflush</c>, flushes one
    /// that exists (a built-in chain's is not flushed, and declaring one makes its base chain and sets its policy); the
    /// commands run in order, as their own lines would. The whole input or nothing: the first refusal is the error,
    /// worded as iptables-restore words it.
    /// </summary>
    internal static (NetfilterConfig After, string? Error) Restore(NetfilterConfig nf, Command.IptablesRestore restore)
    {
        ArgumentNullException.ThrowIfNull(nf);
        ArgumentNullException.ThrowIfNull(restore);
        var cfg = nf;
        foreach (var block in restore.Blocks)
        {
            var table = cfg.Table(block.Table);
            if (!restore.NoFlush) table = new XtTable(block.Table);
            foreach (var item in block.Items)
            {
                if (item.Declared is { } name)
                {
                    if (table.Table.Builtin(name) is { } builtin) table = table.WithPolicy(builtin, item.Policy == "DROP");
                    else if (!table.IsUserChain(name)) table = table.WithUserChain(name);
                    else table = table with { Rules = table.Rules.RemoveAll(r => r.UserChain == name) };
                    continue;
                }
                var command = (Command.IptablesCommand)item.Command!;
                if (CheckIptables(table, command) is { } error) return (nf, RestoreMessage(error, item.Line, block.CommitLine));
                table = ApplyIptables(table, command);
            }
            cfg = cfg.With(table);
        }
        return (cfg, null);
    }

    /// <summary>An iptables refusal as iptables-restore reports it for line <paramref name="line"/> (measured, one line each).</summary>
    private static string RestoreMessage(string error, int line, int commitLine)
    {
        const string Version = "iptables v1.8.9 (nf_tables):";
        // The kernel's refusals name the line; a missing chain is found only at COMMIT; iptables' own name the line too.
        if (error.StartsWith(Version + "  ", StringComparison.Ordinal))
            return string.Create(CultureInfo.InvariantCulture, $"iptables-restore v1.8.9 (nf_tables): line {line}: {error[(Version.Length + 2)..]}");
        if (error.StartsWith(Version + " ", StringComparison.Ordinal))
            return string.Create(CultureInfo.InvariantCulture, $"iptables-restore v1.8.9 (nf_tables): {error[(Version.Length + 1)..]} Error occurred at line: {commitLine}");
        var text = error.StartsWith("iptables: ", StringComparison.Ordinal) ? error["iptables: ".Length..] : error;
        return string.Create(CultureInfo.InvariantCulture, $"iptables-restore: line {line} failed: {text}");
    }

    /// <summary>The chain a rule goes into, and the chain it jumps to, must exist (messages measured with iptables 1.8.9, nf_tables).</summary>
    private static string? RuleProblem(XtTable table, IptRule rule)
    {
        if (rule.UserChain is { } into && !table.HasChain(into)) return NoChain(table, into);
        if (rule.Target is IptTarget.Jump j && !table.IsUserChain(j.Chain))
            return $"iptables v1.8.9 (nf_tables): Chain '{j.Chain}' does not exist";
        return null;
    }

    /// <summary>A change the kernel refuses for what the table becomes (<see cref="XtTable.HookProblem"/>).</summary>
    private static string? HookProblem(XtTable after, string operation, string chain) =>
        after.HookProblem() is { } why ? $"iptables v1.8.9 (nf_tables):  {operation} failed ({why}): rule in chain {chain}" : null;

    /// <summary>A user chain the kernel will not delete: it has rules, or a rule jumps to it (nf_tables: EBUSY either way, measured).</summary>
    private static bool Busy(XtTable table, string chain) => !table.UserChain(chain).IsEmpty || table.IsReferenced(chain);

    private static string ChainBusy(string chain) => $"iptables v1.8.9 (nf_tables):  CHAIN_DEL failed (Device or resource busy): chain {chain}";

    /// <summary>iptables' message for a chain that does not exist, with the chain most likely meant.</summary>
    private static string NoChain(XtTable table, string name)
    {
        var known = table.UserChains.Concat(table.Table.Builtins().Select(IptRule.BuiltinName));
        var meant = Scenarios.Spelling.Closest(name, known, n => Math.Max(1, n.Length / 3));
        return "iptables: No chain/target/match by that name." + (meant is null ? "" : $" (no chain '{name}' in the {table.Table.Name()} table; did you mean '{meant}'?)");
    }

    private static string NetnsPhrase(Netns ns) => ns.Name is null ? "the initial namespace" : $"namespace {ns.Name}";

    /// <summary>
    /// May bind() take <paramref name="ip"/> (<c>inet_addr_valid_or_nonlocal</c>)? A local address, or any address
    /// while the namespace has no local table yet (<see cref="Netns.LocalTable"/>).
    /// </summary>
    private static bool Bindable(Netns ns, IPv4Address ip) => !ns.LocalTable || Fib.IsLocal(ns, ip);

    /// <summary>The <c>ip</c> commands' preconditions, with the messages iproute2 prints (measured on 6.18).</summary>
    private static string? CheckIp(IReadOnlyList<Netns> namespaces, Netns ns, Command.IpCommand command)
    {
        switch (command)
        {
            case Command.NetnsAdd add:
                if (IndexOf(namespaces, add.Name) >= 0) return $"Cannot create namespace file \"/run/netns/{add.Name}\": File exists";
                return namespaces.Count >= NetKey.MaxNamespaces ? $"unsupported: more than {NetKey.MaxNamespaces - 1} namespaces besides the initial one" : null;
            case Command.LinkAddVeth veth:
                var devNs = veth.DeviceNetns is null ? ns : IndexOf(namespaces, veth.DeviceNetns) is var i and >= 0 ? namespaces[i] : null;
                if (devNs is null) return BadNetnsArgument(veth.DeviceNetns!);
                var peerNs = veth.PeerNetns is null ? ns : IndexOf(namespaces, veth.PeerNetns) is var j and >= 0 ? namespaces[j] : null;
                if (peerNs is null) return BadNetnsArgument(veth.PeerNetns!);
                if (devNs.Device(veth.Device) is not null || peerNs.Device(veth.Peer) is not null || (devNs.Index == peerNs.Index && veth.Device == veth.Peer))
                    return "RTNETLINK answers: File exists";
                return null;
            case Command.LinkSetNetns move:
                var dev = ns.Device(move.Device);
                if (dev is null) return NoDevice(move.Device);
                var target = IndexOf(namespaces, move.Target);
                if (target < 0) return BadNetnsArgument(move.Target);
                // The loopback device is NETIF_F_NETNS_LOCAL: dev_change_net_namespace refuses it.
                if (dev.Kind == DeviceKind.Loopback) return "RTNETLINK answers: Invalid argument";
                if (target != ns.Index && namespaces[target].Device(move.Device) is not null) return "RTNETLINK answers: File exists";
                return null;
            case Command.LinkSetState state:
                return ns.Device(state.Device) is null ? NoDevice(state.Device) : null;
            case Command.AddrChange addr:
                var d = ns.Device(addr.Device);
                if (d is null) return NoDevice(addr.Device);
                var has = d.Addresses.Contains(addr.Address);
                if (addr.Add && has) return "Error: ipv4: Address already assigned.";
                if (!addr.Add && !has) return "Error: ipv4: Address not found.";
                return null;
            case Command.RouteChange route:
                if (route.Device is { } rd && ns.Device(rd) is null) return NoDevice(rd);
                if (route.Device is { } through && ns.Device(through) is { Kind: DeviceKind.Loopback })
                    return $"unsupported: a route through {through} (only routes through veth devices are modelled)";
                if (!route.Add && FindRoute(ns, route) is null && Fib.Connected(ns).Any(c => c.Subnet == route.Destination))
                    return "unsupported: deleting a connected (proto kernel) route is not modelled";
                if (!route.Add) return FindRoute(ns, route) is null ? "RTNETLINK answers: No such process" : null;
                if (route.Gateway is { } gw)
                {
                    if (Fib.GatewayDevice(ns, gw, route.Device) is null) return "Error: Nexthop has invalid gateway.";
                }
                else if (ns.Device(route.Device!) is not { Up: true })
                {
                    return "Error: Device for nexthop is not up.";
                }
                if (ns.Routes.Any(r => r.Destination == route.Destination) || Fib.Connected(ns).Any(c => c.Subnet == route.Destination))
                    return "RTNETLINK answers: File exists";
                return null;
            default:
                return null;
        }
    }

    /// <summary>The added route <c>ip route del</c> removes: same prefix, and the gateway and device if given.</summary>
    private static FibRoute? FindRoute(Netns ns, Command.RouteChange del) =>
        ns.Routes.FirstOrDefault(r => r.Destination == del.Destination && (del.Gateway is null || r.Gateway == del.Gateway) && (del.Device is null || r.Device == del.Device));

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
            if (Check(_ctx.Sockets, _isConnection, _ctx.Namespaces, command) is { } rejected) return ([], rejected);
            return _ctx.Step(command);
        }

        /// <summary>The world as it is now. The run may go on: later commands copy what the frozen world shares.</summary>
        public World Freeze() => _ctx.Result();
    }

    private static string? CheckEnd(SocketView sockets, Func<string, bool> isConnection, string end, string verb)
    {
        var conn = Segment.ConnectionOf(end);
        if (!isConnection(conn)) return $"{verb} {end}: no connection named {conn}";
        if (sockets.Udp(conn) is { } udp) return CheckUdpEnd(sockets, udp, end, verb);
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

    /// <summary>The preconditions of send, close and abort on a UDP connection's client socket or on the server socket it reached.</summary>
    private static string? CheckUdpEnd(SocketView sockets, UdpSock client, string end, string verb)
    {
        if (verb == "abort") return $"abort {end}: abort is for TCP (SO_LINGER 0 makes close send a RST); a UDP socket is closed with close";
        if (end == client.Name)
        {
            if (client.Remote is null) return $"{verb} {end}: the socket is not connected (connect -u failed)";
            return client.Closed ? $"{verb} {end}: the socket was already closed by the application" : null;
        }
        var conn = client.Name;
        if (sockets.Peer(conn) is not { } peer) return $"{verb} {end}: the server has not received a datagram of {conn}, so it has no address to answer";
        return sockets.Udp(peer.Server) is { Closed: false } ? null : $"{verb} {end}: the server socket {peer.Server} was already closed by the application";
    }

    /// <summary>
    /// Where connect() really sends: to 0.0.0.0 the route lookup (<c>ip_route_output_key_hash_rcu</c>, no
    /// destination) uses the loopback address, and tcp_v4_connect stores it as the peer. Kernel run: a connect to
    /// 0.0.0.0:8080 is accepted by the listener on 127.0.0.1:8080 and both ends name 127.0.0.1.
    /// </summary>
    private static SockAddr Destination(SockAddr remote) => remote.Ip.Value == 0 ? remote with { Ip = IPv4Address.Loopback } : remote;

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
    private sealed partial class StepContext(World world, ChoiceSource choices)
    {
        /// <summary>The current step's events; the list (and its capacity) is kept from step to step.</summary>
        private List<KernelEvent> Events { get; } = [];

        /// <summary>Segments sent and not yet through the stack, each with the namespace it leaves from.</summary>
        private readonly Queue<(int Netns, Segment Seg)> _wire = new();

        /// <summary>
        /// Segments REJECT sends with the rejected packet's entry attached (<c>nf_ct_attach</c>): the entry's id and the
        /// segment's direction in it. Conntrack does not track such a segment again (<c>nf_conntrack_in</c> returns at once
        /// for a skb that has an entry), and NAT rewrites it as a packet of that entry. An id the table no longer has (the
        /// entry was never confirmed) leaves the segment with no entry: not tracked, not NATed.
        /// </summary>
        private readonly Dictionary<Segment, (long Id, CtDirection Dir)> _attached = new(ReferenceEqualityComparer.Instance);

        private long Now { get; set; } = world.Now;

        /// <summary>Each namespace's own state; a namespace record is replaced whenever a step changes it.</summary>
        private readonly List<Netns> _namespaces = [.. world.Namespaces];

        /// <summary>The namespaces with their counters, the start's array itself if no namespace changed (a step of a send changes none).</summary>
        private ImmutableArray<Netns> FrozenNamespaces()
        {
            var start = _startNamespaces;
            var same = start.Length == _namespaces.Count;
            for (var i = 0; same && i < start.Length; i++) same = ReferenceEquals(start[i], _namespaces[i]) && start[i].Counters == _counters[i];
            return same ? start : [.. _namespaces.Select((ns, i) => ns.Counters == _counters[i] ? ns : ns with { Counters = _counters[i] })];
        }

        private readonly ImmutableArray<Netns> _startNamespaces = world.Namespaces;

        /// <summary>Each namespace's counters, kept apart so a count does not copy its namespace's record (one per packet).</summary>
        private readonly List<CtCounters> _counters = [.. world.Namespaces.Select(ns => ns.Counters)];
        private CtTable.Builder _ct = world.Conntrack.ToBuilder();
        private readonly SocketTable.Builder _sockets = world.Sockets.ToBuilder();
        private readonly PersistentDictionary<string, Connection>.Builder _connections = world.ConnectionsByName.ToBuilder();
        private readonly ImmutableSortedSet<TimerEntry>.Builder _timers = world.Timers.ToBuilder();
        private long _nextCtId = world.NextCtId;
        private long _isnCount = world.IsnCount;
        private readonly PersistentDictionary<string, int>.Builder _decisions = world.Decisions.ToBuilder();

        public long Time => Now;

        public SocketView Sockets => _sockets;

        public CtView Conntrack => _ct;

        public IReadOnlyList<Netns> Namespaces => _namespaces;

        public bool IsConnection(string name) => _connections.ContainsKey(name);

        public World Result() => new(Now, FrozenNamespaces(), _ct.ToImmutable(), _sockets.ToImmutable(), _connections.ToImmutable(), _timers.ToImmutable(),
            _nextCtId, _isnCount, _decisions.ToImmutable());

        /// <summary>The end whose application holds the socket lock now (connect() sending its SYN), if any.</summary>
        private string? _ownedByUser;

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
            var n = IndexOf(_namespaces, command.Netns);
            switch (command)
            {
                case Command.Listen l when l.Proto == L4Proto.Udp:
                    _sockets.PutUdp(new UdpSock(UdpServerName(n, l.Address), l.Address, null, null, [], true, false) { Netns = n });
                    break;
                case Command.Listen l:
                    _sockets.Listen(l.Address, n);
                    break;
                case Command.Connect c when c.Proto == L4Proto.Udp:
                    ConnectUdp(n, c);
                    break;
                case Command.Connect c:
                    Connect(n, c);
                    break;
                case Command.Send s when IsUdp(s.End):
                    SendUdp(s.End, s.Label);
                    break;
                case Command.Close cl when IsUdp(cl.End):
                    CloseUdp(cl.End);
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
                case Command.IptablesCommand iptables:
                    SetNetfilter(n, ApplyIptables(_namespaces[n].Netfilter, iptables));
                    break;
                case Command.IptablesRestore restore:
                    SetNetfilter(n, Restore(_namespaces[n].Netfilter, restore).After);
                    break;
                case Command.ConntrackDelete del:
                    var doomed = _ct.ToImmutable().Live(Now, n).Where(del.Filter.Matches).Select(e => e.Id).ToList();
                    foreach (var id in doomed) _ct.Remove(id);
                    Events.Add(new KernelEvent.Ct(Now, string.Create(CultureInfo.InvariantCulture, $"{Where(n)}conntrack -D: {doomed.Count} flow entries have been deleted")));
                    break;
                case Command.Modprobe:
                    SetNetfilter(n, _namespaces[n].Netfilter with { Modprobed = true });
                    break;
                case Command.ConntrackFlush:
                    var flushed = _ct.ToImmutable().Live(Now, n).Select(e => e.Id).ToList();
                    if (flushed.Count == _ct.Count) _ct = CtTable.Empty.ToBuilder();
                    else foreach (var id in _ct.ToImmutable().All.Where(e => e.Netns == n).Select(e => e.Id).ToList()) _ct.Remove(id);
                    Events.Add(new KernelEvent.Ct(Now, string.Create(CultureInfo.InvariantCulture, $"{Where(n)}conntrack -F: {flushed.Count} flow entries deleted")));
                    break;
                case Command.Sysctl s:
                    _namespaces[n] = _namespaces[n] with { Sysctls = SysctlKeys.Apply(_namespaces[n].Sysctls, s.Key, s.Value) };
                    break;
                case Command.Sleep sl:
                    RunUntil(Now + sl.Milliseconds, inclusive: true, connecting: null);
                    break;
                case Command.IpCommand ip:
                    Ip(n, ip);
                    break;
                default:
                    throw new ArgumentOutOfRangeException(nameof(command), command, "unknown command");
            }
            Settle();
        }

        /// <summary>A note's prefix naming the namespace, empty for the initial one (one-namespace traces read as before).</summary>
        private string Where(int n) => _namespaces[n].Name is { } name ? name + ": " : "";


        private void SetNetfilter(int n, NetfilterConfig netfilter)
        {
            var was = _namespaces[n].Netfilter.Tracking;
            _namespaces[n] = _namespaces[n] with { Netfilter = netfilter };
            var now = netfilter.Tracking;
            if (!was && now)
                Events.Add(new KernelEvent.Ct(Now, Where(n) + "conntrack hooks registered in the namespace (nf_ct_netns_get): tracking starts; existing connections are not tracked until they send"));
            else if (was && !now)
                Events.Add(new KernelEvent.Ct(Now, Where(n) + "last conntrack user gone (nf_ct_netns_put): hooks unregistered; entries stay until they time out"));
        }

        // ------------------------------------------------------------ devices, addresses, routes

        /// <summary>The <c>ip</c> commands (their preconditions hold: <see cref="CheckIp"/>).</summary>
        private void Ip(int n, Command.IpCommand command)
        {
            switch (command)
            {
                case Command.NetnsAdd add:
                    _namespaces.Add(Netns.Create(_namespaces.Count, add.Name));
                    _counters.Add(CtCounters.Zero);
                    break;
                case Command.LinkAddVeth veth:
                    // veth_newlink: both ends are made down; each knows the other (the peer's namespace is its own).
                    var a = veth.DeviceNetns is null ? n : IndexOf(_namespaces, veth.DeviceNetns);
                    var b = veth.PeerNetns is null ? n : IndexOf(_namespaces, veth.PeerNetns);
                    _namespaces[a] = _namespaces[a].WithDevice(new NetDevice(veth.Device, DeviceKind.Veth, false, [], new VethPeer(b, veth.Peer)));
                    _namespaces[b] = _namespaces[b].WithDevice(new NetDevice(veth.Peer, DeviceKind.Veth, false, [], new VethPeer(a, veth.Device)));
                    break;
                case Command.LinkSetNetns move:
                    Move(n, move.Device, IndexOf(_namespaces, move.Target));
                    break;
                case Command.LinkSetState state:
                    SetState(n, state.Device, state.Up);
                    break;
                case Command.AddrChange addr:
                    var dev = _namespaces[n].Device(addr.Device)!;
                    if (addr.Add)
                    {
                        _namespaces[n] = _namespaces[n].WithDevice(dev with { Addresses = dev.Addresses.Add(addr.Address) }) with { LocalTable = true };
                        break;
                    }
                    // __inet_del_ifa: with promote_secondaries 0 (a new namespace's default, measured) removing a primary
                    // address removes the secondaries of its subnet with it.
                    var primary = dev.Addresses.First(a => a.Subnet == addr.Address.Subnet) == addr.Address;
                    var removed = primary ? dev.Addresses.Where(a => a.Subnet == addr.Address.Subnet).ToList() : [addr.Address];
                    var left = dev.Addresses.RemoveAll(removed.Contains);
                    _namespaces[n] = _namespaces[n].WithDevice(dev with { Addresses = left });
                    // fib_inetaddr_event: the last address of a device gone, fib_disable_ip flushes its routes.
                    if (left.IsEmpty) DropRoutes(n, addr.Device);
                    // masq_inet_event: MASQUERADEd entries through the device whose reply goes to the address go.
                    foreach (var gone in removed)
                        ForgetMasqueraded(n, addr.Device, gone.Local, $"{gone} was removed from {addr.Device} (masq_inet_event)");
                    break;
                case Command.RouteChange route when route.Add:
                    var via = route.Device ?? Fib.GatewayDevice(_namespaces[n], route.Gateway!.Value, null)!;
                    _namespaces[n] = _namespaces[n] with { Routes = _namespaces[n].Routes.Add(new FibRoute(route.Destination, route.Gateway, via)) };
                    break;
                case Command.RouteChange route:
                    _namespaces[n] = _namespaces[n] with { Routes = _namespaces[n].Routes.Remove(FindRoute(_namespaces[n], route)!) };
                    break;
                default:
                    throw new ArgumentOutOfRangeException(nameof(command), command, "unknown ip command");
            }
        }

        /// <summary>
        /// <c>ip link set DEV up|down</c>. Up: a loopback device gets 127.0.0.1/8 (<c>inetdev_event</c> NETDEV_UP).
        /// Down (<c>fib_disable_ip</c> → <c>fib_sync_down_dev</c>, <c>fib_flush</c>): the routes through it are deleted and
        /// do not come back with the device (measured on 6.18), and MASQUERADEd entries through it go
        /// (<c>masq_device_event</c>).
        /// </summary>
        private void SetState(int n, string device, bool up)
        {
            var dev = _namespaces[n].Device(device)!;
            if (dev.Up == up) return;
            if (up)
            {
                var lo = new InAddr(IPv4Address.Loopback, 8);
                var addresses = dev.Kind == DeviceKind.Loopback && !dev.Addresses.Contains(lo) ? dev.Addresses.Add(lo) : dev.Addresses;
                _namespaces[n] = _namespaces[n].WithDevice(dev with { Up = true, Addresses = addresses }) with { LocalTable = _namespaces[n].LocalTable || !addresses.IsEmpty };
                return;
            }
            _namespaces[n] = _namespaces[n].WithDevice(dev with { Up = false });
            DropRoutes(n, device);
            ForgetMasqueraded(n, device, null, $"{device} went down (masq_device_event)");
        }

        /// <summary>
        /// <c>ip link set DEV netns NS</c> (<c>dev_change_net_namespace</c>): the device goes down in its old namespace
        /// (routes and MASQUERADEd entries go), loses its addresses, and arrives down; its peer learns where it is.
        /// </summary>
        private void Move(int from, string device, int to)
        {
            if (from == to) return;
            SetState(from, device, up: false);
            var dev = _namespaces[from].Device(device)!;
            _namespaces[from] = _namespaces[from] with { Devices = _namespaces[from].Devices.RemoveAll(d => d.Name == device) };
            _namespaces[to] = _namespaces[to].WithDevice(dev with { Addresses = [] });
            if (dev.Peer is { } peer && _namespaces[peer.Netns].Device(peer.Device) is { } other)
                _namespaces[peer.Netns] = _namespaces[peer.Netns].WithDevice(other with { Peer = new VethPeer(to, device) });
        }

        private void DropRoutes(int n, string device) =>
            _namespaces[n] = _namespaces[n] with { Routes = _namespaces[n].Routes.RemoveAll(r => r.Device == device) };

        /// <summary>
        /// Deletes the namespace's entries MASQUERADE made through <paramref name="device"/> (and, for an address event,
        /// whose reply goes to <paramref name="address"/>): <c>nf_nat_masq_schedule</c>'s worker, run at once here.
        /// </summary>
        private void ForgetMasqueraded(int n, string device, IPv4Address? address, string why)
        {
            var victims = _ct.ToImmutable().All
                .Where(e => e.Netns == n && e.MasqDevice == device && (address is null || e.Reply.Dst.Ip == address.Value))
                .Select(e => e.Id).ToList();
            foreach (var id in victims)
            {
                _ct.Remove(id);
                Events.Add(new KernelEvent.Ct(Now, string.Create(CultureInfo.InvariantCulture, $"{Where(n)}entry #{id} deleted: {why}")));
            }
        }

        // ------------------------------------------------------------ sockets and time

        /// <summary>
        /// <c>tcp_v4_connect</c>: <c>ip_route_connect</c> finds the route (no route: ENETUNREACH, nothing sent) and,
        /// without bind(), the source address (the route's preferred source, <see cref="Fib.Lookup"/>); then the port
        /// (<see cref="PickEphemeral"/>), the SYN, and the wait for the handshake.
        /// </summary>
        private void Connect(int n, Command.Connect c)
        {
            var remote = Destination(c.Remote);
            if (Fib.Lookup(_namespaces[n], remote.Ip) is not { } route)
            {
                Unreachable(n, c);
                return;
            }
            var local = c.Local ?? PickEphemeral(n, c.Name, remote, route.PrefSrc);
            var r = Tcp.Connect(c.Name, local, remote, c.Local is not null, Now, NextIsnClock());
            if (n != 0) r = r with { End = r.End with { Netns = n } };
            // The connection is recorded once, with its result, when connect() returns: nothing during the step reads it.
            Apply(r, null);
            // The SYN leaves inside connect(), under the socket lock (lock_sock in inet_stream_connect): what comes back
            // before connect() sleeps finds the socket owned by the user (an ICMP error is then only a soft error).
            _ownedByUser = c.Name;
            Settle();
            _ownedByUser = null;
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
                    Errno.ENETUNREACH or Errno.EHOSTUNREACH => ConnectResult.Unreachable,
                    Errno.ENOPROTOOPT => ConnectResult.ProtocolUnreachable,
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
        /// <c>tcp_v4_connect</c> fails in <c>ip_route_connect</c> with -ENETUNREACH before it picks a source port or
        /// sends anything (kernel run: <c>connect()</c> to 10.0.0.1 in a namespace with only lo). The socket stays
        /// CLOSE, with the address bind() gave it or none.
        /// </summary>
        private void Unreachable(int n, Command.Connect c)
        {
            var local = c.Local ?? new SockAddr(default, 0);
            var end = TcpEnd.Create(c.Name, local, c.Remote, TcpState.Close, 0, c.Local is not null) with { Gone = true, Netns = n };
            Put(end);
            Events.Add(new KernelEvent.Socket(Now, c.Name, "connect failed: ENETUNREACH (no route to the destination); nothing sent"));
            World.Record(_connections, new Connection(c.Name, ConnectResult.Unreachable, local, c.Remote));
        }

        /// <summary>
        /// <c>__inet_hash_connect</c>: from a hashed start offset (a choice), try ports of the same parity as the
        /// range's low end, then the other parity; a port is usable if no bind() holds it and the 4-tuple is unique.
        /// </summary>
        private SockAddr PickEphemeral(int n, string name, SockAddr remote, IPv4Address src)
        {
            var low = _namespaces[n].Sysctls.LocalPortLow;
            var high = _namespaces[n].Sysctls.LocalPortHigh;
            var remaining = high + 1 - low;
            if (remaining > 1) remaining &= ~1;
            var point = new ChoicePoint(ChoiceKind.EphemeralPort, "ephemeral:" + name, Math.Max(1, remaining));
            var offset = choices.Choose(point) & ~1;
            Events.Add(new KernelEvent.Choice(Now, new ChoiceMade(point, offset, []), name));
            for (var pass = 0; pass < 2; pass++, offset++)
            {
                for (var i = 0; i < remaining; i += 2)
                {
                    var port = low + ((offset + i) % remaining);
                    if (port > high) continue;
                    var cand = new SockAddr(src, port);
                    if (_sockets.EphemeralUsable(cand, remote, n)) return cand;
                }
            }
            // An odd-sized range's last port is not on either parity walk.
            foreach (var p in Enumerable.Range(low, high - low + 1))
            {
                if (_sockets.EphemeralUsable(new SockAddr(src, p), remote, n)) return new SockAddr(src, p);
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
            foreach (var s in r.Out) _wire.Enqueue((r.End.Netns, s));
        }

        /// <summary>Stores an end, re-arming or cancelling its timers as they changed (a gone socket has none).</summary>
        private void Put(TcpEnd e)
        {
            var old = _sockets.Put(e);
            Rearm(e.Name, TimerKind.Retransmit, old is { Gone: false } ? old.RetransmitAt : null, e.Gone ? null : e.RetransmitAt);
            Rearm(e.Name, TimerKind.TimeWait, old is { Gone: false } ? old.TimeWaitUntil : null, e.Gone ? null : e.TimeWaitUntil);
        }

        private void Rearm(string end, TimerKind kind, long? was, long? now)
        {
            if (was == now) return;
            if (was is { } w) _timers.Remove(new TimerEntry(w, end, kind));
            if (now is { } n) _timers.Add(new TimerEntry(n, end, kind));
        }

        /// <summary>Runs every queued segment through the stack; delivery is instantaneous and in order.</summary>
        private void Settle()
        {
            while (_wire.Count > 0)
            {
                var (n, seg) = _wire.Dequeue();
                if (_attached.Remove(seg, out var attach)) OutputAttached(n, seg, attach.Id, attach.Dir);
                else Output(n, seg);
            }
        }

        // ------------------------------------------------------------ the netfilter path

        /// <summary>A packet in flight: the segment as rewritten so far and the conntrack entry attached to it.</summary>
        /// <remarks>
        /// <paramref name="Pending"/>: NAT-done bits of a new entry whose decision changed nothing else; they are set
        /// with the confirmed bit at <see cref="Confirm"/>, so a kept tuple does not copy the entry once per hook.
        /// </remarks>
        private readonly record struct Skb(Segment Seg, CtEntry? Ct, CtDirection Dir, bool Confirmed, int Ttl = DefaultTtl, CtStatus Pending = CtStatus.None)
        {
            /// <summary><c>skb-&gt;mark</c>: set by MARK rules, read by <c>-m mark</c>; 0 when the packet enters a namespace.</summary>
            public uint Mark { get; init; }

            /// <summary>
            /// The untracked mark (IP_CT_UNTRACKED) the raw table's NOTRACK set: conntrack leaves the packet alone; it
            /// keeps the mark over <c>lo</c> and loses it crossing a veth (<c>skb_scrub_packet</c>).
            /// </summary>
            public bool Untracked { get; init; }
        }

        /// <summary><c>sysctl_ip_default_ttl</c> (<c>IPDEFTTL</c>): what a locally generated packet starts with.</summary>
        private const int DefaultTtl = 64;

        /// <summary>
        /// A locally generated segment (<c>ip_queue_xmit</c> → <c>__ip_local_out</c> → <c>ip_output</c>): route, then
        /// NF_INET_LOCAL_OUT (conntrack, nat OUTPUT: DST), a new route if DNAT moved the destination
        /// (<c>ip_route_me_harder</c>), NF_INET_POST_ROUTING (nat POSTROUTING: SRC, confirm), and out of the device.
        /// Each hook returns its verdict: false is NF_DROP (the packet goes no further).
        /// </summary>
        private void Output(int n, Segment seg) => Output(n, seg, new Skb(seg, null, CtDirection.Original, false), attached: false);

        /// <summary>A segment sent with an entry attached (<see cref="_attached"/>).</summary>
        private void OutputAttached(int n, Segment seg, long id, CtDirection dir)
        {
            var entry = _ct.Get(id);
            Output(n, seg, new Skb(seg, entry, dir, entry is not null), attached: true);
        }

        private void Output(int n, Segment seg, Skb skb, bool attached)
        {
            var ns = _namespaces[n];
            if (Fib.Lookup(ns, seg.Tuple.Dst.Ip) is not { } found)
            {
                Events.Add(new KernelEvent.Dropped(Now, seg, $"{Where(n)}no route to {seg.Tuple.Dst.Ip} (ip_route_output: ENETUNREACH)"));
                return;
            }
            FibResult? route = found;
            if (!Hook(n, IptChain.Output, ref skb, null, ref route, fresh: !attached)) return;
            if (!Hook(n, IptChain.PostRouting, ref skb, null, ref route, fresh: true)) return;
            Xmit(n, route!.Value, skb);
        }

        /// <summary>
        /// The hook functions registered at <paramref name="hook"/> in namespace <paramref name="n"/>, in the order
        /// <see cref="HookOrder"/> gives; false as soon as one drops the packet (NF_DROP). <paramref name="route"/> is the
        /// packet's route where the hook has one (LOCAL_OUT's DNAT may replace it: <c>ip_route_me_harder</c>).
        /// <paramref name="fresh"/> false: the packet kept its entry (over <c>lo</c>, or REJECT attached one): conntrack
        /// does not track it again, and at PRE_ROUTING and LOCAL_IN NAT and confirmation have nothing left to do (the
        /// kernel's hooks find the binding already applied); the filter table decides every packet anew.
        /// </summary>
        private bool Hook(int n, IptChain hook, ref Skb skb, string? inDev, ref FibResult? route, bool fresh)
        {
            var nf = _namespaces[n].Netfilter;
            var receiving = hook is IptChain.PreRouting or IptChain.Input;
            foreach (var step in HookOrder.At(hook))
            {
                switch (step.Kind)
                {
                    case HookStepKind.Raw:
                        // iptable_raw_hook (NF_IP_PRI_RAW, before conntrack): NOTRACK marks a packet with no entry yet untracked (xt_ct_target).
                        if (nf.Raws && !TableHook(n, nf.Raw, ref skb, hook, inDev, route?.Device)) return false;
                        break;
                    case HookStepKind.Conntrack:
                        if (fresh && nf.Tracking && !skb.Untracked && !ConntrackIn(n, ref skb)) return false;
                        break;
                    case HookStepKind.NatDst:
                        var before = skb.Seg.Tuple.Dst.Ip;
                        if ((fresh || !receiving) && nf.NatTableExists && !NatHook(n, ref skb, Manip.Dst, hook, inDev, route)) return false;
                        if (skb.Seg.Tuple.Dst.Ip != before && hook == IptChain.Output && !Reroute(n, skb, ref route)) return false;
                        break;
                    case HookStepKind.Mangle:
                        if (nf.Mangles && !TableHook(n, nf.Mangle, ref skb, hook, inDev, route?.Device)) return false;
                        break;
                    case HookStepKind.Filter:
                        if (nf.Filtering && !TableHook(n, nf.Filter, ref skb, hook, inDev, route?.Device)) return false;
                        break;
                    case HookStepKind.NatSrc:
                        if ((fresh || !receiving) && nf.NatTableExists && !NatHook(n, ref skb, Manip.Src, hook, inDev, route)) return false;
                        break;
                    case HookStepKind.Confirm:
                        if ((fresh || !receiving) && !Confirm(n, ref skb)) return false;
                        break;
                }
            }
            return true;
        }

        /// <summary>
        /// <c>ip_route_me_harder</c> after LOCAL_OUT's DNAT moved the destination: a new route; false (dropped) if there
        /// is none.
        /// </summary>
        private bool Reroute(int n, in Skb skb, ref FibResult? route)
        {
            var dst = skb.Seg.Tuple.Dst.Ip;
            if (Fib.Lookup(_namespaces[n], dst) is not { } rerouted)
            {
                Events.Add(new KernelEvent.Dropped(Now, skb.Seg, $"{Where(n)}no route to {dst} after DNAT (ip_route_me_harder)"));
                return false;
            }
            route = rerouted;
            return true;
        }

        /// <summary>
        /// The segment leaves through the route's device (<c>ip_finish_output2</c>). On <c>lo</c> it comes straight back
        /// with its conntrack entry (<c>loopback_xmit</c> keeps it). On a veth the neighbour must answer first: the next
        /// hop must be an address of the namespace at the other end (ARP, <c>arp_ignore</c> 0 answers for any local
        /// address) and both ends up (carrier); then <c>veth_xmit</c> → <c>__dev_forward_skb</c> → <c>skb_scrub_packet</c>
        /// drops the entry and the peer namespace receives the packet as new.
        /// </summary>
        private void Xmit(int n, FibResult route, Skb skb)
        {
            var seg = skb.Seg;
            if (route.Local)
            {
                // Local traffic goes out of the namespace's loopback device; a down one drops it (__dev_queue_xmit:
                // -ENETDOWN; measured: a connect to the namespace's own address with lo down times out).
                if (_namespaces[n].Device(Loopback) is not { Up: true })
                {
                    Events.Add(new KernelEvent.Dropped(Now, seg, $"{Where(n)}lo is down (__dev_queue_xmit: ENETDOWN)"));
                    return;
                }
                Events.Add(new KernelEvent.Captured(Now, seg, _namespaces[n].Name, Loopback));
                Input(n, Loopback, skb);
                return;
            }
            var dev = _namespaces[n].Device(route.Device)!;
            var peer = dev.Peer!.Value;
            var peerNs = _namespaces[peer.Netns];
            if (!dev.Up || peerNs.Device(peer.Device) is not { Up: true })
            {
                Events.Add(new KernelEvent.Dropped(Now, seg, $"{Where(n)}{dev.Name} has no carrier (its veth peer {peer.Device} is down)"));
                return;
            }
            var nextHop = route.NextHop(seg.Tuple.Dst.Ip);
            if (!Fib.IsLocal(peerNs, nextHop))
            {
                Events.Add(new KernelEvent.Dropped(Now, seg, $"{Where(n)}no ARP answer for {nextHop} on {dev.Name} (neighbour FAILED)"));
                return;
            }
            Events.Add(new KernelEvent.Captured(Now, seg, _namespaces[n].Name, dev.Name));
            // skb_scrub_packet(skb, xnet): the entry and, crossing namespaces, the mark go.
            Input(peer.Netns, peer.Device, skb with { Ct = null, Confirmed = false, Dir = CtDirection.Original, Pending = CtStatus.None, Mark = 0, Untracked = false });
        }

        /// <summary>
        /// A received segment (<c>ip_rcv</c>): NF_INET_PRE_ROUTING (conntrack, nat PREROUTING: DST) unless it kept its
        /// entry on <c>lo</c>, then the route: for this namespace NF_INET_LOCAL_IN (nat INPUT: SRC, confirm) and the
        /// socket; else, if <c>ip_forward</c> is on, NF_INET_FORWARD and NF_INET_POST_ROUTING (nat POSTROUTING: SRC,
        /// confirm) and out again. Forwarding off drops the packet silently (<c>ip_route_input_slow</c>; measured: no
        /// ICMP, the connect times out).
        /// </summary>
        private void Input(int n, string inDev, Skb skb)
        {
            var ns = _namespaces[n];
            // ip_route_input_slow → fib_validate_source: a packet arriving on a device other than lo whose source is an
            // address of this namespace is a martian and is dropped, before PRE_ROUTING's routing decision takes effect
            // (measured: a SYN node routed to a pod that routed it back came in once and went no further).
            if (inDev != Loopback && Fib.IsLocal(ns, skb.Seg.Tuple.Src.Ip))
            {
                Events.Add(new KernelEvent.Dropped(Now, skb.Seg, $"{Where(n)}martian source {skb.Seg.Tuple.Src.Ip} on {inDev} (fib_validate_source)"));
                return;
            }
            var fresh = skb.Ct is null;
            FibResult? none = null;
            if (!Hook(n, IptChain.PreRouting, ref skb, inDev, ref none, fresh)) return;
            var dst = skb.Seg.Tuple.Dst.Ip;
            if (inDev == Loopback || Fib.IsLocal(ns, dst))
            {
                if (!Hook(n, IptChain.Input, ref skb, inDev, ref none, fresh)) return;
                Receive(n, skb.Seg);
                return;
            }
            if (!ns.Sysctls.IpForward)
            {
                Events.Add(new KernelEvent.Dropped(Now, skb.Seg, $"{Where(n)}not for this namespace and net.ipv4.ip_forward is 0: dropped"));
                return;
            }
            // ip_forward: a packet whose TTL would reach 0 is dropped (the kernel sends ICMP time exceeded, which the
            // model does not; a routing loop between namespaces ends here).
            if (skb.Ttl <= 1)
            {
                Events.Add(new KernelEvent.Dropped(Now, skb.Seg, $"{Where(n)}TTL exceeded while forwarding (ip_forward; no ICMP modelled)"));
                return;
            }
            skb = skb with { Ttl = skb.Ttl - 1 };
            if (Fib.Lookup(ns, dst) is not { } found)
            {
                Events.Add(new KernelEvent.Dropped(Now, skb.Seg, $"{Where(n)}no route to forward to {dst}"));
                ForwardUnreachable(n, skb.Seg);
                return;
            }
            FibResult? route = found;
            if (!Hook(n, IptChain.Forward, ref skb, inDev, ref route, fresh)) return;
            if (!Hook(n, IptChain.PostRouting, ref skb, inDev, ref route, fresh: true)) return;
            Xmit(n, found, skb);
        }

        /// <summary><c>nf_conntrack_in</c> → <c>resolve_normal_ct</c> → <c>nf_conntrack_tcp_packet</c>, in namespace <paramref name="n"/>.</summary>
        private bool ConntrackIn(int n, ref Skb skb)
        {
            if (skb.Seg.Icmp is not null) return ConntrackInIcmp(n, ref skb);
            if (skb.Seg.IsUdp) return ConntrackInUdp(n, ref skb);
            var seg = skb.Seg;
            var sysctls = _namespaces[n].Sysctls;
            for (var repeat = 0; repeat < 3; repeat++)
            {
                var hit = _ct.Find(seg.Tuple, Now, n);
                if (hit is null)
                {
                    var opening = TcpTracker.New(seg, sysctls);
                    if (opening is not { } info)
                    {
                        Count(n, c => c with { Invalid = c.Invalid + 1 });
                        Events.Add(new KernelEvent.Ct(Now, $"{Where(n)}{Describe(seg)}: no entry and may not open one (tcp_new): leaves untracked"));
                        return true;
                    }
                    var opened = new CtEntry(_nextCtId, seg.Tuple, seg.Tuple.Invert(), CtStatus.None, TcpCtState.None, Now, info) { Netns = n };
                    var r = TcpTracker.Packet(opened, CtDirection.Original, seg, sysctls, Now);
                    if (r.Verdict != TrackVerdict.Accept)
                    {
                        Count(n, c => c with { Invalid = c.Invalid + 1 });
                        return true;
                    }
                    _nextCtId++;
                    Events.Add(new KernelEvent.Ct(Now, new CtNote(CtNoteKind.NewEntry, r.Ct.Id, r.Ct.Orig, To: r.Ct.State, Flag: !seg.Has(TcpFlags.Syn), Netns: _namespaces[n].Name)));
                    skb = skb with { Ct = r.Ct, Dir = CtDirection.Original, Confirmed = false };
                    return true;
                }
                var (entry, dir) = hit.Value;
                var res = TcpTracker.Packet(entry, dir, seg, sysctls, Now);
                switch (res.Verdict)
                {
                    case TrackVerdict.Repeat:
                        _ct.Remove(entry.Id);
                        Events.Add(new KernelEvent.Ct(Now, string.Create(CultureInfo.InvariantCulture, $"{Where(n)}entry #{entry.Id} killed: {res.Note}")));
                        continue;
                    case TrackVerdict.Invalid:
                        Count(n, c => c with { Invalid = c.Invalid + 1 });
                        Events.Add(new KernelEvent.Ct(Now, string.Create(CultureInfo.InvariantCulture, $"{Where(n)}{Describe(seg)}: INVALID for entry #{entry.Id} ({res.Note}): leaves untracked, not NATed")));
                        skb = skb with { Ct = null };
                        return true;
                    case TrackVerdict.Drop:
                        Count(n, c => c with { Invalid = c.Invalid + 1, Drop = c.Drop + 1 });
                        Events.Add(new KernelEvent.Dropped(Now, seg, "conntrack: " + res.Note));
                        return false;
                }
                var ct = res.Ct;
                if (dir == CtDirection.Reply && !ct.Has(CtStatus.SeenReply)) ct = ct with { Status = ct.Status | CtStatus.SeenReply };
                if (res.Kill)
                {
                    _ct.Remove(ct.Id);
                    Events.Add(new KernelEvent.Ct(Now, string.Create(CultureInfo.InvariantCulture, $"{Where(n)}entry #{ct.Id} deleted: {res.Note}")));
                }
                else
                {
                    _ct.Update(ct);
                    if (ct.State != entry.State)
                        Events.Add(new KernelEvent.Ct(Now, new CtNote(CtNoteKind.StateChange, ct.Id, ct.Orig, From: entry.State, To: ct.State, Netns: _namespaces[n].Name)));
                    else if (res.Note.Length > 0)
                        Events.Add(new KernelEvent.Ct(Now, string.Create(CultureInfo.InvariantCulture, $"{Where(n)}entry #{ct.Id}: {res.Note}")));
                }
                skb = skb with { Ct = ct, Dir = dir, Confirmed = true };
                return true;
            }
            throw new InvalidOperationException("NF_REPEAT loop did not settle");
        }

        /// <summary>
        /// <c>nf_nat_inet_fn</c> at one hook, then <c>nf_nat_packet</c>. <paramref name="inDev"/> and the route's device
        /// are what <c>-i</c> and <c>-o</c> see (null where the hook has none); MASQUERADE takes its address from the
        /// route (<c>nf_nat_masquerade_ipv4</c>).
        /// </summary>
        private bool NatHook(int n, ref Skb skb, Manip manip, IptChain chain, string? inDev, FibResult? route)
        {
            if (skb.Ct is not { } ct) return true;
            var done = manip == Manip.Src ? CtStatus.SrcNatDone : CtStatus.DstNatDone;
            // NAT is decided once, for a new (unconfirmed) entry; nf_nat_setup_info returns at once for a confirmed one.
            if (!skb.Confirmed && !ct.Has(done) && (skb.Pending & done) == 0)
            {
                NatRange? range = null;
                IptTarget? by = null;
                IptRule? byRule = null;
                var outDev = route?.Device;
                var netfilter = _namespaces[n].Netfilter;
                // A statistic draw is named after the NAT decision it leads to (the one SetupInfo makes next).
                _draw = (manip == Manip.Src, skb.Seg.Origin, 0);
                var state = StateOf(skb);
                // What the traversal saw, for the NAT note (an encoding of the rules is checked against it).
                var (tupleIn, markIn, stateIn, ctMarkIn, ctStatusIn) = (skb.Seg.Tuple, skb.Mark, state, ct.Mark, ct.Status);
                var rule = Verdict(n, netfilter.Nat, netfilter.Nat.Chain(chain), ref skb, inDev, outDev, ref state, out _);
                // A CONNMARK rule may have written the entry's mark.
                ct = skb.Ct!;
                if (rule is not null)
                {
                    by = rule.Target;
                    byRule = rule;
                    switch (rule.Target)
                    {
                        case IptTarget.Snat s:
                            range = s.Range;
                            break;
                        case IptTarget.Dnat d:
                            range = d.Range;
                            break;
                        case IptTarget.Masquerade m:
                            // inet_select_addr(out, rt_nexthop(rt, daddr), RT_SCOPE_UNIVERSE): no universe-scope address
                            // in the namespace (lo's 127.0.0.1/8 is host scope) and the packet is dropped.
                            if (route is not { } r || Fib.SelectAddress(_namespaces[n], r.Device, r.NextHop(skb.Seg.Tuple.Dst.Ip)) is not { } addr)
                            {
                                Events.Add(new KernelEvent.Dropped(Now, skb.Seg, $"{Where(n)}MASQUERADE: {outDev ?? Loopback} ate my IP address (no universe-scope address)"));
                                return false;
                            }
                            range = m.Range with { MapIps = true, MinIp = addr, MaxIp = addr };
                            ct = ct with { MasqDevice = r.Device };
                            break;
                        case IptTarget.Accept:
                            break;
                    }
                }
                var nullBinding = range is null;
                range ??= NatRange.NullBinding(manip == Manip.Src ? ct.Reply.Dst.Ip : ct.Reply.Src.Ip);
                var seen = new NatSeen(_namespaces[n].Name, chain, inDev, outDev, tupleIn, markIn, stateIn, ctMarkIn, ctStatusIn, rule, skb.Mark, ct.Mark);
                ct = SetupInfo(n, ct, range, manip, skb.Seg.Origin, nullBinding ? null : byRule, seen, out var pending);
                if (manip == Manip.Dst && byRule is not null && ct.Has(CtStatus.DstNat)) ct = ct with { DnatRule = byRule };
                skb = skb with { Pending = skb.Pending | pending };
            }
            var seg = NatPacket(skb.Seg, ct, skb.Dir, manip);
            // The DNAT binding at work (DST manip of an original packet, SRC manip of a reply) after its rule went: no rule
            // equal to it is left (as iptables -D compares rules), so the same rule added again is not a change.
            if (!ReferenceEquals(seg, skb.Seg) && ct.DnatRule is not null && (manip == Manip.Dst) == (skb.Dir == CtDirection.Original))
                StaleCheck(n, skb.Seg, ct);
            skb = skb with { Ct = ct, Seg = seg };
            return true;
        }

        /// <summary>
        /// The rule that decides a packet at a hook of <paramref name="table"/> (<c>ipt_do_table</c> / <c>nft_do_chain</c>):
        /// the first matching rule whose target ends the traversal (SNAT, DNAT, MASQUERADE, ACCEPT, DROP, REJECT), walking
        /// into a user chain at each matching jump and going on after the jump when that chain ends or a matching RETURN
        /// leaves it; MARK, CONNMARK, LOG and NOTRACK do their work on <paramref name="skb"/> and go on (XT_CONTINUE). Null,
        /// with <paramref name="decided"/> false, when the chain ends or returns (for a built-in chain: its policy). A
        /// built-in chain reaches no jump loop: <see cref="XtTable.HookProblem"/> refuses the change that would make one.
        /// <paramref name="state"/> is the packet's conntrack state: NOTRACK makes it UNTRACKED for the rules after it.
        /// </summary>
        private IptRule? Verdict(int n, XtTable table, ImmutableList<IptRule> chain, ref Skb skb, string? inDev, string? outDev,
            ref CtStates state, out bool decided)
        {
            decided = false;
            // Most chains a packet meets are empty: no enumerator of the rules' tree for them.
            if (chain.IsEmpty) return null;
            var isLocal = IsLocalIn(n);
            foreach (var rule in chain)
            {
                if (!rule.Match.Matches(skb.Seg.Tuple, inDev, outDev, isLocal, skb.Mark, state, skb.Ct)) continue;
                // statistic_mt: the draw or the count, then XT_STATISTIC_INVERT.
                if (rule.Match.Probability is { } p && Statistic(p, table.Table, skb.Seg.Origin) == rule.Match.Not.HasFlag(Negated.Statistic)) continue;
                if (rule.Match.Nth is not null && Nth(n, table.Table, rule) == rule.Match.Not.HasFlag(Negated.Statistic)) continue;
                switch (rule.Target)
                {
                    case IptTarget.Mark m:
                        skb = skb with { Mark = m.Apply(skb.Mark) };
                        continue;
                    case IptTarget.ConnMark cm:
                        ConnMark(n, ref skb, cm);
                        continue;
                    case IptTarget.Log log:
                        Events.Add(new KernelEvent.Logged(Now, skb.Seg, LogLine(n, log, skb, table, rule, inDev, outDev)));
                        continue;
                    case IptTarget.NoTrack:
                        // xt_ct_target: only a packet with no entry yet (one that kept its entry over lo is left as it is).
                        if (skb.Ct is null)
                        {
                            skb = skb with { Untracked = true };
                            state = CtStates.Untracked;
                        }
                        continue;
                    case IptTarget.Return:
                        return null;
                    case IptTarget.Jump j:
                        var inner = Verdict(n, table, table.UserChain(j.Chain), ref skb, inDev, outDev, ref state, out decided);
                        if (decided) return inner;
                        continue;
                    default:
                        decided = true;
                        return rule;
                }
            }
            return null;
        }

        /// <summary>
        /// CONNMARK (<c>connmark_tg_shift</c>): nothing without an entry; SET and SAVE write the entry's mark (a confirmed
        /// entry in the table at once, as the kernel writes <c>ct-&gt;mark</c> in place; a new one travels with the packet to
        /// its confirmation), RESTORE the packet's.
        /// </summary>
        private void ConnMark(int n, ref Skb skb, IptTarget.ConnMark cm)
        {
            if (skb.Ct is not { } ct) return;
            if (cm.Mode == ConnMarkMode.Restore)
            {
                skb = skb with { Mark = cm.NewMark(ct.Mark, skb.Mark) };
                return;
            }
            var mark = cm.NewCtMark(ct.Mark, skb.Mark);
            if (mark == ct.Mark) return;
            if (skb.Confirmed && _ct.Get(ct.Id) is { } live)
            {
                ct = live with { Mark = mark };
                _ct.Update(ct);
            }
            else
            {
                ct = ct with { Mark = mark };
            }
            skb = skb with { Ct = ct };
            Events.Add(new KernelEvent.Ct(Now, string.Create(CultureInfo.InvariantCulture, $"{Where(n)}entry #{ct.Id}: mark={mark} (CONNMARK)")));
        }

        /// <summary>
        /// LOG's line, in the order <c>nf_log_ip_packet</c> writes its fields (the prefix, IN=, OUT=, SRC=, DST=, PROTO=,
        /// SPT=, DPT=, the TCP flags, MARK= when set); the model leaves out what it does not have (MAC, LEN, TOS, TTL, ID,
        /// WINDOW) and adds where the rule is.
        /// </summary>
        private string LogLine(int n, IptTarget.Log log, in Skb skb, XtTable table, IptRule rule, string? inDev, string? outDev)
        {
            var seg = skb.Seg;
            var t = seg.Tuple;
            var proto = seg.Icmp is not null ? "ICMP" : seg.IsUdp ? "UDP" : "TCP";
            var flags = seg.IsUdp || seg.Icmp is not null ? "" : " " + seg.FlagString();
            var mark = skb.Mark != 0 ? string.Create(CultureInfo.InvariantCulture, $" MARK=0x{skb.Mark:x}") : "";
            return string.Create(CultureInfo.InvariantCulture,
                $"{Where(n)}{log.Prefix}IN={inDev} OUT={outDev} SRC={t.Src.Ip} DST={t.Dst.Ip} PROTO={proto} SPT={t.Src.Port} DPT={t.Dst.Port}{flags}{mark} ({table.Table.Name()} -A {rule.ChainName} {rule.Spec})");
        }

        /// <summary>
        /// The packet's state as <c>-m conntrack --ctstate</c> and <c>-m state</c> see it (<c>conntrack_mt</c>): INVALID
        /// without an entry (the tracker refused it, or it may not open one), RELATED for an ICMP error tied to an entry,
        /// ESTABLISHED for a reply or once the entry has seen one (<c>IP_CT_ESTABLISHED</c>), NEW otherwise; SNAT and DNAT
        /// added from the entry's NAT bits.
        /// </summary>
        private static CtStates StateOf(in Skb skb)
        {
            if (skb.Untracked) return CtStates.Untracked;
            if (skb.Ct is not { } ct) return CtStates.Invalid;
            var state = skb.Seg.Icmp is not null ? CtStates.Related
                : skb.Dir == CtDirection.Reply || ct.Has(CtStatus.SeenReply) ? CtStates.Established
                : CtStates.New;
            if (ct.Has(CtStatus.SrcNat)) state |= CtStates.Snat;
            if (ct.Has(CtStatus.DstNat)) state |= CtStates.Dnat;
            return state;
        }

        /// <summary>
        /// A filtering table (raw, mangle or filter) at <paramref name="chain"/>, at the priority <see cref="HookOrder"/>
        /// gives it (<c>iptable_raw_hook</c>, <c>iptable_mangle_hook</c>, <c>iptable_filter_hook</c>). False: the packet is
        /// dropped, by DROP, by REJECT (which answers first) or by the chain's DROP policy.
        /// </summary>
        private bool TableHook(int n, XtTable table, ref Skb skb, IptChain chain, string? inDev, string? outDev)
        {
            var state = StateOf(skb);
            var rule = Verdict(n, table, table.Chain(chain), ref skb, inDev, outDev, ref state, out _);
            return Passes(n, skb, table, chain, rule);
        }

        /// <summary>
        /// A filtering table's verdict at <paramref name="chain"/> (the filter and raw tables): DROP drops silently, REJECT
        /// answers and drops, no decision falls to the chain's policy; false when the packet is dropped (with its event).
        /// </summary>
        private bool Passes(int n, in Skb skb, XtTable table, IptChain chain, IptRule? rule)
        {
            // The text only when the packet is dropped: an accepted packet allocates nothing here.
            string At() => $"{Where(n)}{table.Table.Name()} {IptRule.BuiltinName(chain)}";
            switch (rule?.Target)
            {
                case IptTarget.Drop:
                    Events.Add(new KernelEvent.Dropped(Now, skb.Seg, $"{At()}: dropped by -A {rule.ChainName} {rule.Spec}"));
                    return false;
                case IptTarget.Reject reject:
                    Events.Add(new KernelEvent.Dropped(Now, skb.Seg, $"{At()}: rejected by -A {rule.ChainName} {rule.Spec}"));
                    Reject(n, skb, reject.With);
                    return false;
                case null when table.Drops(chain):
                    Events.Add(new KernelEvent.Dropped(Now, skb.Seg, $"{At()}: dropped by the chain's policy (DROP)"));
                    return false;
                default:
                    return true;
            }
        }


        /// <summary>
        /// REJECT's answer (<c>reject_tg</c>). A TCP reset (<c>nf_send_reset</c>): none for a RST, else the segment
        /// <see cref="Tcp.ResetFor"/> makes (<c>nf_reject_ip_tcphdr_put</c> builds the same one as <c>tcp_v4_send_reset</c>;
        /// measured: RST seq = the ack, or RST|ACK ack = seq + 1 for a SYN), sent from this namespace as a new local packet:
        /// measured, conntrack tracks it like any (the entry it answers goes to CLOSE). An ICMP error (<c>nf_send_unreach</c>
        /// → <c>icmp_send</c>): from the packet's destination if it is local, else from the address the route back prefers
        /// (icmp_send's source selection as read; measured for forwarded traffic, example node-forward-reject: the pod saw the
        /// RST from the backend's address and the port unreachable from node's address on the pod's side).
        /// </summary>
        private void Reject(int n, in Skb skb, RejectWith with)
        {
            var seg = skb.Seg;
            if (with == RejectWith.TcpReset)
            {
                if (seg.IsUdp || seg.Icmp is not null) return;
                if (Tcp.ResetFor(seg, Segment.ConnectionOf(seg.Origin) + ".kernel") is not { } rst) return;
                _wire.Enqueue((n, rst));
                if (skb.Ct is not { } ct) return;
                _attached[rst] = (ct.Id, skb.Dir == CtDirection.Original ? CtDirection.Reply : CtDirection.Original);
                // nf_ct_set_closing → nf_conntrack_tcp_set_closing: the entry goes to CLOSE with CLOSE's timeout (measured:
                // an ESTABLISHED entry and an unreplied SYN_SENT one both read CLOSE, 10 s, after the reset).
                if (skb.Confirmed && _ct.Get(ct.Id) is { } live && live.State != TcpCtState.Close)
                {
                    var closed = TcpTracker.SetClosing(live, _namespaces[n].Sysctls, Now);
                    _ct.Update(closed);
                    Events.Add(new KernelEvent.Ct(Now, new CtNote(CtNoteKind.StateChange, closed.Id, closed.Orig, From: live.State, To: closed.State, Netns: _namespaces[n].Name)));
                }
                return;
            }
            var ns = _namespaces[n];
            var from = Fib.IsLocal(ns, seg.Tuple.Dst.Ip) ? seg.Tuple.Dst.Ip : Fib.Lookup(ns, seg.Tuple.Src.Ip) is { } back ? back.PrefSrc : seg.Tuple.Dst.Ip;
            SendIcmp(n, with switch
            {
                RejectWith.IcmpNetUnreachable => IcmpUnreach.Net,
                RejectWith.IcmpHostUnreachable => IcmpUnreach.Host,
                RejectWith.IcmpProtoUnreachable => IcmpUnreach.Protocol,
                RejectWith.IcmpNetProhibited => IcmpUnreach.NetProhibited,
                RejectWith.IcmpHostProhibited => IcmpUnreach.HostProhibited,
                RejectWith.IcmpAdminProhibited => IcmpUnreach.AdminProhibited,
                _ => IcmpUnreach.Port,
            }, seg, from);
        }

        /// <summary>
        /// The NAT decision the traversal under way leads to (its manip and packet origin: the count is read when a draw
        /// needs the name, as nothing changes it before <see cref="SetupInfo"/>), and how many statistic draws it made.
        /// </summary>
        private (bool Src, string Origin, int Draws) _draw;

        /// <summary>
        /// <c>statistic_mt</c> in random mode, <c>(get_random_u32() &amp; 0x7FFFFFFF) &lt; probability</c> with
        /// <c>probability = lround(0x80000000 * P)</c> (libxt_statistic): certain when that is 0 or 2^31, else a choice the
        /// model leaves open, keyed <c>DECISION:statN</c> in the nat table and <c>ORIGIN:TABLE-statK</c> in the others.
        /// </summary>
        private bool Statistic(double probability, IptTable table, string origin)
        {
            if (RuleMatch.StatisticCertain(probability) is { } certain) return certain;
            string key;
            if (table == IptTable.Nat)
            {
                var decision = ChoiceKey.Nat(_draw.Src, _draw.Origin, _decisions.GetValueOrDefault(_draw.Origin));
                key = string.Create(CultureInfo.InvariantCulture, $"{decision}:stat{_draw.Draws}");
                _draw.Draws++;
            }
            else
            {
                // Outside nat a draw leads to no NAT decision: it is named after its packet's origin and how many draws
                // that origin's packets made before it in the run (counted with the decisions, so the name is the same
                // in every run that reaches it the same way).
                var counter = "stat:" + origin;
                var k = _decisions.GetValueOrDefault(counter);
                _decisions.SetItem(counter, k + 1);
                key = string.Create(CultureInfo.InvariantCulture, $"{origin}:{table.Name()}-stat{k}");
            }
            var point = new ChoicePoint(ChoiceKind.Statistic, key, 2);
            var v = choices.Choose(point);
            Events.Add(new KernelEvent.Choice(Now, new ChoiceMade(point, v,
                [string.Create(CultureInfo.InvariantCulture, $"statistic matches (probability {probability})"), "statistic does not match"]), Segment.ConnectionOf(origin)));
            return v == 0;
        }

        /// <summary>
        /// An nth match reached (<c>statistic_mt</c>, XT_STATISTIC_MODE_NTH): the rule's counter in its table moves on, and
        /// the packet matches when it wraps (<see cref="XtTable.NthStep"/>). The counter is state of the namespace.
        /// </summary>
        private bool Nth(int n, IptTable table, IptRule rule)
        {
            var nf = _namespaces[n].Netfilter;
            var (match, next) = nf.Table(table).NthStep(rule);
            _namespaces[n] = _namespaces[n] with { Netfilter = nf.With(next) };
            return match;
        }

        /// <summary>Each namespace's "is this one of my addresses" (for -m addrtype), made once per step context; it reads the namespace as it is when asked.</summary>
        private readonly Dictionary<int, Func<IPv4Address, string?, bool>> _isLocal = [];

        private Func<IPv4Address, string?, bool> IsLocalIn(int n)
        {
            if (!_isLocal.TryGetValue(n, out var f))
                _isLocal[n] = f = (ip, device) => device is null ? Fib.IsLocal(_namespaces[n], ip) : Fib.IsLocalOn(_namespaces[n], ip, device);
            return f;
        }

        /// <summary>
        /// Notes a packet translated by <paramref name="ct"/>'s DNAT binding when no rule equal to the one that chose it
        /// is left in its namespace. A method of its own: a lambda over the rule in <see cref="NatHook"/> would allocate
        /// its closure on every call.
        /// </summary>
        private void StaleCheck(int n, Segment seg, CtEntry ct)
        {
            var chosenBy = ct.DnatRule!;
            if (_namespaces[ct.Netns].Netfilter.Table(chosenBy.Table).HasSameRule(chosenBy)) return;
            Events.Add(new KernelEvent.StaleBinding(Now, seg, ct.Id, $"-A {chosenBy.ChainName} {chosenBy.Spec}", _namespaces[n].Name));
        }

        /// <summary>
        /// <c>nf_nat_setup_info</c> for an unconfirmed entry, by the rule target <c>by</c> (null: the null binding, no rule
        /// matched). A decision that keeps the tuple returns the entry as it was and its done bit in <paramref name="pending"/>.
        /// </summary>
        private CtEntry SetupInfo(int n, CtEntry ct, NatRange range, Manip manip, string origin, IptRule? by, in NatSeen seen, out CtStatus pending)
        {
            pending = CtStatus.None;
            var curr = ct.Reply.Invert();
            var k = _decisions.GetValueOrDefault(origin);
            _decisions.SetItem(origin, k + 1);
            var key = ChoiceKey.Nat(manip == Manip.Src, origin, k);
            var outcome = NatSelection.GetUniqueTuple(curr, range, ct, manip, _ct, Now, choices, key);
            foreach (var made in outcome.Choices) Events.Add(new KernelEvent.Choice(Now, made, Segment.ConnectionOf(origin)));
            if (outcome.Evicted is { } victim)
            {
                _ct.Remove(victim);
                Events.Add(new KernelEvent.Ct(Now, string.Create(CultureInfo.InvariantCulture, $"{Where(n)}entry #{victim} evicted to free its reply tuple (nf_nat_used_tuple_harder)")));
            }
            var status = ct.Status | (manip == Manip.Src ? CtStatus.SrcNatDone : CtStatus.DstNatDone);
            if (outcome.Tuple != curr)
            {
                status |= manip == Manip.Src ? CtStatus.SrcNat : CtStatus.DstNat;
                Events.Add(new KernelEvent.Ct(Now, new CtNote(CtNoteKind.NatRewrite, ct.Id, curr, outcome.Tuple, Target: by?.Target, Flag: manip == Manip.Src, Netns: _namespaces[n].Name) { Decision = seen.With(by) }));
                return ct with { Reply = outcome.Tuple.Invert(), Status = status };
            }
            if (by is not null)
                Events.Add(new KernelEvent.Ct(Now, new CtNote(CtNoteKind.NatKept, ct.Id, curr, Target: by?.Target, Netns: _namespaces[n].Name) { Decision = seen.With(by) }));
            pending = manip == Manip.Src ? CtStatus.SrcNatDone : CtStatus.DstNatDone;
            return ct;
        }

        /// <summary><c>nf_nat_packet</c> / <c>nf_nat_manip_pkt</c>: rewrite to the inverse of the other direction's tuple.</summary>
        private static Segment NatPacket(Segment seg, CtEntry ct, CtDirection dir, Manip manip)
        {
            var bit = manip == Manip.Src ? CtStatus.SrcNat : CtStatus.DstNat;
            if (dir == CtDirection.Reply) bit = bit == CtStatus.SrcNat ? CtStatus.DstNat : CtStatus.SrcNat;
            if (!ct.Has(bit)) return seg;
            if (seg.Icmp is not null) return NatIcmp(seg, ct, dir, manip);
            var target = ct.Tuple(dir == CtDirection.Original ? CtDirection.Reply : CtDirection.Original).Invert();
            return manip == Manip.Src
                ? seg with { Tuple = seg.Tuple with { Src = target.Src } }
                : seg with { Tuple = seg.Tuple with { Dst = target.Dst } };
        }

        /// <summary><c>__nf_conntrack_confirm</c>: insert a new entry unless a tuple clashes; TCP clashes are dropped.</summary>
        private bool Confirm(int n, ref Skb skb)
        {
            if (skb.Ct is not { } ct || skb.Confirmed) return true;
            if (_ct.Clashes(ct, Now))
            {
                Count(n, c => c with { InsertFailed = c.InsertFailed + 1, Drop = c.Drop + 1 });
                // nf_ct_resolve_clash: TCP has no allow_clash. UDP does, but merges only with an entry of the very same flow
                // (__nf_ct_resolve_clash), and nf_ct_resolve_clash_harder's NAT_CLASH insertion is for an entry whose
                // original tuple clashed with one inserted by another CPU meanwhile: a sequence of commands reaches a
                // clash only through NAT giving up on a full range, which clashes on the reply tuple with another flow.
                Events.Add(new KernelEvent.Dropped(Now, skb.Seg, string.Create(CultureInfo.InvariantCulture,
                    $"{Where(n)}conntrack confirm: entry #{ct.Id} ({ct.Orig} | {ct.Reply}) clashes with an existing entry; {(ct.Proto == L4Proto.Udp ? "UDP merges a clash only with its own flow" : "TCP cannot resolve clashes")} (insert_failed, drop)")));
                return false;
            }
            ct = ct with { Status = ct.Status | skb.Pending | CtStatus.Confirmed };
            _ct.Insert(ct, Now);
            Count(n, c => c with { Insert = c.Insert + 1 });
            skb = skb with { Ct = ct, Confirmed = true, Pending = CtStatus.None };
            return true;
        }

        private void Count(int n, Func<CtCounters, CtCounters> f) => _counters[n] = f(_counters[n]);

        private static string Describe(Segment s) => $"{s.Tuple.Src} > {s.Tuple.Dst} [{s.FlagString()}]";

        // ------------------------------------------------------------ the socket layer

        /// <summary><c>tcp_v4_rcv</c> in namespace <paramref name="n"/>: established hash first, then the listener, else a RST from the stack.</summary>
        private void Receive(int n, Segment seg)
        {
            if (seg.Icmp is not null)
            {
                ReceiveIcmp(n, seg);
                return;
            }
            if (seg.IsUdp)
            {
                ReceiveUdp(n, seg);
                return;
            }
            var end = _sockets.Established(seg.Tuple, n);
            if (end is not null)
            {
                var r = Tcp.Receive(end, seg, Now);
                Events.Add(new KernelEvent.Delivered(Now, seg, end.Name, r.Reaction) { Queued = r.End.ReceivedCount > end.ReceivedCount ? seg.Payload : null });
                Apply(r, seg);
                if (r.ReopenIss is { } iss && _sockets.IsListening(seg.Tuple.Dst, n)) Listener(n, seg, iss);
                return;
            }
            if (_sockets.IsListening(seg.Tuple.Dst, n))
            {
                Listener(n, seg, null);
                return;
            }
            Events.Add(new KernelEvent.Delivered(Now, seg, "(no socket)", "no socket: RST"));
            if (Tcp.ResetFor(seg, Segment.ConnectionOf(seg.Origin) + ".kernel") is { } rst) _wire.Enqueue((n, rst));
        }

        /// <summary>Each listener's name in events, made once (one string per accepted connection otherwise).</summary>
        private Dictionary<SockAddr, string>? _listenerNames;

        private void Listener(int n, Segment seg, uint? iss)
        {
            _listenerNames ??= [];
            if (!_listenerNames.TryGetValue(seg.Tuple.Dst, out var listener))
                _listenerNames[seg.Tuple.Dst] = listener = $"(listener {seg.Tuple.Dst})";
            if (seg.Has(TcpFlags.Rst))
            {
                Events.Add(new KernelEvent.Delivered(Now, seg, listener, "RST to listener ignored"));
                return;
            }
            if (seg.Has(TcpFlags.Ack) || !seg.Has(TcpFlags.Syn))
            {
                Events.Add(new KernelEvent.Delivered(Now, seg, listener, seg.Has(TcpFlags.Ack) ? "ACK to listener: RST" : "dropped"));
                if (seg.Has(TcpFlags.Ack) && Tcp.ResetFor(seg, Segment.ConnectionOf(seg.Origin) + ".kernel") is { } rst) _wire.Enqueue((n, rst));
                return;
            }
            var name = Segment.ConnectionOf(seg.Origin) + ".server";
            if (_sockets.End(name) is { Gone: false })
            {
                var k = 2;
                while (_sockets.End(string.Create(CultureInfo.InvariantCulture, $"{name}#{k}")) is { Gone: false }) k++;
                name = string.Create(CultureInfo.InvariantCulture, $"{name}#{k}");
            }
            var r = Tcp.Accept(name, seg, Now, NextIsnClock(), iss);
            Events.Add(new KernelEvent.Delivered(Now, seg, listener, "new request " + name));
            Apply(n == 0 ? r : r with { End = r.End with { Netns = n } }, seg);
        }
    }
}
