using System.Collections.Immutable;
using System.Globalization;
using ConntrackModel.Model.Choices;
using ConntrackModel.Model.Iptables;
using ConntrackModel.Model.Kernel;
using ConntrackModel.Model.Scenarios;
using ConntrackModel.Properties.Configs;
using FsCheck;
using FsCheck.Fluent;

namespace ConntrackModel.Properties.Generation;

/// <summary>
/// Generates trials for a configuration. Generation is state-aware: each command is drawn from what the world
/// built so far allows (connect from a free local port, send/close/abort only a live end, delete only an existing
/// rule), and is run through <see cref="LinuxKernel.Step"/> before the next is drawn, so no generated sequence is
/// rejected. Weights favour the interleavings that matter: a listener early, connects, rules that map onto the
/// ports clients bind.
/// </summary>
public static class TrialGen
{
    /// <summary>The generator FsCheck uses for <paramref name="config"/>; size bounds the sequence length.</summary>
    public static Gen<Trial> For(CheckConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        return from seed in Gen.Choose(int.MinValue, int.MaxValue)
               let choices = new GeneratedChoices((ulong)(uint)seed) { ExtraAims = config.Space is { } space ? [.. space.Ports] : [] }
               from length in Gen.Sized(size => Gen.Choose(4, Math.Clamp(6 + (size / 6), 6, config.MaxLength)))
               from state in Grow(config, Start(config, choices), length, choices)
               select Record(config, Finish(config, state, choices));
    }

    /// <summary>
    /// The generation state: the world after the commands so far, how many connections were named, and every step
    /// taken (setup included) with the world before it, so the trial's outcome comes from this one run.
    /// </summary>
    private sealed record State(World World, ImmutableList<Command> Body, int Names, ImmutableList<(Command Command, StepResult Result, World Before)> Steps, long Ticks);

    private static State Start(CheckConfig config, ChoiceSource choices)
    {
        var state = new State(World.Initial, [], 0, [], 0);
        foreach (var c in config.Setup)
            state = Step(state, c, choices) ?? throw new InvalidOperationException($"configuration {config.Name}: setup command '{c.ToScript()}' is rejected by the model");
        return state;
    }

    /// <summary>One command through <see cref="LinuxKernel.Step"/>; null if the model rejects it.</summary>
    private static State? Step(State state, Command command, ChoiceSource choices)
    {
        var t0 = System.Diagnostics.Stopwatch.GetTimestamp();
        var r = LinuxKernel.Step(state.World, command, choices);
        var ticks = System.Diagnostics.Stopwatch.GetTimestamp() - t0;
        return r.Rejected is not null ? null : state with { World = r.World, Steps = state.Steps.Add((command, r, state.World)), Ticks = state.Ticks + ticks };
    }

    private static Gen<State> Grow(CheckConfig config, State state, int remaining, ChoiceSource choices) =>
        remaining == 0
            ? Gen.Constant(state)
            : from command in Next(config, state)
              from rest in Grow(config, Apply(state, command, choices), remaining - 1, choices)
              select rest;

    /// <summary>
    /// A setup's netfilter lines that <see cref="Setups.SetupEvents.Late"/> deferred and the workload did not reach yet
    /// come at its end, in order: every trial holds the whole setup.
    /// </summary>
    private static State Finish(CheckConfig config, State state, ChoiceSource choices)
    {
        if (config.Space is not { } space) return state;
        for (var i = state.Body.Count(Setups.SetupSpaces.IsNetfilterLine); i < space.Deferred.Length; i++) state = Apply(state, space.Deferred[i], choices);
        return state;
    }

    private static State Apply(State state, Command command, ChoiceSource choices) =>
        // A connect whose port search finds nothing is rejected while running; the generator just drops it.
        Step(state, command, choices) is { } next
            ? next with { Body = state.Body.Add(command), Names = state.Names + (command is Command.Connect ? 1 : 0) }
            : state;

