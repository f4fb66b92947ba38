using ConntrackModel.Model.Choices;
using ConntrackModel.Model.Conntrack;
using ConntrackModel.Model.Kernel;
using ConntrackModel.Model.Scenarios;
using ConntrackModel.Model.Sockets;

namespace ConntrackModel.Tests;

/// <summary>Each command's effect on the world, one behaviour per test.</summary>
public class CommandTests
{
    private static string? Rejection(string script)
    {
        var sim = Simulation.Run(Run.Parse(script), ChoiceSource.Seeded(1));
        return sim.Rejected;
    }

    [Fact]
    public void Listen_SameAddressTwice_IsRejectedWithEADDRINUSE()
    {
        Assert.Contains("EADDRINUSE", Rejection("listen 127.0.0.1:8080\nlisten 127.0.0.1:8080"), StringComparison.Ordinal);
        Assert.Contains("EADDRNOTAVAIL", Rejection("listen 10.0.0.1:8080"), StringComparison.Ordinal);
    }

    [Fact]
    public void Connect_NoListener_IsRefused()
    {
        var o = Run.Observe("connect A 127.0.0.1:9");
        Assert.Equal("refused", o.Conn("A").Connect);
        // connect() returned the error, which consumed it; the source address was reset, the port kept.
        Assert.Null(o.Conn("A").Client.Error);
        Assert.StartsWith("0.0.0.0:", o.Conn("A").Local, StringComparison.Ordinal);
        Assert.Null(o.Conn("A").Server);
        Assert.Empty(o.Conn("A").Wire);
    }

    [Fact]
    public void Connect_WithoutBind_PicksAPortOfIpLocalPortRange()
    {
        for (ulong seed = 1; seed < 20; seed++)
        {
            var sim = Run.Sim("listen 127.0.0.1:8080\nconnect A 127.0.0.1:8080\nconnect B 127.0.0.1:8080", seed);
            var a = sim.Final.Connections[0].Local.Port;
            var b = sim.Final.Connections[1].Local.Port;
            Assert.InRange(a, 32768, 60999);
            Assert.InRange(b, 32768, 60999);
            Assert.NotEqual(a, b);
        }
    }

    [Fact]
    public void Connect_BindToPortInUse_IsRejected_AndDuplicateNamesToo()
    {
        Assert.Contains("EADDRINUSE", Rejection("listen 127.0.0.1:8080\nconnect A 127.0.0.1:40000 127.0.0.1:8080\nconnect B 127.0.0.1:40000 127.0.0.1:8080"), StringComparison.Ordinal);
        Assert.Contains("already used", Rejection("listen 127.0.0.1:8080\nconnect A 127.0.0.1:8080\nconnect A 127.0.0.1:8080"), StringComparison.Ordinal);
        // TIME_WAIT holds the port against bind() (measured: EADDRINUSE).
        Assert.Contains("EADDRINUSE", Rejection("listen 127.0.0.1:8080\nconnect A 127.0.0.1:40000 127.0.0.1:8080\nclose A\nclose A.server\nconnect B 127.0.0.1:40000 127.0.0.1:8080"), StringComparison.Ordinal);
    }

    [Fact]
    public void Send_BothDirections_DeliversLabelsInOrder()
    {
        var o = Run.Observe("listen 127.0.0.1:8080\nconnect A 127.0.0.1:8080\nsend A one\nsend A two\nsend A.server back");
        Assert.Equal(["one", "two"], o.Conn("A").Delivered.ToArray());
        Assert.Equal(["back"], o.Conn("A").Received.ToArray());
    }

    [Fact]
    public void Send_OnUnknownOrClosedEnd_IsRejected()
    {
        Assert.Contains("no connection named B", Rejection("listen 127.0.0.1:8080\nconnect A 127.0.0.1:8080\nsend B x"), StringComparison.Ordinal);
        Assert.Contains("already closed", Rejection("listen 127.0.0.1:8080\nconnect A 127.0.0.1:8080\nclose A\nsend A x"), StringComparison.Ordinal);
        Assert.Contains("never accepted", Rejection("connect A 127.0.0.1:9\nsend A.server x"), StringComparison.Ordinal);
    }

