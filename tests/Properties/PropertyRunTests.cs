using ConntrackModel.Model.Diagnostics;
using ConntrackModel.Model.Scenarios;
using ConntrackModel.Properties.Checking;
using ConntrackModel.Properties.Shrinking;
using ConntrackModel.Properties.Configs;
using ConntrackModel.Properties.Generation;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Xunit.Abstractions;

namespace ConntrackModel.Tests.Properties;

/// <summary>
/// The FsCheck property runs themselves: safe configurations hold, unsafe ones are found and shrunk to their
/// minimal form. Fixed seeds make failures reproducible; the fresh-seed variants print their seed so a failure
/// can be replayed with <c>ctmodel check --seed</c>.
/// </summary>
public class PropertyRunTests(ITestOutputHelper output)
{
    /// <summary>FsCheck.Xunit looks trials up here for the boot property.</summary>
    public static class BootTrials
    {
        public static Arbitrary<Trial> Trial() => InvariantProperty.Arbitrary(CheckConfigs.Boot);
    }

    [Property(MaxTest = 2000, Arbitrary = [typeof(BootTrials)], Replay = "4242424242,1442695040888963407")]
    public Property Invariants_Boot_HoldOverTwoThousandSequences(Trial trial) => InvariantProperty.Holds(trial);

    [Fact]
    public void Invariants_Boot_HoldOverTwoThousandSequencesFromAFreshSeed()
    {
        var r = CheckRunner.Run(new CheckOptions(CheckConfigs.Boot, 2000));
        output.WriteLine($"boot: seed {r.Seed}, {r.TestsRun} tests (replay: ctmodel check --config boot --tests 2000 --seed {r.Seed})");
        Assert.Null(r.Error);
        Assert.False(r.Failed, $"seed {r.Seed}: {r.Minimal}");
        Assert.Equal(2000, r.TestsRun);
    }

    [Fact]
    public void Invariants_NodeBoot_HoldOverTwoThousandSequences()
    {
        var r = CheckRunner.Run(new CheckOptions(CheckConfigs.NodeBoot, 2000, 1));
        Assert.Null(r.Error);
        Assert.False(r.Failed, $"node-boot seed 1: {r.Minimal}");
        Assert.Equal(2000, r.TestsRun);
        // The property says something only if the pods' connections go through: count, in trials of the same
        // generator, the pod connections that were established and MASQUERADEd onto node's address.
        var masqueraded = 0;
        foreach (var t in Gen.Sample(TrialGen.For(CheckConfigs.NodeBoot), 100, new Rnd(1), 40))
        {
            var final = t.Replay().Final;
            masqueraded += final.Connections.Count(c => c.Result == Model.Kernel.ConnectResult.Established &&
                final.Sockets.End(c.Name) is { Netns: > 0 } && final.Sockets.End(c.Name + ".server")?.Remote.Ip == NodeTopology.NodeAddress);
        }
        output.WriteLine($"node-boot: {masqueraded} pod connections established through MASQUERADE in 100 sampled trials");
        Assert.True(masqueraded >= 100, $"only {masqueraded} pod connections went through MASQUERADE in 100 trials");
    }

    [Fact]
    public void Invariants_UdpBoot_HoldOverTwoThousandSequences()
    {
        var r = CheckRunner.Run(new CheckOptions(CheckConfigs.UdpBoot, 2000, 1));
        Assert.Null(r.Error);
        Assert.False(r.Failed, $"udp-boot seed 1: {r.Minimal}");
        Assert.Equal(2000, r.TestsRun);
        // Says something only if flows share node's address: count the pod flows the server heard from node's address
        // and the server's answers that reached a client, in trials of the same generator.
        int masqueraded = 0, answered = 0;
        foreach (var t in Gen.Sample(TrialGen.For(CheckConfigs.UdpBoot), 100, new Rnd(1), 40))
        {
            var final = t.Replay().Final;
            masqueraded += final.Connections.Count(c => final.Sockets.Udp(c.Name) is { Netns: > 0 } && final.Sockets.Peer(c.Name)?.LastFrom.Ip == NodeTopology.NodeAddress);
            answered += final.Sockets.UdpSockets.Where(u => !u.IsServer).Sum(u => u.Received.Length);
        }
        output.WriteLine($"udp-boot: {masqueraded} pod flows heard from node's address, {answered} answers read by clients, in 100 sampled trials");
        Assert.True(masqueraded >= 100, $"only {masqueraded} pod flows went through MASQUERADE in 100 trials");
        Assert.True(answered >= 50, $"only {answered} answers reached a client in 100 trials");
    }

