using System.Collections.Immutable;
using System.Globalization;
using ConntrackModel.Model.Addressing;
using ConntrackModel.Model.Choices;
using ConntrackModel.Model.Iptables;
using ConntrackModel.Model.Kernel;
using ConntrackModel.Model.Scenarios;
using ConntrackModel.Properties.Configs;

namespace ConntrackModel.Properties.Setups;

/// <summary>
/// Turns a user's setup (a scenario of namespaces, links, addresses, routes, sysctls, rules and listeners) into a
/// configuration <c>check</c> generates workloads for (<c>ctmodel check --setup FILE</c>): the setup runs first as the
/// user wrote it, then connections from every namespace that has an address to every listener and every address and
/// port the nat rules match (<see cref="SetupSpace"/>), sends, closes, aborts, short sleeps, and the events asked for.
/// </summary>
public static class SetupSpaces
{
    /// <summary>The idle timeout (TCP ESTABLISHED, UDP) <see cref="SetupEvents.Expiry"/> sets in every tracking namespace, in seconds.</summary>
    public const int ExpirySeconds = 2;

    /// <summary>Short sleeps: retransmissions fire, no default conntrack timeout (10 s and up) runs out.</summary>
    private const long ShortSleepMs = 1500;

    /// <summary>Ports a bound connection may take besides the rules' own.</summary>
    private static readonly int[] ExtraPorts = [40000, 50000];

    /// <summary>At most this many ports in the pool: bound ports must meet each other for a collision.</summary>
    private const int MaxPorts = 6;

    /// <summary>Is the command a netfilter line of the setup (what tracking depends on): an iptables command, a restore, modprobe?</summary>
    public static bool IsNetfilterLine(Command command) => command is Command.IptablesCommand or Command.IptablesRestore or Command.Modprobe;

    /// <summary>Is the command one a setup may hold (no connection, no time passing, no conntrack table change)?</summary>
    public static bool IsSetupLine(Command command) =>
        IsNetfilterLine(command) || command is Command.Listen or Command.Sysctl or Command.IpCommand;

    /// <summary>Parses <c>--events</c>: a comma-separated list of flush, expiry and late (or none); null with an error.</summary>
    public static (SetupEvents Events, string? Error) ParseEvents(string? text)
    {
        if (text is null or "none") return (SetupEvents.None, null);
        var events = SetupEvents.None;
        foreach (var word in text.Split(','))
        {
            events |= word switch
            {
                "flush" => SetupEvents.Flush,
                "expiry" => SetupEvents.Expiry,
                "late" => SetupEvents.Late,
                _ => SetupEvents.None,
            };
            if (word is not ("flush" or "expiry" or "late")) return (SetupEvents.None, $"--events: unknown event '{word}': expected a comma-separated list of flush, expiry and late");
        }
        return (events, null);
    }

    /// <summary>The events as <c>--events</c> writes them: <c>flush,expiry,late</c>.</summary>
    public static string EventsText(SetupEvents events) =>
        string.Join(",", Enum.GetValues<SetupEvents>().Where(e => e != SetupEvents.None && events.HasFlag(e)).Select(e => e.ToString().ToLowerInvariant()));

    /// <summary>
    /// With <c>--shrink-setup</c>: <paramref name="restore"/> without the rule line <paramref name="line"/> of its dump (an
    /// <c>-A</c> or <c>-I</c> line; null for any other line, or if the rest no longer parses), read again as written.
    /// </summary>
    public static Command.IptablesRestore? WithoutDumpLine(Command.IptablesRestore restore, int line)
    {
        ArgumentNullException.ThrowIfNull(restore);
        if (line < 0 || line >= restore.Dump.Length || !restore.Dump[line].TrimStart().StartsWith("-A", StringComparison.Ordinal) &&
            !restore.Dump[line].TrimStart().StartsWith("-I", StringComparison.Ordinal)) return null;
        var text = (restore with { Dump = restore.Dump.RemoveAt(line) }).ToScript();
        var parsed = ScenarioParser.Parse("shrink", text + "\n");
        return parsed.Ok && parsed.Scenario!.Lines is [{ Command: Command.IptablesRestore r }] ? r : null;
    }

