using System.Collections.Immutable;
using ConntrackModel.Cli.Output;
using ConntrackModel.Model.Choices;
using ConntrackModel.Model.Kernel;
using ConntrackModel.Model.Reporting;
using ConntrackModel.Model.Scenarios;
using ConntrackModel.Model.Sockets;

namespace ConntrackModel.Tests;

/// <summary>
/// Things that fall due at the same instant (socket timers, a connect's 3 s deadline, a sleep's end) run in an order
/// that is a choice (issue 17): every order is reachable by pinning it, the default is the order the model had before,
/// the wire exploration and conform's search follow the orders, and reports name the order taken.
/// </summary>
public class TimerOrderTests
{
    /// <summary>
    /// A and C take the two SNAT ports; B's SYN clashes until their entries expire at 2 s, then resets one of their
    /// server ends, and its SYN at 3 s falls due with its 3 s connect deadline.
    /// </summary>
    private const string TwoPortsThreeClients = """
        sysctl -w net.netfilter.nf_conntrack_tcp_timeout_established=2
        iptables -t nat -A POSTROUTING -p tcp -d 127.0.0.1 --dport 8080 -j SNAT --to-source 127.0.0.1:40000-40001
        listen 127.0.0.1:8080
        connect A 127.0.0.1:8080
        connect C 127.0.0.1:8080
        connect B 127.0.0.1:8080
        """;

    private static Simulation Pinned(string script, params (string Key, int Value)[] pins)
    {
        var scenario = Run.Parse(script);
        var choices = pins.Aggregate(scenario.Choices, (c, p) => c.SetItem(p.Key, p.Value));
        return Simulation.Run(scenario with { Choices = choices }, ChoiceSource.First);
    }

    private static KernelEvent.Choice Order(Simulation sim) =>
        Assert.Single(sim.Events.OfType<KernelEvent.Choice>(), c => c.Made.Point.Kind == ChoiceKind.Order);

    [Fact]
    public void ConnectDeadline_AndItsOwnSyn_RunInAnyOfThreeWays()
    {
        var text = Run.Example("due-together.scenario");

        // 0, the default: B gives up at 3 s; its second SYN (at 2 s, as A's entry expired) had already reset A.server.
        var gaveUp = Pinned(text);
        var order = Order(gaveUp);
        Assert.Equal("order@3000#0", order.Made.Point.Key);
        Assert.Equal(3, order.Made.Point.Arity);
        Assert.Equal(0, order.Made.Value);
        Assert.Equal(ConnectResult.Timeout, gaveUp.Final.FindConnection("B")!.Result);
        Assert.Null(gaveUp.Final.Sockets.End("B.server"));
        Assert.Equal(TcpState.Close, gaveUp.Final.Sockets.End("A.server")!.State);

        // 1: the SYN goes first, reaches the listener (A.server is gone) and B connects.
        var connected = Pinned(text, ("order@3000#0", 1));
        Assert.Equal(ConnectResult.Established, connected.Final.FindConnection("B")!.Result);
        Assert.True(connected.Final.Sockets.End("B.server")!.Accepted);

        // 2: the SYN goes first and the handshake completes, but the wait has timed out: connect() fails, the
        // application closes an established socket (FIN), and the server's application never accepts it.
        var raced = Pinned(text, ("order@3000#0", 2));
        Assert.Equal(ConnectResult.Timeout, raced.Final.FindConnection("B")!.Result);
        Assert.Contains(raced.Events.OfType<KernelEvent.Socket>(), s => s.Text.Contains("as the handshake completed", StringComparison.Ordinal));
        Assert.False(raced.Final.Sockets.End("B.server")!.Accepted);
        var entry = Assert.Single(raced.Final.Conntrack.Live(raced.Final.Now));
        Assert.Equal("CLOSE_WAIT", Model.Conntrack.CtEntry.StateName(entry.State));
        var obs = Observation.Of(raced, ImmutableDictionary<string, ImmutableArray<string>>.Empty);
        Assert.Null(obs.Connections.Single(c => c.Name == "B").Server);
    }