    /// <summary>
    /// The trial the generation built, with every answer its choice source gave recorded, and its outcome taken
    /// from the generation's own run (<see cref="Checking.TrialOutcome.Remember"/>): replaying the trial with those answers
    /// pinned is that same run, step for step, so a generated trial is simulated once. A test holds the two equal.
    /// </summary>
    private static Trial Record(CheckConfig config, State state)
    {
        var trial = new Trial([.. config.Setup], state.Body, Recorded(state.Steps.SelectMany(s => s.Result.Events))) { Invariants = config.Invariants };
        var lines = trial.ToScenario("trial").Lines;
        var steps = state.Steps.Select((s, i) => (StepRecord.Of(i + 1, lines[i], s.Before, s.Result, config.Invariants), s.Before, s.Result.World)).ToList();
        Checking.TrialOutcome.Remember(trial, Checking.TrialOutcome.From(steps, null), steps.Count, state.Ticks);
        return trial;
    }

    /// <summary>Every choice a run made, by key.</summary>
    public static ImmutableSortedDictionary<string, int> Recorded(Simulation sim)
    {
        ArgumentNullException.ThrowIfNull(sim);
        return Recorded(sim.Events);
    }

    /// <summary>Every choice among <paramref name="events"/>, by key; a later answer to the same key wins.</summary>
    public static ImmutableSortedDictionary<string, int> Recorded(IEnumerable<KernelEvent> events)
    {
        ArgumentNullException.ThrowIfNull(events);
        var b = ImmutableSortedDictionary.CreateBuilder<string, int>(StringComparer.Ordinal);
        foreach (var ev in events.OfType<KernelEvent.Choice>()) b[ev.Made.Point.Key] = ev.Made.Value;
        return b.ToImmutable();
    }

    // ------------------------------------------------------------------ one command

    private static Gen<Command> Next(CheckConfig config, State s)
    {
        if (config.Node is { } node) return OnNode(config, node, s);
        if (config.Space is { } space) return OnSetup(config, space, s);
        var w = s.World;
        if (config.TrackingFromStart && s.Body.IsEmpty) return RuleAdd(config, startsTracking: true);
        var options = new List<(int, Gen<Command>)>();
        var listening = w.Sockets.Listeners.ToList();
        var free = Pools.ServerPorts.Select(Pools.Server).Where(a => !w.Sockets.PortInUse(a)).ToList();
        if (config.Allows(OpKind.Listen) && free.Count > 0) options.Add((listening.Count == 0 ? 12 : 1, Gen.Elements(free.ToArray()).Select(a => (Command)new Command.Listen(a))));
        if (config.Allows(OpKind.Connect) && s.Names < 8) options.Add((8, Connect(config, w, Pools.ConnectionName(s.Names))));
        var live = w.Sockets.Ends.Where(e => e.Accepted && !e.AppClosed).Select(e => e.Name).Order(StringComparer.Ordinal).ToList();
        if (live.Count > 0)
        {
            if (config.Allows(OpKind.Send)) options.Add((2, Gen.Elements(live.ToArray()).Select(e => (Command)new Command.Send(e, "d" + (s.Body.Count + 1).ToString(CultureInfo.InvariantCulture)))));
            if (config.Allows(OpKind.Close)) options.Add((1, Gen.Elements(live.ToArray()).Select(e => (Command)new Command.Close(e))));
            if (config.Allows(OpKind.Abort)) options.Add((1, Gen.Elements(live.ToArray()).Select(e => (Command)new Command.Abort(e))));
        }
        // A rule matters most once connections exist that it can land on (or, tracking from the start, for new ones).
        if (config.Allows(OpKind.RuleAdd)) options.Add((config.TrackingFromStart ? 1 : w.ConnectionCount == 0 ? 1 : 5, RuleAdd(config)));
        var rules = w.Netfilter.Nat.Rules;
        if (config.Allows(OpKind.RuleDelete) && !rules.IsEmpty)
            options.Add((1, Gen.Elements(rules.ToArray()).Select(r => (Command)new Command.IptablesDelete(r.Chain, r, null) { UserChain = r.UserChain })));
        if (config.Allows(OpKind.RuleFlush) && !rules.IsEmpty) options.Add((1, Gen.Constant((Command)new Command.IptablesFlush(null))));
        if (config.Allows(OpKind.RuleReplace) && !rules.IsEmpty) options.Add((1, RuleReplace(config, w)));
        if (config.Allows(OpKind.ConntrackDelete)) options.Add((1, ConntrackDelete()));
        if (config.Allows(OpKind.Modprobe) && !w.Netfilter.Modprobed) options.Add((1, Gen.Constant((Command)new Command.Modprobe())));
        if (config.Allows(OpKind.ConntrackFlush)) options.Add((2, Gen.Constant((Command)new Command.ConntrackFlush())));
        if (config.Allows(OpKind.Sleep)) options.Add((2, Sleep(config)));
        if (config.Allows(OpKind.Sysctl)) options.Add((1, Sysctl()));
        return Gen.Frequency(options.ToArray());
    }

