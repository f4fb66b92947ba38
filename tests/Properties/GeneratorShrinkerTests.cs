using System.Collections.Immutable;
using IPv4Address = ConntrackModel.Model.Addressing.IPv4Address;
using ConntrackModel.Model.Nat;
using ConntrackModel.Model.Net;
using ConntrackModel.Model.Scenarios;
using ConntrackModel.Properties.Checking;
using ConntrackModel.Properties.Configs;
using ConntrackModel.Properties.Generation;
using ConntrackModel.Properties.Shrinking;
using FsCheck;
using FsCheck.Fluent;

namespace ConntrackModel.Tests.Properties;

/// <summary>The generator respects preconditions and configurations; the shrinker's candidates are valid and smaller.</summary>
public class GeneratorShrinkerTests
{
    public static TheoryData<string> Configs => [.. CheckConfigs.Catalogue.Select(c => c.Name)];

    /// <summary>
    /// A fixed sample, so the assertions that count (e.g. "some trial of `all` violates") cannot fail by chance: over
    /// 20 unseeded samples of 240 trials `all` had 3 to 10 violating ones, and one CI run drew none.
    /// </summary>
    private static Trial[] Sample(CheckConfig config, int size, int n) => Gen.Sample(TrialGen.For(config), n, new Rnd(20261129UL + (ulong)size), size);

    [Theory]
    [MemberData(nameof(Configs))]
    public void Generator_EveryTrial_IsAdmittedAndRunsWithoutRejection(string name)
    {
        var config = CheckConfigs.Find(name)!;
        foreach (var size in new[] { 1, 30, 100 })
        {
            foreach (var t in Sample(config, size, 60))
            {
                Assert.True(TrialShrinker.IsValid(config, t), t.ToString());
                Assert.Equal(config.Setup, t.Setup);
                Assert.All(t.Body, c => Assert.Contains(OpKinds.Of(c), config.Alphabet));
                Assert.InRange(t.Body.Count, 1, config.MaxLength);
                Assert.All(t.Body.OfType<Command.IptablesAdd>(), a => Assert.Contains(RuleKinds.Of(a.Rule), config.Rules));
            }
        }
    }

    /// <summary>
    /// check simulates each generated trial once: the outcome the generator's own run recorded must be what a
    /// replay of the trial (its choices pinned) gives, violations, step numbers and coverage labels alike.
    /// </summary>
    [Theory]
    [MemberData(nameof(Configs))]
    public void Generator_RecordedOutcome_IsTheReplayOutcome(string name)
    {
        var config = CheckConfigs.Find(name)!;
        var violating = 0;
        var compared = 0;
        foreach (var size in new[] { 10, 50, 100 })
        {
            foreach (var t in Sample(config, size, 80))
            {
                var recorded = TrialOutcome.Of(t);
                var replayed = TrialOutcome.Replay(t);
                Assert.Equal(replayed, recorded);
                Assert.Equal(replayed.Violations.Select(v => (v.Invariant, v.Step, v.Message)), recorded.Violations.Select(v => (v.Invariant, v.Step, v.Message)));
                compared++;
                if (!replayed.Holds) violating++;
            }
        }
        Assert.Equal(240, compared);
        // The safe configuration has nothing to find; the others must include violating trials, or the comparison is weak.
        if (config.KnownMinimum is not null) Assert.True(violating > 0, $"{name}: no violating trial among {compared}");
    }

    [Fact]
    public void Generator_Boot_FirstCommandStartsTracking()
    {
        foreach (var t in Sample(CheckConfigs.Boot, 50, 100)) Assert.True(TrialShrinker.StartsTracking(t.Body[0]), t.ToString());
    }

    [Fact]
    public void Generator_All_ProducesEveryCommandKindAndRuleKind()
    {
        var trials = Sample(CheckConfigs.All, 100, 400);
        var ops = trials.SelectMany(t => t.Body).Select(OpKinds.Of).ToHashSet();
        // Every kind but the topology's ip commands, which no configuration generates (a node's are its fixed setup), and
        // user chains, restores and policies, which scenarios may carry but no configuration generates yet.
        Assert.Equal(Enum.GetValues<OpKind>().Where(k => k is not (OpKind.Ip or OpKind.ChainNew or OpKind.ChainDelete or OpKind.Restore or OpKind.Policy)).ToHashSet(), ops);
        var rules = trials.SelectMany(t => t.Body).OfType<Command.IptablesAdd>().Select(a => RuleKinds.Of(a.Rule)).ToHashSet();
        Assert.Equal(Enum.GetValues<RuleKind>().ToHashSet(), rules);
    }

