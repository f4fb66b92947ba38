using System.Collections.Immutable;
using ConntrackModel.Model.Choices;
using ConntrackModel.Model.Kernel;
using ConntrackModel.Model.Reporting;
using ConntrackModel.Replay.Kernel;

namespace ConntrackModel.Tests.Replay;

/// <summary>The pure half of replay and conform: parsing the tools' output, comparing observations, guiding choices.</summary>
public class ConformanceTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private const string List = """
        tcp      6 431999 ESTABLISHED src=127.0.0.1 dst=127.0.0.1 sport=50000 dport=8080 src=127.0.0.1 dst=127.0.0.1 sport=8080 dport=40000 [ASSURED] mark=0 use=1
        tcp      6 9 CLOSE src=127.0.0.1 dst=127.0.0.1 sport=40001 dport=8080 [UNREPLIED] src=127.0.0.1 dst=127.0.0.1 sport=8080 dport=40001 mark=0 use=1
        udp      17 29 src=127.0.0.1 dst=127.0.0.1 sport=5353 dport=53 [UNREPLIED] src=127.0.0.1 dst=127.0.0.1 sport=53 dport=5353 mark=0 use=1
        conntrack v1.4.7 (conntrack-tools): 3 flow entries have been shown.
        """;

    [Fact]
    public void ParseList_TcpAndUdpLines_GiveTuplesStateAndAssured()
    {
        var e = ConntrackTool.ParseList(List);
        Assert.Equal(
            [new CtObservation("tcp", "ESTABLISHED", "127.0.0.1:50000->127.0.0.1:8080", "127.0.0.1:8080->127.0.0.1:40000", true),
             new CtObservation("tcp", "CLOSE", "127.0.0.1:40001->127.0.0.1:8080", "127.0.0.1:8080->127.0.0.1:40001", false),
             new CtObservation("udp", null, "127.0.0.1:5353->127.0.0.1:53", "127.0.0.1:53->127.0.0.1:5353", false)],
            e.ToArray());
    }

    [Fact]
    public void Counter_SumsOverCpus()
    {
        const string stats = "cpu=0   \tfound=0 invalid=1 insert=0 insert_failed=2 drop=2 early_drop=0\ncpu=1   \tfound=2 invalid=0 insert=0 insert_failed=1 drop=3 early_drop=0\n";
        Assert.Equal(3, ConntrackTool.Counter(stats, "insert_failed"));
        Assert.Equal(5, ConntrackTool.Counter(stats, "drop"));
        Assert.Equal(0, ConntrackTool.Counter(stats, "insert"));
    }

    private static Observation Obs(string wire, string clientState = "ESTABLISHED", long insertFailed = 0, params CtObservation[] ct) =>
        new([new ConnectionObservation("A", "established", "127.0.0.1:40000", [wire], new EndObservation(clientState, null), new EndObservation("ESTABLISHED", null), ["x"], [])],
            [.. ct], insertFailed, 0, []);

    [Fact]
    public void Compare_SameObservation_Agrees() => Assert.Empty(Conformance.Compare(Obs("127.0.0.1:40000"), Obs("127.0.0.1:40000")));

    [Fact]
    public void Compare_KernelWireInsideAModelRange_Agrees()
    {
        var model = Obs("127.0.0.1:1024-65535");
        Assert.Empty(Conformance.Compare(model, Obs("127.0.0.1:40000")));
        Assert.Equal("A.wire", Assert.Single(Conformance.Compare(model, Obs("127.0.0.2:40000"))).Field);
    }

    [Fact]
    public void Compare_StateCountersAndTable_AreReportedFieldByField()
    {
        var entry = new CtObservation("tcp", "ESTABLISHED", "127.0.0.1:40000->127.0.0.1:8080", "127.0.0.1:8080->127.0.0.1:40000", true);
        var d = Conformance.Compare(Obs("127.0.0.1:40000", "ESTABLISHED", 0, entry), Obs("127.0.0.1:40000", "CLOSE", 7));
        Assert.Equal(["A.client", "conntrack", "insert_failed"], d.Select(x => x.Field).ToArray());
        Assert.Equal(("ESTABLISHED", "CLOSE"), (d[0].Model, d[0].Kernel));
        Assert.Equal(("0", "non-zero"), (d[2].Model, d[2].Kernel));
    }

    [Fact]
    public void Compare_CountersOnlyZeroVersusNonZero() =>
        Assert.Empty(Conformance.Compare(Obs("127.0.0.1:40000", insertFailed: 1), Obs("127.0.0.1:40000", insertFailed: 4)));

    [Fact]
    public void Guided_PinsTheKernelsEphemeralPortAndNatOutcome()
    {
        var scenario = Run.Parse("""
            listen 127.0.0.1:8080
            iptables -t nat -A POSTROUTING -p tcp -j SNAT --to-source 127.0.0.1:40000-40003 --random
            connect A 127.0.0.1:8080
            """);
        var kernel = new Observation(
            [new ConnectionObservation("A", "established", "127.0.0.1:45000", ["127.0.0.1:40002"], new EndObservation("ESTABLISHED", null), new EndObservation("ESTABLISHED", null), [], [])],
            [], 0, 0, []);
        var guided = Conformance.Guided(scenario, kernel, ChoiceSource.Seeded(1));
        Assert.Equal(45000 - 32768, guided.Choices["ephemeral:A"]);
        var model = Conformance.Observe(guided, ChoiceSource.Seeded(1));
        Assert.Equal("127.0.0.1:45000", model.Connections[0].Local);
        var explained = Conformance.Explain(scenario, kernel, null, ChoiceSource.Seeded(1));
        Assert.DoesNotContain(explained.Differences, d => d.Field is "A.local" or "A.wire");
    }

    [Fact]
    public void Explain_KernelStoppedEarlier_IsADifference()
    {
        var scenario = Run.Parse("listen 127.0.0.1:8080\nconnect A 127.0.0.1:8080\nclose A");
        var kernel = Conformance.Observe(scenario, ChoiceSource.Seeded(1));
        var d = Conformance.Explain(scenario, kernel, 3, ChoiceSource.Seeded(1)).Differences;
        Assert.Contains(d, x => x.Field == "stopped" && x.Model == "ran every line");
        Assert.Empty(Conformance.Explain(scenario, kernel, null, ChoiceSource.Seeded(1)).Differences.Where(x => x.Field == "stopped"));
    }

    [Fact]
    public void ModprobeRule_IsAConntrackMatchInTheFilterTable()
    {
        var rule = KernelReplay.ModprobeRule;
        Assert.Equal(["iptables", "-t", "filter"], rule.Take(3).ToArray());
        Assert.Contains("conntrack", rule);
        Assert.DoesNotContain("nat", rule);
    }

    [Theory]
    [InlineData(1, "ESTABLISHED")]
    [InlineData(6, "TIME_WAIT")]
    [InlineData(7, "CLOSE")]
    [InlineData(11, "CLOSING")]
    public void TcpStateName_MatchesTheModelsNames(int state, string name) => Assert.Equal(name, KernelReplay.TcpStateName(state));

    [Theory]
    [InlineData(40001, 40002)]
    [InlineData(40002, 40001)]
    [InlineData(40003, 40002)]
    [InlineData(40003, 40001)]
    public void Explain_PortRange_EveryOrderTheKernelPicks_IsOneOfTheModelsRuns(int b, int c)
    {
        // An earlier connection's pin changes the later one's list of outcomes; the guide re-pins until stable. The
        // kernel's observation is the model's own run in which B and C got those ports, as one kernel run would show
        // it (its table and its wires agree).
        var scenario = Run.Parse(Run.Example("port-range.scenario"));
        var runs = from vb in Enumerable.Range(0, 3)
                   from vc in Enumerable.Range(0, 2)
                   select Simulation.Run(scenario with { Choices = scenario.Choices.SetItem("nat:src:B#1:port", vb).SetItem("nat:src:C#1:port", vc) }, ChoiceSource.Seeded(1));
        var kernelRun = runs.First(r => r.Final.Sockets.End("B.server")!.Remote.Port == b && r.Final.Sockets.End("C.server")!.Remote.Port == c);
        var kernel = Observation.Of(kernelRun, ImmutableDictionary<string, ImmutableArray<string>>.Empty);
        var explained = Conformance.Explain(scenario, kernel, null, ChoiceSource.Seeded(1));
        Assert.Empty(explained.Differences);
        Assert.Equal($"127.0.0.1:{c}", explained.Model.Connections.Single(x => x.Name == "C").Wire.Single());
    }

    /// <summary>
    /// Seen once in CI: over a SNAT range of 129 ports (a random u16 start), the kernel's first SYN of B landed on A's
    /// untracked port by chance (about 1 in 129), A's server end was reset, and B's re-sent SYN got another port. The
    /// explanation must find that start, though the choice has 65,536 values: it tries the starts that land on a port
    /// a connection holds.
    /// </summary>
    [Fact]
    public void Explain_AChanceCollisionOverALargeRange_IsFound()
    {
        const string Script = """
            listen 127.0.0.1:8080
            connect A 127.0.0.1:36672 127.0.0.1:8080
            iptables -t nat -A POSTROUTING -p tcp -d 127.0.0.1 --dport 8080 -j SNAT --to-source 127.0.0.1:36609-36737
            connect B 127.0.0.1:8080
            """;
        var bare = ConntrackModel.Model.Scenarios.ScenarioParser.Parse("chance.scenario", Script).Scenario!;
        // The kernel's run, as the model gives it with B's first port search starting on A's port.
        var kernelRun = Simulation.Run(bare with { Choices = bare.Choices.SetItem("nat:src:B#1:off0", 36672 - 36609) }, ChoiceSource.First);
        var kernel = Observation.Of(kernelRun, ImmutableDictionary<string, ImmutableArray<string>>.Empty);
        Assert.Equal(("CLOSE", "ECONNRESET"), (kernel.Connections[0].Server!.State, kernel.Connections[0].Server!.Error));
        var explained = Conformance.Explain(bare, kernel, null, ChoiceSource.Seeded(1));
        Assert.Empty(explained.Differences);
    }

    public static TheoryData<string> Configs => [.. ConntrackModel.Properties.Configs.CheckConfigs.Catalogue.Select(c => c.Name)];

    /// <summary>
    /// The differential sweep in small (issue 17): three scenarios per configuration, drawn as <c>conform --random 3
    /// --seed 20261129</c> draws them, each run on the kernel and explained by the model. The kernel makes its own
    /// random choices and its timers fire late by varying amounts, so a scenario that disagrees is run twice more
    /// and must agree in one of the three runs: a change to the model that breaks a configuration disagrees every
    /// time. The README lists the known timing-dependent differences and their rates.
    /// </summary>
    [KernelTheory]
    [MemberData(nameof(Configs))]
    public void Sweep_EveryConfiguration_AgreesWithTheKernel(string name)
    {
        var config = ConntrackModel.Properties.Configs.CheckConfigs.Find(name)!;
        var trials = ConntrackModel.Cli.Commands.ConformCommand.RandomTrials(config, 3, 20261129);
        var reruns = 0;
        for (var i = 0; i < trials.Length; i++)
        {
            var scenario = trials[i].ToScenario($"random-20261129-{i + 1}");
            var runs = new List<ConntrackModel.Cli.Commands.ConformCommand.Comparison>();
            for (var attempt = 0; attempt < 3 && (runs.Count == 0 || !runs[^1].Agree); attempt++)
                runs.Add(ConntrackModel.Cli.Commands.ConformCommand.Compare(scenario, scenario.Name));
            reruns += runs.Count - 1;
            Assert.True(runs[^1].Agree, $"{name} scenario {i + 1} disagrees with the kernel in 3 of 3 runs:\n{scenario.ToScript()}\n{ConntrackModel.Cli.Commands.ConformCommand.Text(runs[^1])}");
        }
        output.WriteLine($"{name}: {trials.Length} scenarios agree with the kernel ({reruns} re-runs needed)");
    }
}
