using System.Collections.Immutable;
using System.Globalization;
using ConntrackModel.Model.Addressing;
using ConntrackModel.Model.Choices;
using ConntrackModel.Model.Iptables;
using ConntrackModel.Model.Kernel;
using ConntrackModel.Model.Nat;
using ConntrackModel.Model.Scenarios;

namespace ConntrackModel.Solver.Setups;

/// <summary>
/// What <c>prove --setup</c> searches over, as the property runner's setup space gives it (the solver does not
/// reference the property project): the setup's commands that run first, the netfilter lines <c>late</c> defers, where a
/// connection may start (a namespace and an address of it) and where it may go, the namespaces that track, and the
/// events allowed.
/// </summary>
public sealed record SetupInput(
    string File,
    ImmutableArray<Command> Fixed,
    ImmutableArray<Command> Deferred,
    ImmutableArray<(string? Netns, IPv4Address Address)> Origins,
    ImmutableArray<(SockAddr Address, L4Proto Proto)> Targets,
    ImmutableArray<string?> Tracking,
    bool Late,
    bool Flush,
    bool Expiry)
{
    /// <summary>Where each rule is written (<c>FILE:LINE</c>), for refusals; null when unknown.</summary>
    public Func<IptRule, string?> WhereIs { get; init; } = _ => null;
}

/// <summary>
/// One kind of connect the symbolic engine may make: from a namespace and address to a target, from a bound port or
/// an automatic one in one interval of ports (the rules name no port a client's port can meet, so one interval), with
/// the kernel's statistic draws answered one way; and what the model does with such a connect before the setup's
/// netfilter lines (<see cref="Before"/>, only with <c>late</c>) and after them (<see cref="After"/>), measured by
/// running one connect of the kind in the model.
/// </summary>
public sealed record FlowClass(
    int Id,
    string? Netns,
    IPv4Address Source,
    SockAddr Target,
    bool Bound,
    ImmutableArray<int> Draws,
    FlowBehaviour? Before,
    FlowBehaviour After)
{
    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"{Netns ?? "init"} {Source} -> {Target} ({(Bound ? "bound" : "automatic port")}{(Draws.IsEmpty ? "" : ", draws " + string.Join("", Draws))})");
}

/// <summary>
/// What a connect of a <see cref="FlowClass"/> does: whether it is established; the server end it reaches
/// (<see cref="Server"/>, its namespace and address); the address the server sees it from; and, when a namespace
/// tracks it (<see cref="Tracked"/>), the NAT decision there: the address it is given and its port rule (keep the port
/// unless taken, else any free port of <see cref="Low"/>-<see cref="High"/>; with <see cref="RandomAll"/> any free port;
/// a single-port range keeps its port even when taken, and the clash drops the SYN at confirm), and the reply tuple's
/// other end (<see cref="Peer"/>), which with the address names the entries that can take its port.
/// </summary>
public sealed record FlowBehaviour(bool Established, string Server, IPv4Address SeenFrom, bool Tracked, int TrackedIn, SockAddr Peer,
    IPv4Address NatAddress, int Low, int High, bool RandomAll, bool SinglePort)
{
    /// <summary>
    /// Can the port search give up although a port is free? For a range of at most 128 ports the kernel's one round
    /// starts at a random u16 offset; when the size does not divide 65536, a start near 65535 wraps mid-round and skips
    /// ports (<c>nf_nat_l4proto_unique_tuple</c>; the model enumerates those outcomes too).
    /// </summary>
    public bool WrapMayDrop => Tracked && !SinglePort && High - Low + 1 <= 128 && 65536 % (High - Low + 1) != 0;

    /// <summary>The server end's identity: namespace, address and port it listens on, and the address it sees.</summary>
    public string ServerKey => $"{Server}<-{SeenFrom}";

    /// <summary>The entries whose reply tuples this one's can equal: same table, same peer, same NAT address.</summary>
    public string EntryKey => string.Create(CultureInfo.InvariantCulture, $"{TrackedIn}:{Peer}<-{NatAddress}");
}