    [Fact]
    public void OpKinds_EveryCommandSubtype_HasAKindAndAName()
    {
        var subtypes = typeof(Command).GetNestedTypes().Where(t => t.IsSubclassOf(typeof(Command)) && !t.IsAbstract).ToList();
        var samples = new Command[]
        {
            new Command.Listen(Pools.Server(8080)), new Command.Connect("A", null, Pools.Server(8080)), new Command.Send("A", "x"),
            new Command.Close("A"), new Command.Abort("A"), ScenarioParser.ParseLine("iptables -t nat -A POSTROUTING -j ACCEPT"),
            ScenarioParser.ParseLine("iptables -t nat -D POSTROUTING 1"), new Command.IptablesFlush(null), new Command.Modprobe(),
            new Command.ConntrackFlush(), new Command.Sleep(1), new Command.Sysctl("net.netfilter.nf_conntrack_tcp_loose", "0"),
            new Command.NetnsAdd("pod"), new Command.LinkAddVeth("veth0", null, "eth0", "pod"), new Command.LinkSetNetns("veth0", "pod"),
            new Command.LinkSetState("veth0", true), new Command.AddrChange(true, new InAddr(new IPv4Address(0x0A000001), 24), "veth0"),
            new Command.RouteChange(true, new Cidr(default, 0), new IPv4Address(0x0A000001), null),
            ScenarioParser.ParseLine("iptables -t nat -R POSTROUTING 1 -j ACCEPT"), ScenarioParser.ParseLine("conntrack -D -p udp"),
            new Command.IptablesNewChain("KUBE-SVC"), new Command.IptablesDeleteChain(null), ScenarioParser.ParseLine("iptables -P FORWARD DROP"),
            ScenarioParser.Parse("t", "iptables-restore <<'EOF'\n*nat\nCOMMIT\nEOF\n").Scenario!.Lines[0].Command,
        };
        Assert.Equal(subtypes.ToHashSet(), samples.Select(s => s.GetType()).ToHashSet());
        Assert.Equal(Enum.GetValues<OpKind>().ToHashSet(), samples.Select(OpKinds.Of).ToHashSet());
        Assert.All(Enum.GetValues<OpKind>(), k => Assert.False(string.IsNullOrEmpty(OpKinds.Name(k))));
    }

    [Fact]
    public void Trial_ReplaysAsGenerated()
    {
        foreach (var t in Sample(CheckConfigs.All, 60, 50))
        {
            var a = t.Replay();
            var b = Simulation(t.ToScenario("x").ToScript());
            Assert.Equal(a.Violations, b.Violations);
            Assert.Equal(a.Final.Conntrack, b.Final.Conntrack);
        }
    }

    private static Model.Kernel.Simulation Simulation(string script) =>
        Model.Kernel.Simulation.Run(Run.Parse(script), Model.Choices.ChoiceSource.Seeded(777));

    private static Trial TrialOf(string script, CheckConfig? config = null) =>
        new([.. (config?.Setup ?? [])], [.. Run.Parse(script).Lines.Select(l => l.Command)], Trial.NoChoices);

    private const string Reference = """
        listen 127.0.0.1:8080
        connect A 127.0.0.1:40000 127.0.0.1:8080
        iptables -t nat -A POSTROUTING -p tcp -d 127.0.0.1 --dport 8080 -j SNAT --to-source 127.0.0.1:40000
        connect B 127.0.0.1:50000 127.0.0.1:8080
        send A late
        """;

    [Fact]
    public void Shrink_Candidates_AreValidAndNeverLonger()
    {
        var t = TrialOf(Reference);
        var candidates = TrialShrinker.Shrink(CheckConfigs.LateStart, t).ToList();
        Assert.NotEmpty(candidates);
        Assert.All(candidates, c => Assert.True(TrialShrinker.IsValid(CheckConfigs.LateStart, c)));
        Assert.All(candidates, c => Assert.True(c.Body.Count <= t.Body.Count));
        Assert.DoesNotContain(t, candidates);
    }

    [Fact]
    public void Shrink_FirstCandidate_CutsEverythingAfterTheFirstViolation()
    {
        var first = TrialShrinker.Shrink(CheckConfigs.LateStart, TrialOf(Reference)).First();
        Assert.Equal(4, first.Body.Count);
        Assert.IsType<Command.Connect>(first.Body[^1]);
    }

    [Fact]
    public void RemoveAt_Connect_TakesTheConnectionsCommandsWithIt()
    {
        var body = TrialOf(Reference + "\nclose A.server\nsend B x").Body;
        var without = TrialShrinker.RemoveAt(body, 1);
        Assert.DoesNotContain(without, c => c is Command.Send { End: "A" } or Command.Close { End: "A.server" } or Command.Connect { Name: "A" });
        Assert.Contains(without, c => c is Command.Send { End: "B" });
    }