    /// <summary>
    /// One command on the node (<see cref="NodeTopology"/>): connects from node or a pod to the server, bound to a port
    /// of the client pool free in that namespace or from an ephemeral port; sends, closes and aborts of live ends; the
    /// pods' MASQUERADE rule once; <c>conntrack -F</c> on node; short sleeps.
    /// </summary>
    private static Gen<Command> OnNode(CheckConfig config, NodeTopology node, State s)
    {
        if (node.Udp || node.Service) return OnUdpNode(config, node, s);
        var w = s.World;
        var rule = Gen.Constant(Parse(node.Rule));
        var ruled = !w.Netfilter.Nat.Rules.IsEmpty;
        if (config.TrackingFromStart && s.Body.IsEmpty) return rule;
        var options = new List<(int, Gen<Command>)>();
        if (config.Allows(OpKind.Connect) && s.Names < 8 && !(ruled && config.ConnectsBeforeRuleOnly))
            options.Add((8, NodeConnect(node, w, Pools.ConnectionName(s.Names))));
        var live = w.Sockets.Ends.Where(e => e.Accepted && !e.AppClosed).Select(e => e.Name).Order(StringComparer.Ordinal).ToList();
        if (live.Count > 0)
        {
            if (config.Allows(OpKind.Send)) options.Add((ruled ? 4 : 2, Gen.Elements(live.ToArray()).Select(e => (Command)new Command.Send(e, "d" + (s.Body.Count + 1).ToString(CultureInfo.InvariantCulture)))));
            if (config.Allows(OpKind.Close)) options.Add((1, Gen.Elements(live.ToArray()).Select(e => (Command)new Command.Close(e))));
            if (config.Allows(OpKind.Abort)) options.Add((1, Gen.Elements(live.ToArray()).Select(e => (Command)new Command.Abort(e))));
        }
        if (config.Allows(OpKind.RuleAdd) && !ruled) options.Add((w.ConnectionCount == 0 ? 1 : 5, rule));
        if (config.Allows(OpKind.ConntrackFlush)) options.Add((2, Gen.Constant((Command)new Command.ConntrackFlush())));
        if (config.Allows(OpKind.Sleep)) options.Add((1, Sleep(config)));
        return Gen.Frequency(options.ToArray());
    }