/// <summary>A setup's flow classes, or why the symbolic engine cannot express it.</summary>
public sealed record SetupFragment(SetupInput Input, ImmutableArray<FlowClass> Classes, ImmutableDictionary<string, (int Low, int High)> EphemeralRanges)
{
    /// <summary>The setup's TCP listeners (namespace, address or any, port): a client's bind() and port search avoid them.</summary>
    public ImmutableArray<(string? Netns, IPv4Address Address, bool Any, int Port)> Listeners { get; init; } = [];

    /// <summary>Ports a bound connect may take: the null binding's upper port class, 1024 and up (below it the classes differ).</summary>
    public static int BoundLow => NullLow;

    /// <summary>
    /// The classes of <paramref name="input"/>, by running one connect of each kind in the model (every statistic draw
    /// both ways), or the reason the symbolic engine cannot express the setup: a rule whose answer a client's or a NAT
    /// port could change, an nth counter (history), an address or port range chosen by NAT, UDP, or a connection tracked
    /// in two namespaces along its path.
    /// </summary>
    public static (SetupFragment? Fragment, string? Refusal) Build(SetupInput input)
    {
        ArgumentNullException.ThrowIfNull(input);
        if (input.Targets.Any(t => t.Proto != L4Proto.Tcp)) return (null, "UDP targets: prove --setup covers TCP connects");
        var before = Run(input.Fixed, World.Initial);
        if (before.Rejected is { } r0) return (null, "the setup is rejected: " + r0);
        var after = input.Deferred.IsEmpty ? before : Run(input.Deferred, before.Final);
        if (after.Rejected is { } r1) return (null, "the setup is rejected: " + r1);
        foreach (var ns in after.Final.Namespaces)
        {
            foreach (var rule in ns.Netfilter.Rules)
            {
                var why = RuleRefusal(rule);
                if (why is null) continue;
                var where = input.WhereIs(rule) is { } w ? w + ": " : "";
                return (null, $"{where}-A {rule.ChainName} {rule.Spec} ({rule.Table.Name()} table{(ns.Name is null ? "" : ", " + ns.Name)}): {why}");
            }
        }
        var ranges = after.Final.Namespaces.ToImmutableDictionary(ns => ns.Name ?? "", ns => (ns.Sysctls.LocalPortLow, ns.Sysctls.LocalPortHigh));
        // With more ports of the range's parity than connections, the port search never needs its second pass.
        if (after.Final.Namespaces.FirstOrDefault(ns => ns.Sysctls.LocalPortHigh - ns.Sysctls.LocalPortLow + 1 < 2 * SetupProver.MaxSlots + 2) is { } small)
            return (null, $"{small.Display}: ip_local_port_range {small.Sysctls.LocalPortLow}-{small.Sysctls.LocalPortHigh} has fewer than {2 * SetupProver.MaxSlots + 2} ports: the port search's second pass (the other parity) is not in the symbolic engine");
        var classes = ImmutableArray.CreateBuilder<FlowClass>();
        foreach (var (netns, address) in input.Origins)
        {
            foreach (var (target, _) in input.Targets)
            {
                foreach (var bound in new[] { true, false })
                {
                    var probe = new Command.Connect("P", bound ? new SockAddr(address, ProbePort) : null, target) { Netns = netns };
                    // An automatic port leaves from the route's source: a kind only for the origin address routing picks.
                    var (all, complete) = Draws(after.Final, probe);
                    if (!complete) return (null, $"{netns ?? "init"} {address} -> {target}: more than {MaxDrawSequences} answers to the statistic draws of one connect");
                    foreach (var (draws, pins) in all)
                    {
                        var (a, why) = Behaviour(after.Final, probe, pins);
                        if (why is not null) return (null, $"{netns ?? "init"} {address} -> {target}: {why}");
                        if (!bound && a!.Value.Source != address) continue;
                        FlowBehaviour? b = null;
                        if (input.Late)
                        {
                            var (bb, whyBefore) = Behaviour(before.Final, probe, pins);
                            if (whyBefore is not null) return (null, $"{netns ?? "init"} {address} -> {target} before the setup's rules: {whyBefore}");
                            if (bb!.Value.Draws > 0) return (null, $"{netns ?? "init"} {address} -> {target}: a statistic draw before the setup's rules (a rule that stays at boot); the kinds of connect are the ones after them");
                            b = bb!.Value.Behaviour;
                        }
                        classes.Add(new FlowClass(classes.Count, netns, address, target, bound, draws, b, a!.Value.Behaviour));
                    }
                }
            }
        }
        if (classes.Count == 0) return (null, "no connect from any origin reaches a target");
        var listeners = after.Final.Sockets.ListenersByNetns
            .Select(l => (after.Final.Namespaces[l.Netns].Name, l.Addr.Ip, l.Addr.Ip.Value == 0, l.Addr.Port)).ToImmutableArray();
        return (new SetupFragment(input, classes.ToImmutable(), ranges) { Listeners = listeners }, null);
    }