    [Fact]
    public void Shrink_Candidates_IncludeSimplerRulesPortsAndSleeps()
    {
        var t = TrialOf("""
            listen 127.0.0.1:8081
            connect C 127.0.0.1:40001 127.0.0.1:8081
            iptables -t nat -A POSTROUTING -p tcp -d 127.0.0.1 --dport 8081 -j SNAT --to-source 127.0.0.1:40001-40002 --random
            sleep 1.5
            connect D 127.0.0.1:8081
            """);
        var scripts = TrialShrinker.Shrink(CheckConfigs.All, t).Select(c => c.ToString()).ToList();
        Assert.Contains(scripts, s => s.Contains("--to-source 127.0.0.1:40001-40002;", StringComparison.Ordinal)); // --random dropped
        Assert.Contains(scripts, s => s.Contains("--to-source 127.0.0.1:40001 --random", StringComparison.Ordinal)); // range to one port
        Assert.Contains(scripts, s => s.Contains("listen 127.0.0.1:8080", StringComparison.Ordinal)); // server port to the pool's front
        Assert.Contains(scripts, s => s.Contains("connect A 127.0.0.1:40001", StringComparison.Ordinal)); // renamed toward A
        Assert.Contains(scripts, s => s.Contains("sleep 0.001", StringComparison.Ordinal)); // sleep toward the shortest
        Assert.Contains(scripts, s => s.Contains("sleep 0.751", StringComparison.Ordinal)); // then about halfway
        Assert.Contains(scripts, s => s.Contains("-p tcp --dport 8081 -j SNAT", StringComparison.Ordinal)); // one match dropped
    }

    [Fact]
    public void Shrink_TrackingFromStart_NeverDropsTheFirstRule()
    {
        var t = TrialOf("""
            iptables -t nat -A POSTROUTING -p tcp -j SNAT --to-source 127.0.0.1:40000
            listen 127.0.0.1:8080
            connect A 127.0.0.1:8080
            conntrack -F
            connect B 127.0.0.1:8080
            """);
        Assert.All(TrialShrinker.Shrink(CheckConfigs.Flush, t), c => Assert.True(TrialShrinker.StartsTracking(c.Body[0]), c.ToString()));
    }

    [Fact]
    public void Shrink_Choices_MoveTowardTheFirstAlternativeTogether()
    {
        var t = TrialOf("""
            listen 127.0.0.1:8080
            connect A 127.0.0.1:8080
            iptables -t nat -A OUTPUT -p tcp -j DNAT --to-destination 127.0.0.1:8080
            connect B 127.0.0.2:80
            """) with { Choices = ImmutableSortedDictionary.CreateRange(StringComparer.Ordinal, [KeyValuePair.Create("ephemeral:A", 2), KeyValuePair.Create("ephemeral:B", 2)]) };
        Assert.False(TrialOutcome.Of(t).Holds);
        var both = TrialShrinker.Shrink(CheckConfigs.Dnat, t).Where(c => c.Body.Count == 4 && c.Choices.Count == 2).ToList();
        Assert.Contains(both, c => c.Choices["ephemeral:A"] == 0 && c.Choices["ephemeral:B"] == 0);
    }

    [Fact]
    public void Minimality_ReferenceWithoutItsLastSend_IsMinimal()
    {
        var m = Minimality.Of(TrialOf(Reference.Replace("send A late", "", StringComparison.Ordinal)));
        Assert.True(m.Minimal);
        Assert.Empty(m.StillFailing);
    }

    [Fact]
    public void Minimality_ReferenceWithItsLastSend_IsNotMinimal()
    {
        var m = Minimality.Of(TrialOf(Reference));
        Assert.False(m.Minimal);
        Assert.Equal([4], m.StillFailing.ToArray());
    }

    /// <summary>
    /// Minimality is judged within the configuration, as the shrinker shrinks (a fresh-seed run of `flush` once
    /// reported this minimal trial as not minimal): without its first rule the trial still fails, but its first
    /// command no longer starts tracking, which `flush` never generates.
    /// </summary>
    [Fact]
    public void Minimality_RemovalsTheConfigurationDoesNotAdmit_DoNotCount()
    {
        var t = TrialOf("""
            iptables -t nat -A POSTROUTING -p tcp -j MASQUERADE --to-ports 40000
            listen 127.0.0.1:8080
            iptables -t nat -I POSTROUTING 1 -p tcp -j SNAT --to-source 127.0.0.1:40001
            connect A 127.0.0.1:8080
            conntrack -F
            connect B 127.0.0.1:8080
            """);
        Assert.False(TrialOutcome.Of(t).Holds);
        Assert.Equal([0], Minimality.Of(t).StillFailing.ToArray());
        var within = Minimality.Of(t, CheckConfigs.Flush);
        Assert.True(within.Minimal);
        Assert.Contains(0, within.Rejected);
        // The shrinker takes what the configuration admits only, and still gets past it: the later tracking rule
        // moves to the front in place of the first, five commands that still fail.
        var smaller = TrialShrinker.Shrink(CheckConfigs.Flush, t).Where(c => c.Body.Count < t.Body.Count && !TrialOutcome.Of(c).Holds).ToList();
        Assert.All(smaller, c => Assert.True(TrialShrinker.StartsTracking(c.Body[0])));
        Assert.Contains(smaller, c => c.Body.Count == 5 && c.Body[0] == t.Body[2]);
    }
}
