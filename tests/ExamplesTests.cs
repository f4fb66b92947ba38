using ConntrackModel.Model.Choices;
using ConntrackModel.Model.Kernel;

namespace ConntrackModel.Tests;

/// <summary>Every example parses, starts with its one-line description, and has the outcome its description claims.</summary>
public class ExamplesTests
{
    public static TheoryData<string, string[]> Expected => new()
    {
        { "reference.scenario", ["wire-tuple-uniqueness", "no-foreign-reset"] },
        { "flush.scenario", ["wire-tuple-uniqueness", "no-foreign-reset"] },
        { "flush-pickup.scenario", [] },
        { "loose-off.scenario", ["wire-tuple-uniqueness", "no-foreign-reset"] },
        { "expiry.scenario", ["wire-tuple-uniqueness", "no-foreign-reset"] },
        { "dnat.scenario", ["wire-tuple-uniqueness", "no-foreign-reset"] },
        { "port-range.scenario", [] },
        { "boot-single-port.scenario", [] },
        { "masquerade-lo.scenario", [] },
        { "time-wait-reuse.scenario", [] },
        { "abort.scenario", [] },
        { "unreachable.scenario", [] },
        { "due-together.scenario", ["no-foreign-reset"] },
        { "node-late-start.scenario", ["wire-tuple-uniqueness", "no-foreign-reset"] },
        { "node-midstream.scenario", [] },
        { "node-flush.scenario", ["wire-tuple-uniqueness", "no-foreign-reset"] },
        { "node-two-pods.scenario", [] },
        { "node-pod-dnat.scenario", [] },
        { "node-kube-chains.scenario", ["wire-tuple-uniqueness", "no-foreign-reset"] },
        { "node-kube-restore.scenario", ["wire-tuple-uniqueness", "no-foreign-reset"] },
        { "node-kube-nodeport.scenario", [] },
        { "node-kube-marks.scenario", [] },
        { "node-kube-balance.scenario", [] },
        { "filter-invalid-drop.scenario", ["wire-tuple-uniqueness", "no-foreign-reset"] },
        { "filter-reject.scenario", [] },
        { "filter-policy.scenario", [] },
        { "filter-related.scenario", [] },
        { "raw-notrack.scenario", ["wire-tuple-uniqueness", "no-foreign-reset"] },
        { "mangle-mark.scenario", [] },
        { "raw-untracked.scenario", [] },
        { "connmark.scenario", [] },
        { "filter-reject-icmp.scenario", [] },
        { "statistic-nth.scenario", [] },
        { "node-forward-reject.scenario", [] },
        { "node-udp-late-start.scenario", ["wire-tuple-uniqueness", "no-foreign-delivery"] },
        { "node-udp-stale-dnat.scenario", ["stale-nat-binding"] },
        { "node-udp-icmp-ratelimit.scenario", [] },
        { "node-forward-unreachable.scenario", [] },
        { "udp-port-unreachable.scenario", [] },
        { "udp-stream-expiry.scenario", [] },
        { "udp-error-then-answer.scenario", [] },
        { "udp-unreachable.scenario", [] },
    };