    /// <summary>
    /// Why a rule is outside the fragment, or null. A port match outside the nat table sees a client's port (a reply's
    /// destination) or a NAT port; in the nat table a source port match sees a client's: either would split a class.
    /// An nth counter answers by how many connections came before.
    /// </summary>
    private static string? RuleRefusal(IptRule rule)
    {
        var m = rule.Match;
        if (m.Nth is not null) return "-m statistic --mode nth counts the packets before it; the symbolic engine has no counter";
        if (m.States is { } st && (st & (CtStates.Snat | CtStates.Dnat)) != 0)
            return "--ctstate SNAT/DNAT: whether NAT changed a tuple depends on the ports other connections hold";
        if (m.Status is { } status && (status & (Model.Conntrack.CtStatus.SrcNat | Model.Conntrack.CtStatus.DstNat)) != 0)
            return "--ctstatus SNAT/DNAT: whether NAT changed a tuple depends on the ports other connections hold";
        if (m.SourcePort is not null || m.MultiPorts is { Which: not PortList.Side.Destination })
            return "a source port match: a client's port could change its answer, and the symbolic engine does not split connections by port";
        if (rule.Table != IptTable.Nat && (m.DestinationPort is not null || m.MultiPorts is not null))
            return "a port match outside the nat table sees replies, whose destination port is a client's: the symbolic engine does not split connections by port";
        if (rule.Target is IptTarget.Snat { Range: var sr } && sr.MapIps && sr.MinIp != sr.MaxIp) return "SNAT to an address range: the symbolic engine has one NAT address per connection kind";
        if (rule.Target is IptTarget.Dnat { Range: var dr } && ((dr.MapIps && dr.MinIp != dr.MaxIp) || (dr.ProtoSpecified && dr.MinPort != dr.MaxPort)))
            return "DNAT to a range: the symbolic engine has one destination per connection kind";
        return null;
    }

    private static (World Final, string? Rejected) Run(ImmutableArray<Command> commands, World start)
    {
        var sim = Simulation.Run(Scenario.Of("setup", [.. commands]), ChoiceSource.First, start);
        return (sim.Final, sim.Rejected);
    }

    /// <summary>The port a bound probe binds: any will do, no rule the fragment admits looks at a client's port.</summary>
    private const int ProbePort = 40999;

    /// <summary>
    /// Every answer to the statistic draws one connect of the kind meets: the sequence of answers in order, and the pins
    /// (draw keys and answers) that make a run take it; false when there are more than <see cref="MaxDrawSequences"/>.
    /// </summary>
    private static (List<(ImmutableArray<int> Answers, ImmutableDictionary<string, int> Pins)> Found, bool Complete) Draws(World world, Command.Connect probe)
    {
        var found = new List<(ImmutableArray<int> Answers, ImmutableDictionary<string, int> Pins)>();
        var todo = new Stack<ImmutableDictionary<string, int>>();
        todo.Push(ImmutableDictionary<string, int>.Empty);
        while (todo.Count > 0)
        {
            if (found.Count >= MaxDrawSequences) return (found, false);
            var pins = todo.Pop();
            var sim = Simulation.Run(Scenario.Of("probe", [probe]), new ScriptedChoices(pins, ChoiceSource.First), world);
            var made = sim.Events.OfType<KernelEvent.Choice>().Where(c => c.Made.Point.Kind == ChoiceKind.Statistic).ToList();
            // Branch on each draw this run met first, with the ones before it as this run answered them.
            var fixedSoFar = pins;
            foreach (var c in made.Where(c => !pins.ContainsKey(c.Made.Point.Key)))
            {
                todo.Push(fixedSoFar.SetItem(c.Made.Point.Key, 1));
                fixedSoFar = fixedSoFar.SetItem(c.Made.Point.Key, c.Made.Value);
            }
            // This run answered every draw it made (new keys 0, "matches"): one sequence, and the pins that give it.
            ImmutableArray<int> answers = [.. made.Select(c => c.Made.Value)];
            if (!found.Any(f => f.Answers.SequenceEqual(answers))) found.Add((answers, fixedSoFar));
        }
        return (found, true);
    }