    [Fact]
    public void Report_NamesTheOrderTaken()
    {
        var sim = Pinned(Run.Example("due-together.scenario"), ("order@3000#0", 1));
        var wire = WireExploration.Explore(sim.Scenario, ChoiceSource.First);
        var report = TextReport.Write(sim, Observation.Of(sim, wire.Wire), wire, 1);
        Assert.Contains("order@3000#0: B re-sends its SYN before connect B gives up: one of 3 orders", report, StringComparison.Ordinal);
    }

    [Fact]
    public void SleepEnd_AndATimerDueThen_RunInEitherOrder()
    {
        // A's TIME_WAIT (60 s) ends exactly as the sleep does: by default the timer fires first, as before.
        var script = """
            listen 127.0.0.1:8080
            connect A 127.0.0.1:8080
            close A
            close A.server
            sleep 60
            """;
        var timerFirst = Pinned(script);
        var order = Order(timerFirst);
        Assert.Equal(2, order.Made.Point.Arity);
        Assert.Equal(["A's TIME_WAIT ends before the sleep ends", "the sleep ends before A's TIME_WAIT ends"], order.Made.Alternatives.ToArray());
        Assert.True(timerFirst.Final.Sockets.End("A")!.Gone);
        Assert.Empty(timerFirst.Final.Timers);
        var sleepFirst = Pinned(script, (order.Made.Point.Key, 1));
        Assert.False(sleepFirst.Final.Sockets.End("A")!.Gone);
        Assert.Single(sleepFirst.Final.Timers);
        // The timer left armed fires in the next wait, at once.
        var later = Pinned(script + "\nsleep 0.001", (order.Made.Point.Key, 1));
        Assert.True(later.Final.Sockets.End("A")!.Gone);
    }

    [Fact]
    public void TwoTimersDueTogether_AreAChoice_AndEitherOrderRuns()
    {
        // Both server ends enter TIME_WAIT at the same instant, so both timers fall due together 60 s later.
        var script = """
            listen 127.0.0.1:8080
            connect A 127.0.0.1:8080
            connect C 127.0.0.1:8080
            close A.server
            close C.server
            close A
            close C
            sleep 61
            """;
        var first = Pinned(script);
        var order = Order(first);
        Assert.Equal(2, order.Made.Point.Arity);
        Assert.All(order.Made.Alternatives, a => Assert.Contains("TIME_WAIT ends before", a, StringComparison.Ordinal));
        var second = Pinned(script, (order.Made.Point.Key, 1));
        Assert.True(first.Final.Sockets.End("A.server")!.Gone && first.Final.Sockets.End("C.server")!.Gone);
        Assert.True(second.Final.Sockets.End("A.server")!.Gone && second.Final.Sockets.End("C.server")!.Gone);
        var fired = (Simulation s) => s.Events.OfType<KernelEvent.Socket>().Where(e => e.Text.Contains("timer expired", StringComparison.Ordinal)).Select(e => e.End).ToArray();
        Assert.Equal(fired(first).Reverse(), fired(second));
    }

    [Fact]
    public void WireExploration_FollowsTheOrders()
    {
        // Under the default order B never connects; the exploration finds the order in which it does.
        var scenario = Run.Parse(Run.Example("due-together.scenario"));
        Assert.Equal(ConnectResult.Timeout, Simulation.Run(scenario, ChoiceSource.First).Final.FindConnection("B")!.Result);
        var wire = WireExploration.Explore(scenario, ChoiceSource.First).Wire;
        Assert.Equal(["127.0.0.1:40000"], wire["B"].ToArray());
    }

