using ConntrackModel.Model.Addressing;
using ConntrackModel.Model.Conntrack;
using ConntrackModel.Model.Diagnostics;
using ConntrackModel.Model.Kernel;

namespace ConntrackModel.Tests;

/// <summary>Each invariant: one scenario that breaks it and one that keeps it.</summary>
public class InvariantTests
{
    [Fact]
    public void Invariant_WireTupleUniqueness_BrokenByLateStart_AtTheConnectOfB()
    {
        var sim = Run.Sim(Run.Example("reference.scenario"));
        var v = sim.Violations.First(x => x.Invariant == InvariantId.WireTupleUniqueness);
        Assert.Equal(4, v.Step);
        Assert.Contains("segment of connection B", v.Message, StringComparison.Ordinal);
        Assert.Contains("reached A.server", v.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Invariant_WireTupleUniqueness_KeptByPortRangeAtBoot()
    {
        Assert.DoesNotContain(Run.Sim(Run.Example("port-range.scenario")).Violations, v => v.Invariant == InvariantId.WireTupleUniqueness);
    }

    [Fact]
    public void Invariant_NoForeignReset_BrokenByLateStart()
    {
        var v = Run.Sim(Run.Example("reference.scenario")).Violations.Single(x => x.Invariant == InvariantId.NoForeignReset);
        Assert.Equal(4, v.Step);
        Assert.StartsWith("A.server was reset by a RST of connection B", v.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Invariant_NoForeignReset_KeptWhenAConnectionResetsItself()
    {
        var sim = Run.Sim(Run.Example("abort.scenario"));
        Assert.Contains(sim.Events, e => e is KernelEvent.Reset r && r.End == "A.server");
        Assert.Empty(sim.Violations);
    }

    [Fact]
    public void Invariant_CtTupleUniqueness_KeptByEveryExample()
    {
        foreach (var f in ExamplesTests.Expected.Select(r => (string)r[0]))
            Assert.DoesNotContain(Run.Sim(Run.Example(f)).Violations, v => v.Invariant == InvariantId.CtTupleUniqueness);
    }

    [Fact]
    public void Invariant_CtTupleUniqueness_BrokenByATableWithASharedReplyTuple()
    {
        var a = new SockAddr(IPv4Address.Loopback, 40000);
        var b = new SockAddr(IPv4Address.Loopback, 50000);
        var s = new SockAddr(IPv4Address.Loopback, 8080);
        var e1 = new CtEntry(1, new ConnTuple(a, s), new ConnTuple(s, a), CtStatus.Confirmed, TcpCtState.Established, 1000, TcpCtInfo.Empty);
        var e2 = new CtEntry(2, new ConnTuple(b, s), new ConnTuple(s, a), CtStatus.Confirmed, TcpCtState.Established, 1000, TcpCtInfo.Empty);
        var world = World.Initial with { Conntrack = CtTable.Empty.Insert(e1, 0).Insert(e2, 0) };
        var v = Assert.Single(Invariants.Check(1, world, []));
        Assert.Equal(InvariantId.CtTupleUniqueness, v.Invariant);
        Assert.Empty(Invariants.Check(1, World.Initial with { Conntrack = CtTable.Empty.Insert(e1, 0) }, []));
    }

    [Fact]
    public void Invariants_EveryIdHasANameAndAMeaning()
    {
        foreach (var id in Invariants.All)
        {
            Assert.Matches("^[a-z-]+$", Invariants.Name(id));
            Assert.True(Invariants.Meaning(id).Length > 30);
            Assert.True(Invariants.TryParse(Invariants.Name(id), out var back));
            Assert.Equal(id, back);
        }
    }
}