    [Fact]
    public void Close_ClientFirst_ClientEndsInTimeWait_ServerGone_AfterSixtySecondsBothGone()
    {
        var sim = Run.Sim("listen 127.0.0.1:8080\nconnect A 127.0.0.1:40000 127.0.0.1:8080\nclose A\nclose A.server");
        Assert.Equal(TcpState.TimeWait, sim.Final.Sockets.End("A")!.State);
        Assert.True(sim.Final.Sockets.End("A.server")!.Gone);
        var later = Run.Sim("listen 127.0.0.1:8080\nconnect A 127.0.0.1:40000 127.0.0.1:8080\nclose A\nclose A.server\nsleep 61\nconnect B 127.0.0.1:40000 127.0.0.1:8080");
        Assert.True(later.Final.Sockets.End("A")!.Gone);
        Assert.Equal(ConnectResult.Established, later.Final.Connections[1].Result);
    }

    [Fact]
    public void Close_HalfClose_PeerSeesCloseWait()
    {
        var sim = Run.Sim("listen 127.0.0.1:8080\nconnect A 127.0.0.1:8080\nclose A");
        Assert.Equal(TcpState.FinWait2, sim.Final.Sockets.End("A")!.State);
        Assert.Equal(TcpState.CloseWait, sim.Final.Sockets.End("A.server")!.State);
    }

    [Fact]
    public void Abort_SendsRst_PeerGetsECONNRESET_NoTimeWait()
    {
        var sim = Run.Sim("listen 127.0.0.1:8080\nconnect A 127.0.0.1:8080\nabort A");
        var rst = sim.Steps[^1].Events.OfType<KernelEvent.Captured>().Single().Segment;
        Assert.Equal("R.", rst.FlagString());
        Assert.Equal(Errno.ECONNRESET, sim.Final.Sockets.End("A.server")!.Error);
        Assert.True(sim.Final.Sockets.End("A")!.Gone);
    }

    [Fact]
    public void Iptables_RulesAreConntrackUsers_FlushStopsTrackingButKeepsEntries()
    {
        var sim = Run.Sim("""
            listen 127.0.0.1:8080
            iptables -t nat -A POSTROUTING -o nomatch0 -j MASQUERADE
            connect A 127.0.0.1:8080
            iptables -t nat -F
            connect B 127.0.0.1:8080
            """);
        Assert.False(sim.Final.Netfilter.Tracking);
        Assert.True(sim.Final.Netfilter.NatTableExists);
        var entries = sim.Final.Conntrack.Live(sim.Final.Now).ToList();
        Assert.Single(entries);
        Assert.Equal(sim.Final.Connections[0].Local, entries[0].Orig.Src);
    }

    [Fact]
    public void Iptables_InsertAndDelete_EditTheChainInOrder()
    {
        var sim = Run.Sim("""
            iptables -t nat -A POSTROUTING -p tcp --dport 1 -j ACCEPT
            iptables -t nat -A POSTROUTING -p tcp --dport 2 -j ACCEPT
            iptables -t nat -I POSTROUTING 1 -p tcp --dport 3 -j ACCEPT
            iptables -t nat -D POSTROUTING -p tcp --dport 1 -j ACCEPT
            iptables -t nat -A OUTPUT -p tcp --dport 4 -j ACCEPT
            iptables -t nat -D OUTPUT 1
            """);
        Assert.Equal([3, 2], sim.Final.Netfilter.Rules.Select(r => r.Match.DestinationPort!.Value.Min));
        Assert.Contains("Bad rule", Rejection("iptables -t nat -D POSTROUTING -j ACCEPT"), StringComparison.Ordinal);
        Assert.Contains("too big", Rejection("iptables -t nat -D POSTROUTING 1"), StringComparison.Ordinal);
    }