    /// <summary>The canonical minimal counterexamples, as the shrinker leaves them (setup lines included).</summary>
    public static TheoryData<string, ulong, string> Minimal => new()
    {
        { "late-start", 1, LateStartMinimal },
        { "late-start", 2, LateStartMinimal },
        { "late-start", 3, LateStartMinimal },
        { "flush", 1, FlushMinimal },
        { "flush", 2, FlushMinimal },
        { "expiry", 1, ExpiryMinimal },
        { "expiry", 2, ExpiryMinimal },
        { "dnat", 1, DnatMinimal },
        { "dnat", 2, DnatMinimal },
    };

    private const string LateStartMinimal = """
        listen 127.0.0.1:8080
        connect A 127.0.0.1:40000 127.0.0.1:8080
        iptables -t nat -A POSTROUTING -p tcp -j SNAT --to-source 127.0.0.1:40000
        connect B 127.0.0.1:8080
        """;

    private const string FlushMinimal = """
        iptables -t nat -A POSTROUTING -p tcp -j SNAT --to-source 127.0.0.1:40000
        listen 127.0.0.1:8080
        connect A 127.0.0.1:8080
        conntrack -F
        connect B 127.0.0.1:8080
        """;

    private const string ExpiryMinimal = """
        sysctl -w net.netfilter.nf_conntrack_tcp_timeout_established=2
        iptables -t nat -A POSTROUTING -p tcp -j SNAT --to-source 127.0.0.1:40000
        listen 127.0.0.1:8080
        connect A 127.0.0.1:8080
        connect B 127.0.0.1:8080
        """;

    private const string DnatMinimal = """
        listen 127.0.0.1:8080
        connect A 127.0.0.1:8080
        iptables -t nat -A OUTPUT -p tcp -j DNAT --to-destination 127.0.0.1:8080
        connect B 127.0.0.2:80
        """;

    [Theory]
    [MemberData(nameof(Minimal))]
    public void Check_UnsafeConfig_FixedSeed_FindsAndShrinksToTheMinimalScenario(string config, ulong seed, string expected)
    {
        var r = CheckRunner.Run(new CheckOptions(CheckConfigs.Find(config)!, CheckOptions.DefaultTests, seed));
        output.WriteLine($"{config} seed {seed}: {r.TestsRun} tests, {r.ShrinkSteps} shrink steps, {r.Original?.Length} -> {r.Minimal?.Length} commands");
        Assert.Null(r.Error);
        Assert.True(r.Failed, $"{config} seed {seed}: no violation in {r.TestsRun} tests");
        Assert.Equal(expected.ReplaceLineEndings("\n") + "\n", string.Concat(r.Minimal!.Commands.Select(c => c.ToScript() + "\n")));
        Assert.True(r.MinimalityOfMinimal!.Minimal);
        AssertReplays(r);
    }

    /// <summary>
    /// The node configurations' minimal counterexamples for seed 1, after their fixed setup (the topology), with the
    /// choices the trial pins (a pin of 0 is what no pin says; the report adds the ones its violation needs).
    /// </summary>
    public static TheoryData<string, string> NodeMinimal => new()
    {
        { "node-late", "connect A 192.168.1.20:80\niptables -t nat -A POSTROUTING -s 10.244.0.0/16 -o eth1 -j MASQUERADE\nip netns exec pod1 connect B 192.168.1.20:80" },
        { "node-flush", "iptables -t nat -A POSTROUTING -s 10.244.0.0/16 -o eth1 -j MASQUERADE\nip netns exec pod1 connect A 10.244.0.2:40000 192.168.1.20:80\nconntrack -F\nconnect B 192.168.1.10:40000 192.168.1.20:80" },
        { "node-midstream", "connect A 192.168.1.10:40000 192.168.1.20:80\nip netns exec pod1 connect B 10.244.0.2:40000 192.168.1.20:80\niptables -t nat -A POSTROUTING -s 10.244.0.0/16 -o eth1 -j MASQUERADE\nsend B d4" },
        { "node-random-fully", "choose nat:src:B#1:off0 48976\nconnect A 192.168.1.10:50000 192.168.1.20:80\niptables -t nat -A POSTROUTING -s 10.244.0.0/16 -o eth1 -j MASQUERADE --random-fully\nip netns exec pod1 connect B 192.168.1.20:80" },
        { "udp-late", "connect -u A 192.168.1.10:40000 192.168.1.20:53\nsend A d2\niptables -t nat -A POSTROUTING -s 10.244.0.0/16 -o eth1 -j MASQUERADE\nip netns exec pod1 connect -u B 10.244.0.2:40000 192.168.1.20:53\nsend B d7" },
        { "udp-expiry", "iptables -t nat -A POSTROUTING -s 10.244.0.0/16 -o eth1 -j MASQUERADE\nip netns exec pod1 connect -u A 10.244.0.2:40000 192.168.1.20:53\nconnect -u B 192.168.1.10:40000 192.168.1.20:53\nsend B d4\nsleep 2\nsend A d6" },
        { "udp-stale-dnat", "iptables -t nat -A PREROUTING -d 10.96.0.10/32 -p udp --dport 53 -j DNAT --to-destination 192.168.1.20:53\nip netns exec pod1 connect -u A 10.96.0.10:53\nsend A d3\niptables -t nat -R PREROUTING 1 -d 10.96.0.10/32 -p udp --dport 53 -j DNAT --to-destination 192.168.1.21:53\nsend A d5" },
    };