    /// <summary>
    /// One command of a workload around a user's setup (<see cref="Setups.SetupSpace"/>): a connection from an origin to
    /// a target, bound to a port of the setup's pool or ephemeral; sends (a UDP server answers flows it heard from),
    /// closes and aborts of live ends; the next deferred netfilter line of the setup (late); <c>conntrack -F</c> in a
    /// namespace that tracks (flush); sleeps (long enough to expire entries with expiry).
    /// </summary>
    private static Gen<Command> OnSetup(CheckConfig config, Setups.SetupSpace space, State s)
    {
        var w = s.World;
        var options = new List<(int, Gen<Command>)>();
        var emitted = s.Body.Count(Setups.SetupSpaces.IsNetfilterLine);
        if (emitted < space.Deferred.Length) options.Add((w.ConnectionCount == 0 ? 1 : 4, Gen.Constant(space.Deferred[emitted])));
        if (s.Names < 8) options.Add((8, SetupConnect(space, w, Pools.ConnectionName(s.Names))));
        var label = "d" + (s.Body.Count + 1).ToString(CultureInfo.InvariantCulture);
        var live = w.Sockets.Ends.Where(e => e.Accepted && !e.AppClosed).Select(e => e.Name).Order(StringComparer.Ordinal).ToList();
        var flows = w.Connections.Where(c => c.Proto == Model.Addressing.L4Proto.Udp).Select(c => c.Name).ToList();
        var clients = flows.Where(n => w.Sockets.Udp(n) is { Closed: false, Remote: not null }).ToList();
        var answered = flows.Where(n => w.Sockets.Peer(n) is { } p && w.Sockets.Udp(p.Server) is { Closed: false }).Select(n => n + ".server").ToList();
        var senders = live.Concat(clients).Concat(answered).ToArray();
        if (senders.Length > 0) options.Add((3, Gen.Elements(senders).Select(e => (Command)new Command.Send(e, label))));
        if (live.Count > 0)
        {
            options.Add((1, Gen.Elements(live.ToArray()).Select(e => (Command)new Command.Close(e))));
            options.Add((1, Gen.Elements(live.ToArray()).Select(e => (Command)new Command.Abort(e))));
        }
        if (space.Allows(Setups.SetupEvents.Flush) && space.Tracking.Length > 0)
            options.Add((2, Gen.Elements(space.Tracking.ToArray()).Select(ns => (Command)new Command.ConntrackFlush { Netns = ns })));
        options.Add((space.Allows(Setups.SetupEvents.Expiry) ? 2 : 1, Sleep(config)));
        return Gen.Frequency(options.ToArray());
    }

    private static Gen<Command> SetupConnect(Setups.SetupSpace space, World w, string name) =>
        from origin in Gen.Elements(space.Origins.ToArray())
        from target in Gen.Elements(space.Targets.ToArray())
        let ns = w.FindNetns(origin.Netns)!.Index
        let udp = target.Proto == Model.Addressing.L4Proto.Udp
        let free = space.Ports.Select(p => new Model.Addressing.SockAddr(origin.Address, p))
            .Where(a => udp ? w.Sockets.UdpBound(a, ns) is null : !w.Sockets.PortInUse(a, ns)).ToList()
        from local in free.Count == 0
            ? Gen.Constant<Model.Addressing.SockAddr?>(null)
            : Gen.Frequency((3, Gen.Constant<Model.Addressing.SockAddr?>(null)), (6, Gen.Elements(free.Select(a => (Model.Addressing.SockAddr?)a).ToArray())))
        select (Command)new Command.Connect(name, local, target.Address) { Netns = origin.Netns, Proto = target.Proto };

    private static Gen<Command> NodeConnect(NodeTopology node, World w, string name)
    {
        var udp = node.Udp || node.Service;
        var origins = node.Origins.ToArray();
        return from k in Gen.Elements(origins)
               let ns = w.FindNetns(NodeTopology.Netns(k))!.Index
               let free = Pools.ClientPorts.Select(p => new Model.Addressing.SockAddr(NodeTopology.Address(k), p))
                   .Where(a => udp ? w.Sockets.UdpBound(a, ns) is null : !w.Sockets.PortInUse(a, ns)).ToList()
               from local in free.Count == 0
                   ? Gen.Constant<Model.Addressing.SockAddr?>(null)
                   : Gen.Frequency(
                       // UDP flows collide only on a port two sockets chose alike: bind most of them.
                       (udp ? 1 : 3, Gen.Constant<Model.Addressing.SockAddr?>(null)),
                       (udp ? 8 : 6, Gen.Frequency(free.Select(a => (PortWeight(a.Port), Gen.Constant((Model.Addressing.SockAddr?)a))).ToArray())))
               select (Command)new Command.Connect(name, local, node.Target(k)) { Netns = NodeTopology.Netns(k), Proto = udp ? Model.Addressing.L4Proto.Udp : Model.Addressing.L4Proto.Tcp };
    }