    /// <summary>The most answer sequences to one connect's statistic draws the probes enumerate (a Service with 6 endpoints has 6).</summary>
    public const int MaxDrawSequences = 64;

    /// <summary>
    /// A probe's behaviour with its draws pinned (a draw no pin names answers "matches"), the address an automatic port
    /// left from, and how many draws it made.
    /// </summary>
    private static ((FlowBehaviour Behaviour, IPv4Address Source, int Draws)?, string?) Behaviour(World world, Command.Connect probe, ImmutableDictionary<string, int> pins)
    {
        var sim = Simulation.Run(Scenario.Of("probe", [probe]), new ScriptedChoices(pins, ChoiceSource.First), world);
        if (sim.Rejected is { } rejected) return (null, "the model rejects the connect: " + rejected);
        var final = sim.Final;
        var drawn = sim.Events.OfType<KernelEvent.Choice>().Count(c => c.Made.Point.Kind == ChoiceKind.Statistic);
        var conn = final.Connections.Single(c => c.Name == "P");
        var source = conn.Local.Ip;
        var server = final.Sockets.End("P.server");
        var established = conn.Result == ConnectResult.Established && server is not null;
        // Every entry the connect made, in any namespace (behind a SNAT its source is another address).
        var old = world.Conntrack.All.Select(e => e.Id).ToHashSet();
        var entries = final.Conntrack.All.Where(e => !old.Contains(e.Id)).ToList();
        if (entries.Count > 1)
            return (null, $"the connection is tracked in {entries.Count} namespaces along its path ({string.Join(", ", entries.Select(e => final.Namespaces[e.Netns].Display))}); the symbolic engine has one table per connection");
        var seenFrom = server?.Remote.Ip ?? source;
        var serverName = server is null ? "" : $"{final.Namespaces[server.Netns].Display}:{server.Local}";
        if (entries.Count == 0)
            return ((new FlowBehaviour(established, serverName, seenFrom, false, -1, default, source, 0, 0, false, false), source, drawn), null);
        var entry = entries[0];
        // The SRC decision: the note's rule, or the null binding (no note when a rule-less decision kept the tuple).
        var note = sim.Events.OfType<KernelEvent.Ct>().Select(c => c.NatDecision)
            .LastOrDefault(d => d is not null && d.Hook is IptChain.PostRouting or IptChain.Input && d.Netns == final.Namespaces[entry.Netns].Name);
        var natAddress = entry.Reply.Dst.Ip;
        var (low, high, random, single) = note?.Binding?.Target switch
        {
            IptTarget.Snat s => Ports(s.Range),
            IptTarget.Masquerade m => Ports(m.Range),
            _ => (NullLow, 65535, false, false),
        };
        var peer = entry.Reply.Src;
        return ((new FlowBehaviour(established, serverName, seenFrom, true, entry.Netns, peer, natAddress, low, high, random, single), source, drawn), null);
    }

    /// <summary>
    /// The first port when the rule names none: a client port of 1024 or more stays in the class 1024-65535
    /// (<see cref="NatSelection.PortClass"/>, the model's one definition of it).
    /// </summary>
    public static int NullLow => NatSelection.PortClass(ushort.MaxValue).Min;

    private static (int, int, bool, bool) Ports(NatRange r) =>
        r.ProtoSpecified ? (r.MinPort, r.MaxPort, r.RandomAll, r.MinPort == r.MaxPort) : (NullLow, 65535, r.RandomAll, false);
}