    /// <summary>
    /// Is <paramref name="shrunk"/> what shrinking may make of <paramref name="original"/>: the same command, or the same
    /// restore with some of its dump's lines dropped (in order)?
    /// </summary>
    public static bool ShrunkFrom(Command shrunk, Command original)
    {
        ArgumentNullException.ThrowIfNull(shrunk);
        ArgumentNullException.ThrowIfNull(original);
        if (shrunk.Equals(original)) return true;
        return shrunk is Command.IptablesRestore s && original is Command.IptablesRestore o && s.Netns == o.Netns && s.NoFlush == o.NoFlush &&
               IsSubsequence(s.Dump, o.Dump, (a, b) => a == b);
    }

    /// <summary>Are <paramref name="small"/>'s items, in order, among <paramref name="large"/>'s (<paramref name="same"/> pairing them)?</summary>
    public static bool IsSubsequence<T, TU>(IReadOnlyList<T> small, IReadOnlyList<TU> large, Func<T, TU, bool> same)
    {
        ArgumentNullException.ThrowIfNull(small);
        ArgumentNullException.ThrowIfNull(large);
        ArgumentNullException.ThrowIfNull(same);
        var j = 0;
        foreach (var x in small)
        {
            while (j < large.Count && !same(x, large[j])) j++;
            if (j == large.Count) return false;
            j++;
        }
        return true;
    }

    /// <summary>
    /// What shrinking dropped of the setup (<c>--shrink-setup</c>), as lines of <see cref="SetupSpace.File"/>: each command
    /// of the file that the minimal trial no longer has, and each rule line missing from a restore it kept (its line in
    /// the here-document).
    /// </summary>
    public static ImmutableArray<int> Dropped(SetupSpace space, IEnumerable<Command> kept)
    {
        ArgumentNullException.ThrowIfNull(space);
        ArgumentNullException.ThrowIfNull(kept);
        var rest = kept.ToList();
        var dropped = ImmutableArray.CreateBuilder<int>();
        foreach (var (command, line) in space.Lines)
        {
            var i = rest.FindIndex(c => ShrunkFrom(c, command));
            if (i < 0)
            {
                dropped.Add(line);
                continue;
            }
            if (rest[i] is Command.IptablesRestore s && command is Command.IptablesRestore o && !s.Dump.SequenceEqual(o.Dump))
            {
                var j = 0;
                for (var k = 0; k < o.Dump.Length; k++)
                {
                    if (j < s.Dump.Length && s.Dump[j] == o.Dump[k]) j++;
                    else dropped.Add(line + 1 + k);
                }
            }
            rest.RemoveAt(i);
        }
        dropped.Sort();
        return dropped.ToImmutable();
    }

    /// <summary>Line numbers with runs written as ranges: "11, 15, 26-28".</summary>
    public static string Ranges(IReadOnlyList<int> lines)
    {
        ArgumentNullException.ThrowIfNull(lines);
        var parts = new List<string>();
        for (var i = 0; i < lines.Count;)
        {
            var j = i;
            while (j + 1 < lines.Count && lines[j + 1] == lines[j] + 1) j++;
            parts.Add(j == i ? lines[i].ToString(CultureInfo.InvariantCulture) : string.Create(CultureInfo.InvariantCulture, $"{lines[i]}-{lines[j]}"));
            i = j + 1;
        }
        return string.Join(", ", parts);
    }