    /// <summary>
    /// One command on a UDP node: flows from node or a pod (a Service's: from pods to the Service); datagrams from a
    /// live client, and the server's answers to flows it has heard from; closes; the node's rule once; on a Service
    /// node the rule's replacement or deletion, <c>conntrack -D</c> of the Service's flows, and a backend's socket
    /// closing; sleeps.
    /// </summary>
    private static Gen<Command> OnUdpNode(CheckConfig config, NodeTopology node, State s)
    {
        var w = s.World;
        var rule = Gen.Constant(Parse(node.Rule));
        var ruled = !w.Netfilter.Nat.Rules.IsEmpty;
        if (config.TrackingFromStart && s.Body.IsEmpty) return rule;
        var options = new List<(int, Gen<Command>)>();
        if (config.Allows(OpKind.Connect) && s.Names < 8) options.Add((6, NodeConnect(node, w, Pools.ConnectionName(s.Names))));
        var flows = w.Connections.Where(c => c.Proto == Model.Addressing.L4Proto.Udp).Select(c => c.Name).ToList();
        var clients = flows.Where(n => w.Sockets.Udp(n) is { Closed: false, Remote: not null }).ToList();
        var answered = flows.Where(n => w.Sockets.Peer(n) is { } p && w.Sockets.Udp(p.Server) is { Closed: false }).Select(n => n + ".server").ToList();
        var label = "d" + (s.Body.Count + 1).ToString(CultureInfo.InvariantCulture);
        // A flow the server has not heard from yet matters most: its first datagram is when NAT decides and the server learns its address.
        var unheard = clients.Where(n => w.Sockets.Peer(n) is null).ToList();
        if (config.Allows(OpKind.Send) && unheard.Count > 0) options.Add((6, Gen.Elements(unheard.ToArray()).Select(e => (Command)new Command.Send(e, label))));
        if (config.Allows(OpKind.Send) && clients.Count > 0) options.Add((ruled ? 3 : 2, Gen.Elements(clients.ToArray()).Select(e => (Command)new Command.Send(e, label))));
        if (config.Allows(OpKind.Send) && answered.Count > 0) options.Add((ruled ? 4 : 2, Gen.Elements(answered.ToArray()).Select(e => (Command)new Command.Send(e, label))));
        if (config.Allows(OpKind.Close) && clients.Count > 0) options.Add((1, Gen.Elements(clients.ToArray()).Select(e => (Command)new Command.Close(e))));
        if (config.Allows(OpKind.Close) && node.Service && answered.Count > 0) options.Add((1, Gen.Elements(answered.ToArray()).Select(e => (Command)new Command.Close(e))));
        // Late tracking matters once the server has heard some flow untracked.
        if (config.Allows(OpKind.RuleAdd) && !ruled) options.Add((flows.Any(n => w.Sockets.Peer(n) is not null) ? 5 : 1, rule));
        var first = w.Netfilter.Chain(Model.Iptables.IptChain.PreRouting).FirstOrDefault();
        var replacement = (Command.IptablesReplace)Parse(NodeTopology.ReplacementRule);
        if (config.Allows(OpKind.RuleReplace) && first is not null && !first.SameRule(replacement.Rule)) options.Add((3, Gen.Constant((Command)replacement)));
        if (config.Allows(OpKind.RuleDelete) && first is not null)
            options.Add((1, Gen.Constant((Command)new Command.IptablesDelete(Model.Iptables.IptChain.PreRouting, null, 1))));
        if (config.Allows(OpKind.ConntrackDelete)) options.Add((1, Gen.Constant(Parse($"conntrack -D -p udp --dport {P(NodeTopology.ServiceAddress.Port)}"))));
        if (config.Allows(OpKind.Sleep)) options.Add((config.MaxSleepMs > ShortSleep ? 3 : 1, config.MaxSleepMs > ShortSleep ? ExpirySleep(config) : Sleep(config)));
        return Gen.Frequency(options.ToArray());
    }