    [Theory]
    [MemberData(nameof(Expected))]
    public void Example_Runs_WithTheViolationsItDescribes(string file, string[] invariants)
    {
        var text = Run.Example(file);
        var first = text.Split('\n')[0];
        Assert.StartsWith("# ", first, StringComparison.Ordinal);
        Assert.True(first.Length > 20, "the first line describes the example");
        var sim = Run.Sim(text);
        Assert.Equal(invariants.Order(StringComparer.Ordinal), sim.Violations.Select(v => v.Name).Distinct().Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Examples_Folder_HasNoUntestedScenario()
    {
        var files = Directory.GetFiles(Path.Combine(AppContext.BaseDirectory, "examples"), "*.scenario").Select(Path.GetFileName).Order(StringComparer.Ordinal);
        Assert.Equal(Expected.Select(row => (string)row[0]).Order(StringComparer.Ordinal), files);
    }

    [Fact]
    public void Simulation_SameScenarioAndChoices_IsDeterministic()
    {
        var scenario = Run.Parse(Run.Example("reference.scenario"));
        Assert.Equal(Simulation.Run(scenario, ChoiceSource.Seeded(7)), Simulation.Run(scenario, ChoiceSource.Seeded(7)));
    }

    [Fact]
    public void Dnat_NullBindingRemapsAsLaterSegment_AndTheServerResetsA()
    {
        // Measured: A's later segment left with a random source port (null binding, range 1024-65535) and the
        // server's RST reset A's client too.
        var sim = Run.Sim(Run.Example("dnat.scenario"));
        var send = sim.Steps[^1];
        var data = send.Events.OfType<KernelEvent.Captured>().First(c => c.Segment.Payload == "late").Segment;
        Assert.NotEqual(40000, data.Tuple.Src.Port);
        Assert.InRange(data.Tuple.Src.Port, 1024, 65535);
        var o = Run.Observe(Run.Example("dnat.scenario"));
        Assert.Equal("ECONNRESET", o.Conn("A").Client.Error);
        Assert.Equal("ECONNRESET", o.Conn("A").Server!.Error);
        Assert.Equal("ESTABLISHED", o.Conn("B").Server!.State);
        Assert.Equal("127.0.0.1:40000", o.Conn("A").Local);
        Assert.Equal("127.0.0.1:40000", o.Conn("B").Local);
        Assert.Equal(("127.0.0.1:40000->127.0.0.2:80", "127.0.0.1:8080->127.0.0.1:40000"), (o.Conntrack.Single().Orig, o.Conntrack.Single().Reply));
        Assert.Equal(0, o.InsertFailed);
    }

    [Fact]
    public void FlushPickup_ARecreatesItsEntry_BTimesOutWithInsertFailures()
    {
        var o = Run.Observe(Run.Example("flush-pickup.scenario"));
        Assert.Equal("timeout", o.Conn("B").Connect);
        Assert.Equal(["x", "late"], o.Conn("A").Delivered.ToArray());
        Assert.True(o.InsertFailed >= 3);
    }

    [Fact]
    public void MasqueradeOnLo_DropsTheSyn_NoEntryNoCounters()
    {
        var o = Run.Observe(Run.Example("masquerade-lo.scenario"));
        Assert.Equal("timeout", o.Conn("A").Connect);
        Assert.Empty(o.Conntrack);
        Assert.Equal((0L, 0L), (o.InsertFailed, o.Drop));
    }

    [Fact]
    public void Abort_ServerEndReset_EntryInCloseWithTenSeconds()
    {
        var sim = Run.Sim(Run.Example("abort.scenario"));
        var e = sim.Final.Conntrack.Live(sim.Final.Now).Single();
        Assert.Equal(Model.Conntrack.TcpCtState.Close, e.State);
        Assert.Equal(10_000, e.ExpiresAt - sim.Final.Now);
        var o = Run.Observe(Run.Example("abort.scenario"));
        Assert.Equal(new Model.Reporting.EndObservation("CLOSE", "ECONNRESET"), o.Conn("A").Server);
        Assert.Equal("CLOSED_BY_APP", o.Conn("A").Client.State);
    }

    [Fact]
    public void TimeWaitReuse_NewSynAcceptedByTimeWait_WithIsnPlus65537()
    {
        var sim = Run.Sim(Run.Example("time-wait-reuse.scenario"));
        var oldServer = sim.Steps[2].Events.OfType<KernelEvent.Captured>().First(c => c.Segment.FlagString() == "S.").Segment;
        var connectB = sim.Steps[5].Events.OfType<KernelEvent.Captured>().ToList();
        var synAck = connectB.First(c => c.Segment.FlagString() == "S.").Segment;
        Assert.DoesNotContain(connectB, c => c.Segment.FlagString() == "R");
        // tw_snd_nxt (ISS + SYN + FIN) + 65537, as tcp_timewait_state_process sets it.
        Assert.Equal(oldServer.Seq + 2 + 65537, synAck.Seq);
    }
}