    /// <summary>
    /// The configuration for <paramref name="setup"/> (read from <paramref name="file"/>), or the reason there is none:
    /// a line that is not setup, a line the model refuses, or nothing to connect to.
    /// </summary>
    /// <remarks>
    /// <paramref name="pinnedLines"/>: lines of the setup that stay in it when <see cref="SetupEvents.Late"/> defers the
    /// netfilter lines (what a mitigation adds at boot, <see cref="Advice.Mitigations"/>).
    /// </remarks>
    public static (CheckConfig? Config, string? Error) From(string file, Scenario setup, SetupEvents events, bool shrinkSetup = false, IReadOnlySet<int>? pinnedLines = null)
    {
        ArgumentNullException.ThrowIfNull(file);
        ArgumentNullException.ThrowIfNull(setup);
        foreach (var line in setup.Lines)
        {
            if (!IsSetupLine(line.Command))
                return (null, $"{file}:{line.Line}: '{line.Text}' is not setup: a setup holds namespaces, links, addresses, routes, sysctls, rules and listeners; check generates the connections");
        }
        if (!setup.Choices.IsEmpty) return (null, $"{file}: a setup pins no choices (choose): the generated workloads make their own");
        var run = Simulation.Run(setup, ChoiceSource.First);
        if (run.Rejected is not null) return (null, $"{file}:{run.RejectedLine?.Line}: {run.Rejected}");
        var world = run.Final;

        var origins = Origins(world);
        var targets = Targets(world);
        if (targets.IsEmpty) return (null, $"{file}: nothing to connect to: the setup has no listener and no nat rule with -d ADDR/32 --dport PORT");
        if (origins.IsEmpty) return (null, $"{file}: no namespace has an address on a device that is up to connect from");

        var deferred = events.HasFlag(SetupEvents.Late)
            ? setup.Lines.Where(l => pinnedLines is null || !pinnedLines.Contains(l.Line)).Select(l => l.Command).Where(IsNetfilterLine).ToImmutableArray()
            : [];
        if (events.HasFlag(SetupEvents.Late) && deferred.IsEmpty) return (null, $"{file}: --events late: the setup has no iptables, iptables-restore or modprobe line to come late");
        var tracking = world.Namespaces.Where(ns => ns.Netfilter.Tracking).Select(ns => ns.Name).ToImmutableArray();
        var fixedSetup = setup.Lines.Select(l => l.Command).Where(c => !deferred.Any(d => ReferenceEquals(d, c))).ToList();
        if (events.HasFlag(SetupEvents.Expiry))
        {
            var seconds = ExpirySeconds.ToString(CultureInfo.InvariantCulture);
            foreach (var ns in tracking)
            {
                fixedSetup.Add(new Command.Sysctl("net.netfilter.nf_conntrack_tcp_timeout_established", seconds) { Netns = ns });
                fixedSetup.Add(new Command.Sysctl(SysctlKeys.UdpTimeout, seconds) { Netns = ns });
                fixedSetup.Add(new Command.Sysctl(SysctlKeys.UdpTimeoutStream, seconds) { Netns = ns });
            }
        }
        var space = new SetupSpace(file, origins, targets, Ports(world), deferred, tracking, events)
        {
            RuleLines = RuleLines(file, setup),
            ShrinkSetup = shrinkSetup,
            Lines = [.. setup.Lines.Select(l => (l.Command, l.Line))],
        };
        var name = "setup:" + Path.GetFileName(file);
        var words = events == SetupEvents.None ? "no events" : "events " + EventsText(events);
        ImmutableArray<OpKind> alphabet = [OpKind.Connect, OpKind.Send, OpKind.Close, OpKind.Abort, OpKind.Sleep];
        if (events.HasFlag(SetupEvents.Flush)) alphabet = alphabet.Add(OpKind.ConntrackFlush);
        var config = new CheckConfig(name, $"Workloads around {file} ({words}): {origins.Length} origins, {targets.Length} targets.", [.. fixedSetup], false,
            alphabet, [], events.HasFlag(SetupEvents.Expiry) ? 3 * ExpirySeconds * 1000L : ShortSleepMs, 16, null)
        {
            Space = space,
            Invariants = setup.Invariants,
        };
        return (config, null);
    }