    /// <summary>Where sleeps may outlast the UDP timeout: mostly ones that do (past 2 s), some short ones.</summary>
    private static Gen<Command> ExpirySleep(CheckConfig config) =>
        Gen.Frequency(
            (1, Gen.Choose(1, 200)),
            (3, Gen.Choose(CheckConfigs.UdpExpirySeconds * 1000, (int)config.MaxSleepMs)))
        .Select(ms => (Command)new Command.Sleep(ms));

    /// <summary>Sleeps up to this long expire nothing on a node (the configurations' short sleeps).</summary>
    private const long ShortSleep = 1500;

    private static Gen<Command> Sleep(CheckConfig config) =>
        Gen.Frequency(
            (3, Gen.Choose(1, 200)),
            (2, Gen.Choose(1, (int)config.MaxSleepMs)))
        .Select(ms => (Command)new Command.Sleep(ms));

    private static Gen<Command> Sysctl() =>
        Gen.OneOf(
            Gen.Elements("0", "1").Select(v => (Command)new Command.Sysctl("net.netfilter.nf_conntrack_tcp_loose", v)),
            Gen.Choose(CheckConfigs.ExpiryTimeoutSeconds, CheckConfigs.ExpiryTimeoutSeconds + 3)
                .Select(v => (Command)new Command.Sysctl("net.netfilter.nf_conntrack_tcp_timeout_established", v.ToString(CultureInfo.InvariantCulture))));

    private static Gen<Command> Connect(CheckConfig config, World w, string name)
    {
        var remotes = new List<(int, Gen<Model.Addressing.SockAddr>)>
        {
            (8, Gen.Constant(Pools.Server(Pools.ServerPorts[0]))),
            (1, Gen.Constant(Pools.Server(Pools.ServerPorts[1]))),
        };
        if (config.Rules.Contains(RuleKind.Dnat)) remotes.Add((config.Rules.Length == 1 ? 8 : 3, Gen.Constant(Pools.Service)));
        var freeLocal = Pools.ClientPorts.Select(Pools.Client).Where(a => !w.Sockets.PortInUse(a)).ToList();
        // DNAT collisions need unbound connects (ephemeral ports), SNAT ones bound ports the rules map to.
        var boundWeight = config.Rules.All(r => r == RuleKind.Dnat) ? 1 : 6;
        var local = freeLocal.Count == 0
            ? Gen.Constant<Model.Addressing.SockAddr?>(null)
            : Gen.Frequency(
                (3, Gen.Constant<Model.Addressing.SockAddr?>(null)),
                (boundWeight, Gen.Frequency(freeLocal.Select(a => (PortWeight(a.Port), Gen.Constant((Model.Addressing.SockAddr?)a))).ToArray())));
        return from remote in Gen.Frequency(remotes.ToArray())
               from l in local
               select (Command)new Command.Connect(name, l, remote);
    }

    /// <summary>Ports early in the pool are the ones rules map to most often; bind them most often too.</summary>
    private static int PortWeight(int port) => Pools.ClientPorts.ToList().IndexOf(port) switch
    {
        0 => 5,
        1 => 2,
        _ => 1,
    };

    /// <summary>The reference's single-port SNAT (and DNAT, when it is the only kind) most often; the rest for breadth.</summary>
    private static int KindWeight(CheckConfig config, RuleKind k) => k switch
    {
        RuleKind.SnatPort => 4,
        RuleKind.SnatRange => 2,
        RuleKind.Dnat => config.Rules.Length == 1 ? 1 : 2,
        _ => 1,
    };

    /// <summary>A rule of one of the configuration's kinds; <paramref name="startsTracking"/> excludes ACCEPT, which takes no conntrack reference.</summary>
    private static Gen<Command> RuleAdd(CheckConfig config, bool startsTracking = false)
    {
        var kinds = config.Rules.Where(k => !startsTracking || k != RuleKind.Accept).Select(k => (KindWeight(config, k), Gen.Constant(k))).ToArray();
        return from kind in Gen.Frequency(kinds)
               from text in RuleText(kind)
               from insert in Gen.Frequency((4, Gen.Constant(false)), (1, Gen.Constant(true)))
               select Parse(insert ? text.Replace(" -A ", " -I ", StringComparison.Ordinal) : text);
    }