    [Theory]
    [MemberData(nameof(NodeMinimal))]
    public void Check_NodeConfig_FixedSeed_FindsAndShrinksToTheMinimalScenario(string config, string expected)
    {
        var c = CheckConfigs.Find(config)!;
        var r = CheckRunner.Run(new CheckOptions(c, CheckOptions.DefaultTests, 1));
        output.WriteLine($"{config} seed 1: {r.TestsRun} tests, {r.ShrinkSteps} shrink steps, {r.Original?.Body.Count} -> {r.Minimal?.Body.Count} commands");
        Assert.Null(r.Error);
        Assert.True(r.Failed, $"{config} seed 1: no violation in {r.TestsRun} tests");
        Assert.Equal(c.Setup.ToArray(), r.Minimal!.Setup.ToArray());
        var pins = r.Minimal.Choices.Select(kv => $"choose {kv.Key} {kv.Value}");
        Assert.Equal(expected, string.Join("\n", pins.Concat(r.Minimal.Body.Select(x => x.ToScript()))));
        Assert.Equal(c.KnownMinimum, r.Minimal.Body.Count);
        Assert.True(r.MinimalityOfMinimal!.Minimal);
        AssertReplays(r);
    }

    [Theory]
    [InlineData("late-start")]
    [InlineData("flush")]
    [InlineData("expiry")]
    [InlineData("dnat")]
    [InlineData("node-late")]
    [InlineData("node-flush")]
    [InlineData("node-midstream")]
    [InlineData("node-random-fully")]
    [InlineData("udp-late")]
    [InlineData("udp-expiry")]
    public void Check_UnsafeConfig_FreshSeed_FindsAMinimalCollision(string config)
    {
        var r = CheckRunner.Run(new CheckOptions(CheckConfigs.Find(config)!));
        output.WriteLine($"{config}: seed {r.Seed}, {r.TestsRun} tests, {r.ShrinkSteps} shrink steps (replay: ctmodel check --config {config} --seed {r.Seed})");
        Assert.Null(r.Error);
        Assert.True(r.Failed, $"{config} seed {r.Seed}: no violation in {r.TestsRun} tests");
        output.WriteLine(r.Minimal!.ToString());
        Assert.True(r.MinimalityOfMinimal!.Minimal, $"seed {r.Seed}: {r.Minimal}");
        // The minimal form has two connects and the one event that lets the second land on the first one's tuple: the
        // rule that starts tracking late, conntrack -F, or an idle timeout (and for node-midstream the segment sent after
        // the rule). The shrinker reaches a local minimum, and for a fresh seed that may hold one connection more: with
        // udp-late, seed 1611940401597743839 keeps a third flow whose bound port pushes a node flow's NAT onto the
        // untracked one's port (no single removal passes; the two-flow form needs the pod flow moved to the port, which
        // no candidate does). The fixed-seed test above holds every configuration to its known minimum exactly.
        var kinds = r.Minimal.Body.Select(OpKinds.Of).ToList();
        var known = CheckConfigs.Find(config)!.KnownMinimum!.Value;
        Assert.InRange(kinds.Count(k => k == OpKind.Connect), 2, 3);
        Assert.InRange(kinds.Count, known, known + 2);
        AssertReplays(r);
    }

    [Fact]
    public void Check_LateStart_MinimalIsTheBlogsCollision()
    {
        var r = CheckRunner.Run(new CheckOptions(CheckConfigs.LateStart, CheckOptions.DefaultTests, 11));
        var cx = Counterexample.Of(r.Minimal!, "minimal");
        // B's SYN reached A's server end: same wire tuple.
        var body = r.Minimal!.Body;
        Assert.IsType<Command.Listen>(body[0]);
        var a = Assert.IsType<Command.Connect>(body[1]);
        var rule = Assert.IsType<Command.IptablesAdd>(body[2]);
        Assert.IsType<Command.Connect>(body[3]);
        Assert.Equal("A", a.Name);
        Assert.Contains($"--to-source {a.Local}", rule.Rule.Spec, StringComparison.Ordinal);
        Assert.Equal(4, cx.Violation.Step);
        Assert.Contains(cx.Simulation.Violations, v => v.Invariant == InvariantId.NoForeignReset && v.Message.StartsWith("A.server was reset by a RST of connection B", StringComparison.Ordinal));
        // Tracking is on before the fatal step, but A predates it and has no entry: NAT cannot see its tuple.
        Assert.True(cx.Before.Netfilter.Tracking);
        Assert.Equal(0, cx.Before.Conntrack.Count);
    }