    [Fact]
    public void Choose_AcceptsOrderKeys()
    {
        var scenario = Run.Parse("choose order@3000#0 2\n" + Run.Example("due-together.scenario"));
        Assert.Equal(2, scenario.Choices["order@3000#0"]);
        var bad = ScenarioParser.Parse("t", "choose timer@3000 1\nlisten 127.0.0.1:8080");
        Assert.False(bad.Ok);
        Assert.Contains("order@MS#N", Assert.Single(bad.Errors).Message, StringComparison.Ordinal);
    }

    /// <summary>
    /// conform's search: a kernel run that differs from the model's default in three decisions (B's NAT port at 2 s,
    /// the order at 3 s, B's NAT port at 3 s), none of which the kernel's observation names directly, is found.
    /// </summary>
    [Fact]
    public void Explain_FindsAPathThatDiffersInSeveralDecisions()
    {
        var scenario = Run.Parse(TwoPortsThreeClients);
        var first = Simulation.Run(scenario, ChoiceSource.Seeded(1));
        var natAt2s = first.Events.OfType<KernelEvent.Choice>().Last(c => c.Made.Point.Key.StartsWith("nat:src:B#", StringComparison.Ordinal));
        // The kernel's run: B's SYN at 2 s takes the other port, its SYN at 3 s goes first, takes the port whose server
        // that reset, connects, and then connect gives up: an entry in CLOSE_WAIT that only order 2 leaves.
        var kernelRun = Enumerable.Range(0, 2)
            .Select(nat3 => Simulation.Run(scenario with
            {
                Choices = scenario.Choices.SetItem(natAt2s.Made.Point.Key, 1 - natAt2s.Made.Value).SetItem("order@3000#0", 2)
                    .SetItem(natAt2s.Made.Point.Key[..natAt2s.Made.Point.Key.IndexOf('#', StringComparison.Ordinal)] + "#7:port", nat3),
            }, ChoiceSource.Seeded(1)))
            .First(r => r.Final.Conntrack.Live(r.Final.Now).Any(e => e.State == Model.Conntrack.TcpCtState.CloseWait));
        var kernel = Observation.Of(kernelRun, ImmutableDictionary<string, ImmutableArray<string>>.Empty);
        Assert.NotEmpty(Conformance.Compare(Conformance.Observe(scenario, ChoiceSource.Seeded(1)), kernel));
        var explained = Conformance.Explain(scenario, kernel, null, ChoiceSource.Seeded(1));
        Assert.Empty(explained.Differences);
        Assert.Equal(2, explained.Scenario.Choices["order@3000#0"]);
    }

    /// <summary>
    /// When the wait runs out as the re-sent SYN is answered, connect() fails with a timeout whatever the answer did:
    /// with each NAT port for that SYN (one leads to the listener, the other to a live server end's challenge ACK).
    /// </summary>
    [Fact]
    public void AnswerMissed_IsATimeout_WhateverTheAnswer()
    {
        var script = TwoPortsThreeClients;
        var outcomes = new HashSet<string>(StringComparer.Ordinal);
        foreach (var port in new[] { 0, 1 })
        {
            var sim = Pinned(script, ("order@3000#0", 2), ("nat:src:B#7:port", port));
            Assert.Equal(ConnectResult.Timeout, sim.Final.FindConnection("B")!.Result);
            var b = sim.Final.Sockets.End("B")!;
            Assert.True(b.AppClosed);
            Assert.Equal(Errno.ETIMEDOUT, b.Error);
            outcomes.Add(sim.Events.OfType<KernelEvent.Socket>().Last(e => e.End == "B").Text);
        }
        // The two ports led to different answers, and both still timed out.
        Assert.Equal(2, outcomes.Count);
    }

    [Fact]
    public void NullBinding_IsNamedInTheTrace()
    {
        var sim = Run.Sim(Run.Example("dnat.scenario"));
        Assert.Contains(sim.Events.OfType<KernelEvent.Ct>(), c => c.Text.Contains("SNAT (null binding):", StringComparison.Ordinal));
    }
}