    /// <summary>
    /// <c>iptables -R</c>: a rule of the configuration's kinds takes the place of an existing rule of its chain (when the
    /// drawn rule belongs to a chain with no rule, it is appended instead).
    /// </summary>
    private static Gen<Command> RuleReplace(CheckConfig config, World w) =>
        from fresh in RuleAdd(config)
        let add = (Command.IptablesAdd)fresh
        let chain = w.Netfilter.Chain(add.Rule.Chain)
        from index in Gen.Choose(1, Math.Max(1, chain.Count))
        select chain.Count == 0 ? fresh : new Command.IptablesReplace(add.Rule, index);

    /// <summary><c>conntrack -D</c>: everything, TCP only, or the entries of one server or client port.</summary>
    private static Gen<Command> ConntrackDelete() =>
        Gen.Elements(
            "conntrack -D",
            "conntrack -D -p tcp",
            $"conntrack -D -p tcp --dport {P(Pools.ServerPorts[0])}",
            $"conntrack -D -p tcp --sport {P(Pools.ClientPorts[0])}").Select(Parse);

    private static Command Parse(string line) => ScenarioParser.ParseLine(line);

    private static string P(int port) => port.ToString(CultureInfo.InvariantCulture);

    /// <summary>The rule as a user would type it; the parser turns it into the command, so syntax has one definition.</summary>
    private static Gen<string> RuleText(RuleKind kind)
    {
        var match = Gen.Frequency(
            (6, Gen.Constant($"-p tcp -d 127.0.0.1 --dport {P(Pools.ServerPorts[0])}")),
            (1, Gen.Constant($"-p tcp -d 127.0.0.1 --dport {P(Pools.ServerPorts[1])}")),
            (1, Gen.Constant("-p tcp")));
        var single = Gen.Frequency((5, Gen.Constant(Pools.ClientPorts[0])), (2, Gen.Constant(Pools.ClientPorts[1])), (1, Gen.Constant(Pools.ClientPorts[2])))
            .Select(p => P(p));
        var range = Gen.Elements(Pools.ClientPorts[1], Pools.ClientPorts[2]).Select(hi => $"{P(Pools.ClientPorts[0])}-{P(hi)}");
        var portOrRange = Gen.OneOf(single, range);
        return kind switch
        {
            RuleKind.SnatPort => from m in match from p in single select $"iptables -t nat -A POSTROUTING {m} -j SNAT --to-source 127.0.0.1:{p}",
            RuleKind.SnatRange => from m in match from r in range select $"iptables -t nat -A POSTROUTING {m} -j SNAT --to-source 127.0.0.1:{r}",
            RuleKind.SnatRandom => from m in match from r in portOrRange select $"iptables -t nat -A POSTROUTING {m} -j SNAT --to-source 127.0.0.1:{r} --random",
            RuleKind.SnatRandomFully => from m in match from r in portOrRange select $"iptables -t nat -A POSTROUTING {m} -j SNAT --to-source 127.0.0.1:{r} --random-fully",
            RuleKind.Masquerade => from m in match from r in portOrRange select $"iptables -t nat -A POSTROUTING {m} -j MASQUERADE --to-ports {r}",
            RuleKind.MasqueradeRandomFully => from m in match from r in portOrRange select $"iptables -t nat -A POSTROUTING {m} -j MASQUERADE --to-ports {r} --random-fully",
            RuleKind.Dnat => Gen.Frequency((4, Gen.Constant(Pools.ServerPorts[0])), (1, Gen.Constant(Pools.ServerPorts[1])))
                .Select(sp => $"iptables -t nat -A OUTPUT -p tcp -d {Pools.Service.Ip} --dport {P(Pools.Service.Port)} -j DNAT --to-destination 127.0.0.1:{P(sp)}"),
            RuleKind.Accept => match.Select(m => $"iptables -t nat -A POSTROUTING {m} -j ACCEPT"),
            _ => throw new ArgumentOutOfRangeException(nameof(kind)),
        };
    }
}