    /// <summary>
    /// Each rule the setup adds and where: an <c>iptables -A/-I/-R</c> line, or a line of a restore's here-document (its
    /// first line is the one after the <c>iptables-restore</c> line), or of the file a restore reads.
    /// </summary>
    private static ImmutableArray<(IptRule Rule, string Where)> RuleLines(string file, Scenario setup)
    {
        var b = ImmutableArray.CreateBuilder<(IptRule, string)>();
        foreach (var line in setup.Lines)
        {
            string At(int dumpLine) => line.Text.Contains("<<", StringComparison.Ordinal)
                ? string.Create(CultureInfo.InvariantCulture, $"{file}:{line.Line + dumpLine}")
                : string.Create(CultureInfo.InvariantCulture, $"line {dumpLine} of the file read at {file}:{line.Line}");
            switch (line.Command)
            {
                case Command.IptablesAdd add:
                    b.Add((add.Rule, string.Create(CultureInfo.InvariantCulture, $"{file}:{line.Line}")));
                    break;
                case Command.IptablesReplace replace:
                    b.Add((replace.Rule, string.Create(CultureInfo.InvariantCulture, $"{file}:{line.Line}")));
                    break;
                case Command.IptablesRestore restore:
                    foreach (var item in restore.Blocks.SelectMany(block => block.Items))
                    {
                        if (item.Command is Command.IptablesAdd a) b.Add((a.Rule, At(item.Line)));
                        else if (item.Command is Command.IptablesReplace r) b.Add((r.Rule, At(item.Line)));
                    }
                    break;
            }
        }
        return b.ToImmutable();
    }

    /// <summary>Every address of a device that is up, in each namespace (127.0.0.1 only where something listens on loopback).</summary>
    private static ImmutableArray<SetupOrigin> Origins(World world)
    {
        var loopbackListeners = world.Sockets.ListenersByNetns.Where(l => l.Addr.Ip.IsLoopback).Select(l => l.Netns)
            .Concat(world.Sockets.UdpSockets.Where(u => u.IsServer && !u.Closed && u.Local.Ip.IsLoopback).Select(u => u.Netns)).ToHashSet();
        var b = ImmutableArray.CreateBuilder<SetupOrigin>();
        foreach (var ns in world.Namespaces)
        {
            foreach (var dev in ns.Devices.Where(d => d.Up))
            {
                foreach (var a in dev.Addresses)
                {
                    if (a.Local.IsLoopback && !loopbackListeners.Contains(ns.Index)) continue;
                    b.Add(new SetupOrigin(ns.Name, a.Local));
                }
            }
        }
        return b.ToImmutable();
    }

    /// <summary>
    /// The listeners (TCP and UDP), and every address and port the nat table's PREROUTING and OUTPUT traversals match
    /// exactly: along each path of jumps from those chains, a rule whose matches with the jumps' before it give one
    /// <c>--dport</c> and either <c>-d ADDR/32</c> (a Service's ClusterIP, a DNAT's own address) or <c>-m addrtype
    /// --dst-type LOCAL</c> (a NodePort: every address of that namespace).
    /// </summary>
    private static ImmutableArray<SetupTarget> Targets(World world)
    {
        var b = new List<SetupTarget>();
        foreach (var (n, addr) in world.Sockets.ListenersByNetns.OrderBy(l => l.Netns).ThenBy(l => l.Addr.ToString(), StringComparer.Ordinal))
            b.Add(new SetupTarget(addr, L4Proto.Tcp, $"listener in {world.Namespaces[n].Display}"));
        foreach (var u in world.Sockets.UdpSockets.Where(u => u.IsServer && !u.Closed).OrderBy(u => u.Name, StringComparer.Ordinal))
            b.Add(new SetupTarget(u.Local, L4Proto.Udp, $"UDP listener in {world.Namespaces[u.Netns].Display}"));
        foreach (var ns in world.Namespaces)
        {
            var nat = ns.Netfilter.Nat;
            var local = ns.Devices.Where(dev => dev.Up).SelectMany(dev => dev.Addresses).Where(a => !a.Local.IsLoopback).Select(a => a.Local).ToList();
            foreach (var hook in new[] { IptChain.PreRouting, IptChain.Output })
                Walk(nat, nat.Chain(hook), Anything, [], ns.Display, local, b);
        }
        return [.. b.DistinctBy(t => (t.Address, t.Proto))];
    }