    [Fact]
    public void Modprobe_TracksWithoutNat_NoNullBindingRemap()
    {
        var sim = Run.Sim("modprobe nf_conntrack\nlisten 127.0.0.1:8080\nconnect A 127.0.0.1:40000 127.0.0.1:8080");
        var e = sim.Final.Conntrack.Live(sim.Final.Now).Single();
        Assert.False(e.Has(CtStatus.SrcNatDone));
        Assert.Equal(TcpCtState.Established, e.State);
        Assert.True(e.Has(CtStatus.Assured));
        Assert.Equal(5L * 24 * 3600 * 1000, e.ExpiresAt - sim.Final.Now);
    }

    [Fact]
    public void ConntrackFlush_EmptiesTheTable_AndAcceptsPickupLater()
    {
        var sim = Run.Sim("modprobe nf_conntrack\nlisten 127.0.0.1:8080\nconnect A 127.0.0.1:8080\nconntrack -F");
        Assert.Empty(sim.Final.Conntrack.Live(sim.Final.Now));
        var after = Run.Sim("modprobe nf_conntrack\nlisten 127.0.0.1:8080\nconnect A 127.0.0.1:8080\nconntrack -F\nsend A x");
        var e = after.Final.Conntrack.Live(after.Final.Now).Single();
        // Mid-stream pickup: ESTABLISHED, replied but not yet ASSURED, timeout capped at UNACK (300 s); measured 299.
        Assert.Equal(TcpCtState.Established, e.State);
        Assert.False(e.Has(CtStatus.Assured));
        Assert.Equal(300_000, e.ExpiresAt - after.Final.Now);
    }

    [Fact]
    public void Sysctl_LooseOff_NoPickupAfterFlush()
    {
        var sim = Run.Sim("modprobe nf_conntrack\nsysctl -w net.netfilter.nf_conntrack_tcp_loose=0\nlisten 127.0.0.1:8080\nconnect A 127.0.0.1:8080\nconntrack -F\nsend A x");
        Assert.Empty(sim.Final.Conntrack.Live(sim.Final.Now));
        Assert.True(sim.Final.Counters.Invalid > 0);
        Assert.Equal(["x"], sim.Final.Sockets.End("A.server")!.Received.ToArray());
    }

    [Fact]
    public void Sysctl_PortRange_RestrictsEphemeralPorts()
    {
        var sim = Run.Sim("listen 127.0.0.1:8080\nsysctl -w net.ipv4.ip_local_port_range=\"40000 40001\"\nconnect A 127.0.0.1:8080\nconnect B 127.0.0.1:8080");
        Assert.Equal([40000, 40001], sim.Final.Connections.Select(c => c.Local.Port).Order());
        Assert.Contains("no free local port", Rejection("listen 127.0.0.1:8080\nsysctl -w net.ipv4.ip_local_port_range=\"40000 40000\"\nconnect A 127.0.0.1:8080\nconnect B 127.0.0.1:8080"), StringComparison.Ordinal);
    }

    [Fact]
    public void Sleep_PastTheTimeout_ExpiresTheEntry()
    {
        var script = "modprobe nf_conntrack\nsysctl -w net.netfilter.nf_conntrack_tcp_timeout_established=2\nlisten 127.0.0.1:8080\nconnect A 127.0.0.1:8080\n";
        var before = Run.Sim(script + "sleep 1.9");
        Assert.Single(before.Final.Conntrack.Live(before.Final.Now));
        var after = Run.Sim(script + "sleep 2");
        Assert.Empty(after.Final.Conntrack.Live(after.Final.Now));
        Assert.Equal(2000, after.Final.Now);
    }

    [Fact]
    public void Step_RejectedCommand_LeavesTheWorldUnchanged()
    {
        var w = Simulation.Run(Run.Parse("listen 127.0.0.1:8080"), ChoiceSource.First).Final;
        var r = LinuxKernel.Step(w, new Command.Listen(new(Model.Addressing.IPv4Address.Loopback, 8080)), ChoiceSource.First);
        Assert.NotNull(r.Rejected);
        Assert.Same(w, r.World);
        Assert.Empty(r.Events);
    }
}
