using ConntrackModel.Model.Reporting;

namespace ConntrackModel.Tests;

/// <summary>The two cases measured on Linux 6.18 in a fresh network namespace (issue text), as the model predicts them.</summary>
public class GroundTruthTests
{
    [Fact]
    public void Reference_LateStart_BStealsAsTupleAndResetsAsServerEnd()
    {
        var o = Run.Observe(Run.Example("reference.scenario"));
        var a = o.Conn("A");
        var b = o.Conn("B");
        Assert.Equal("established", a.Connect);
        Assert.Equal("established", b.Connect);
        Assert.Equal(["127.0.0.1:40000"], b.Wire.ToArray());
        Assert.Equal(new EndObservation("CLOSE", "ECONNRESET"), a.Server);
        Assert.Equal(new EndObservation("ESTABLISHED", null), a.Client);
        Assert.Equal(new EndObservation("ESTABLISHED", null), b.Client);
        Assert.Equal(new EndObservation("ESTABLISHED", null), b.Server);
        Assert.DoesNotContain("late", a.Delivered);
        Assert.DoesNotContain("late", b.Delivered);
        var entry = Assert.Single(o.Conntrack);
        Assert.Equal(new CtObservation("tcp", "ESTABLISHED", "127.0.0.1:50000->127.0.0.1:8080", "127.0.0.1:8080->127.0.0.1:40000", true), entry);
        Assert.True(o.InsertFailed > 0);
        Assert.True(o.Drop > 0);
    }

    [Fact]
    public void Reference_Trace_ShowsChallengeAckThenRstThenNewHandshake()
    {
        var sim = Run.Sim(Run.Example("reference.scenario"));
        var connectB = sim.Steps[3];
        var lines = connectB.Events.OfType<Model.Kernel.KernelEvent.Captured>().Select(c => c.Segment.ToTcpdump()).ToList();
        Assert.StartsWith("IP 127.0.0.1.40000 > 127.0.0.1.8080: Flags [S]", lines[0], StringComparison.Ordinal);
        Assert.StartsWith("IP 127.0.0.1.8080 > 127.0.0.1.50000: Flags [.]", lines[1], StringComparison.Ordinal);
        Assert.StartsWith("IP 127.0.0.1.40000 > 127.0.0.1.8080: Flags [R]", lines[2], StringComparison.Ordinal);
        Assert.StartsWith("IP 127.0.0.1.40000 > 127.0.0.1.8080: Flags [S]", lines[3], StringComparison.Ordinal);
        Assert.StartsWith("IP 127.0.0.1.8080 > 127.0.0.1.50000: Flags [S.]", lines[4], StringComparison.Ordinal);
        // The RST carries the challenge ACK's ack number as its sequence number (tcp_v4_send_reset).
        var captured = connectB.Events.OfType<Model.Kernel.KernelEvent.Captured>().Select(c => c.Segment).ToList();
        Assert.Equal(captured[1].Ack, captured[2].Seq);
        // The SYN is re-sent TCP_TIMEOUT_MIN (2 jiffies at HZ=250) after the RST; measured 8-16 ms.
        var rstTime = connectB.Events.OfType<Model.Kernel.KernelEvent.Captured>().ElementAt(2).Time;
        var synTime = connectB.Events.OfType<Model.Kernel.KernelEvent.Captured>().ElementAt(3).Time;
        Assert.Equal(8, synTime - rstTime);
    }

    [Theory]
    [InlineData(1UL)]
    [InlineData(2UL)]
    [InlineData(3UL)]
    [InlineData(4UL)]
    [InlineData(5UL)]
    [InlineData(17UL)]
    public void PortRange_AtBoot_AKeeps40000_BAndCGetDistinctFreePorts(ulong seed)
    {
        var o = Run.Observe(Run.Example("port-range.scenario"), seed);
        Assert.All(o.Connections, c => Assert.Equal("established", c.Connect));
        Assert.All(o.Connections, c => Assert.Equal("ESTABLISHED", c.Server!.State));
        Assert.Equal(["127.0.0.1:40000"], o.Conn("A").Wire.ToArray());
        Assert.Equal(3, o.Conntrack.Length);
        var replies = o.Conntrack.Select(e => e.Reply).ToList();
        Assert.Equal(3, replies.Distinct().Count());
        var bPort = o.Conntrack.Single(e => e.Orig.StartsWith("127.0.0.1:50000", StringComparison.Ordinal)).Reply;
        var cPort = o.Conntrack.Single(e => e.Orig.StartsWith("127.0.0.1:50001", StringComparison.Ordinal)).Reply;
        Assert.NotEqual(bPort, cPort);
        Assert.Matches("127.0.0.1:4000[123]$", bPort);
        Assert.Matches("127.0.0.1:4000[123]$", cPort);
        // Every possibility, over all NAT choices, is listed.
        Assert.Equal(["127.0.0.1:40001", "127.0.0.1:40002", "127.0.0.1:40003"], o.Conn("B").Wire.ToArray());
        Assert.Equal(["127.0.0.1:40001", "127.0.0.1:40002", "127.0.0.1:40003"], o.Conn("C").Wire.ToArray());
        Assert.Empty(o.Violations);
    }

    [Fact]
    public void PortRange_AllSeeds_CoverEveryPortPairTheKernelShowed()
    {
        // Measured (5 runs): (40003,40002), (40001,40003), (40002,40001), (40002,40003), (40001,40002).
        var pairs = new HashSet<(string, string)>();
        for (ulong seed = 1; seed <= 60; seed++)
        {
            var live = Run.Sim(Run.Example("port-range.scenario"), seed);
            var t = live.Final.Conntrack.Live(live.Final.Now).ToList();
            pairs.Add((t[1].Reply.Dst.ToString(), t[2].Reply.Dst.ToString()));
        }
        Assert.Contains(("127.0.0.1:40003", "127.0.0.1:40002"), pairs);
        Assert.Contains(("127.0.0.1:40001", "127.0.0.1:40003"), pairs);
        Assert.Contains(("127.0.0.1:40002", "127.0.0.1:40001"), pairs);
        Assert.Equal(6, pairs.Count);
    }
}