    /// <summary>
    /// What the rules along a path of jumps require of a packet's destination (null: nothing yet): its address, the ports
    /// to try (from the last rule that named destination ports: a port, a range's ends, each of a multiport list's ports
    /// and ranges' ends), and every port test along the path, which each port tried must pass.
    /// </summary>
    private sealed record PathMatch(IPv4Address? Destination, ImmutableArray<int> Ports, Func<int, bool> Accepts, L4Proto? Proto, bool Local);

    private static readonly PathMatch Anything = new(null, [], static _ => true, null, false);

    /// <summary>The destination ports a rule names (none if negated): <c>--dport P[:Q]</c>'s ends, <c>-m multiport --dports|--ports</c>' ports and ranges' ends.</summary>
    private static IEnumerable<int> NamedPorts(RuleMatch m)
    {
        if (m.DestinationPort is { } dp && !m.Not.HasFlag(Negated.DestinationPort))
        {
            yield return dp.Min;
            if (dp.Max != dp.Min) yield return dp.Max;
        }
        if (m.MultiPorts is { Which: not PortList.Side.Source } mp && !m.Not.HasFlag(Negated.MultiPorts))
        {
            foreach (var r in mp.Ranges)
            {
                yield return r.Min;
                if (r.Max != r.Min) yield return r.Max;
            }
        }
    }

    /// <summary>Does destination port <paramref name="port"/> pass the rule's port tests (<c>--dports</c> only; <c>--ports</c> may match on the source port instead)?</summary>
    private static bool PortPasses(RuleMatch m, int port) =>
        (m.DestinationPort is not { } dp || dp.Contains(port) != m.Not.HasFlag(Negated.DestinationPort)) &&
        (m.MultiPorts is not { Which: PortList.Side.Destination } mp || mp.Matches(0, port) != m.Not.HasFlag(Negated.MultiPorts));

    private static void Walk(XtTable nat, ImmutableList<IptRule> chain, PathMatch inherited, HashSet<string> path, string where, List<IPv4Address> local, List<SetupTarget> into)
    {
        foreach (var rule in chain)
        {
            var m = rule.Match;
            // A negated match, or a wider prefix, does not single out one destination: the path is left alone.
            var dst = m.Destination is { PrefixLength: 32 } d && !m.Not.HasFlag(Negated.Destination) ? d.Network : inherited.Destination;
            var accepts = inherited.Accepts;
            Func<int, bool> here0 = p => accepts(p) && PortPasses(m, p);
            var named = NamedPorts(m).Distinct().ToImmutableArray();
            var ports = (named.IsEmpty ? inherited.Ports : named).Where(here0).ToImmutableArray();
            var here = new PathMatch(dst, ports, here0, m.Protocol ?? inherited.Proto, inherited.Local || (m.DestinationType == AddrType.Local && !m.Not.HasFlag(Negated.DestinationType)));
            foreach (var p in here.Ports)
            {
                var why = $"{where}: -A {rule.ChainName} {rule.Spec}";
                var proto = here.Proto ?? L4Proto.Tcp;
                if (here.Destination is { } ip) into.Add(new SetupTarget(new SockAddr(ip, p), proto, why));
                else if (here.Local) into.AddRange(local.Select(a => new SetupTarget(new SockAddr(a, p), proto, why)));
            }
            if (rule.Target is IptTarget.Jump j && path.Add(j.Chain))
            {
                Walk(nat, nat.UserChain(j.Chain), here, path, where, local, into);
                path.Remove(j.Chain);
            }
        }
    }

    /// <summary>The NAT rules' port ranges' ends (where a bound port meets a NAT binding), then a few common ports.</summary>
    private static ImmutableArray<int> Ports(World world)
    {
        var ports = new List<int>();
        foreach (var rule in world.Namespaces.SelectMany(ns => ns.Netfilter.Nat.Rules))
        {
            var range = rule.Target switch
            {
                IptTarget.Snat s => s.Range,
                IptTarget.Masquerade m => m.Range,
                IptTarget.Dnat d => d.Range,
                _ => null,
            };
            if (range is not { ProtoSpecified: true }) continue;
            ports.Add(range.MinPort);
            ports.Add(range.MaxPort);
        }
        return [.. ports.Concat(ExtraPorts).Distinct().Take(MaxPorts)];
    }
}