    [Fact]
    public void Check_ReplayToken_RegeneratesTheFailingTest()
    {
        var first = CheckRunner.Run(new CheckOptions(CheckConfigs.LateStart, CheckOptions.DefaultTests, 5));
        Assert.True(first.Failed);
        var again = CheckRunner.Run(new CheckOptions(CheckConfigs.LateStart, Replay: first.Replay));
        Assert.Equal(1, again.TestsRun);
        Assert.Equal(first.Original, again.Original);
        Assert.Equal(first.Minimal, again.Minimal);
    }

    [Fact]
    public void Check_SameSeed_SameResult()
    {
        var a = CheckRunner.Run(new CheckOptions(CheckConfigs.Flush, 300, 99));
        var b = CheckRunner.Run(new CheckOptions(CheckConfigs.Flush, 300, 99));
        Assert.Equal(a, b);
    }

    [Fact]
    public void Check_Coverage_CountsCommandsRulesAndStates()
    {
        var r = CheckRunner.Run(new CheckOptions(CheckConfigs.Boot, 200, 3));
        Assert.False(r.Failed);
        var connect = Assert.Single(r.Coverage, row => row.Category == Coverage.Command && row.Item == "connect");
        Assert.InRange(connect.Tests, 1, 200);
        Assert.Equal(200, Assert.Single(r.Coverage, row => row.Category == Coverage.Command && row.Item == "iptables -A/-I").Tests);
        Assert.Contains(r.Coverage, row => row.Category == Coverage.Conntrack && row.Item == "ESTABLISHED");
        Assert.Contains(r.Coverage, row => row.Category == Coverage.Socket && row.Item == "TIME_WAIT");
        Assert.Contains(r.Coverage, row => row.Category == Coverage.Rule && row.Item == "snat-port");
    }

    [Fact]
    public void MinimalScenarios_KeepOnlyThePinsTheirViolationNeeds()
    {
        var late = Counterexample.Of(CheckRunner.Run(new CheckOptions(CheckConfigs.LateStart, CheckOptions.DefaultTests, 1)).Minimal!, "minimal");
        Assert.Empty(late.Scenario.Choices);
        var dnat = Counterexample.Of(CheckRunner.Run(new CheckOptions(CheckConfigs.Find("dnat")!, CheckOptions.DefaultTests, 1)).Minimal!, "minimal");
        Assert.NotEmpty(dnat.Scenario.Choices);
        // Each kept pin is needed: without it some choice source loses the violation.
        foreach (var key in dnat.Scenario.Choices.Keys)
        {
            var without = dnat.Scenario with { Choices = dnat.Scenario.Choices.Remove(key) };
            Assert.Contains(Enumerable.Range(1, Pins.Seeds).Select(i => Model.Choices.ChoiceSource.Seeded((ulong)i)).Prepend(Model.Choices.ChoiceSource.First)
                    .Select(source => Model.Kernel.Simulation.Run(without, source)),
                sim => sim.Violations.FirstOrDefault() is not { } v || v.Invariant != dnat.Violation.Invariant || v.Step != dnat.Violation.Step);
        }
    }

    /// <summary>
    /// The minimal trial, written as minimal.scenario would be, replays to the same first violation: exactly with
    /// the choice source reports use, and the same invariant at the same step with any seed (it keeps only the pins
    /// the violation depends on, so ports and sequence numbers in the message may differ).
    /// </summary>
    private static void AssertReplays(CheckResult r)
    {
        var cx = Counterexample.Of(r.Minimal!, "minimal");
        var parsed = ScenarioParser.Parse("minimal.scenario", cx.Scenario.ToScript());
        Assert.True(parsed.Ok);
        Assert.Equal(cx.Violation, Model.Kernel.Simulation.Run(parsed.Scenario!, Model.Choices.ChoiceSource.First).Violations.First());
        var again = Model.Kernel.Simulation.Run(parsed.Scenario!, Model.Choices.ChoiceSource.Seeded(12345)).Violations.First();
        Assert.Equal((cx.Violation.Invariant, cx.Violation.Step), (again.Invariant, again.Step));
    }
}
