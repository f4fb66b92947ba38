using System.Collections.Immutable;
using ConntrackModel.Model.Addressing;
using ConntrackModel.Model.Choices;
using ConntrackModel.Model.Conntrack;
using ConntrackModel.Model.Kernel;
using ConntrackModel.Model.Nat;
using ConntrackModel.Model.Packets;

namespace ConntrackModel.Tests;

/// <summary>Single kernel rules, checked in isolation against their source.</summary>
public class KernelRuleTests
{
    private static readonly SockAddr Server = new(IPv4Address.Loopback, 8080);

    private static SockAddr L(int port) => new(IPv4Address.Loopback, port);

    private static CtEntry Entry(long id, int clientPort, int wirePort, TcpCtState state = TcpCtState.Established, CtStatus extra = CtStatus.None) =>
        new(id, new ConnTuple(L(clientPort), Server), new ConnTuple(Server, L(wirePort)), CtStatus.Confirmed | extra, state, 1_000_000, TcpCtInfo.Empty);

    private static CtEntry NewSyn(int clientPort) =>
        new(99, new ConnTuple(L(clientPort), Server), new ConnTuple(Server, L(clientPort)), CtStatus.None, TcpCtState.SynSent, 1_000_000,
            TcpCtInfo.Empty with { Original = TcpDirState.Empty with { Initialized = true, TdEnd = 1000 } });

    private static NatRange Ports(int lo, int hi, bool random = false) => new(true, IPv4Address.Loopback, IPv4Address.Loopback, true, lo, hi, random, false, false);

    [Fact]
    public void GetUniqueTuple_SinglePortRange_IsReturnedWithoutAnyUniquenessCheck()
    {
        var table = CtTable.Empty.Insert(Entry(1, 40000, 40000), 0);
        var ct = NewSyn(50000);
        var r = NatSelection.GetUniqueTuple(ct.Orig, Ports(40000, 40000), ct, Manip.Src, table, 0, ChoiceSource.First, "k");
        Assert.Equal(40000, r.Tuple.Src.Port);
    }

    [Fact]
    public void GetUniqueTuple_InRangeAndFree_KeepsTheOriginalTuple()
    {
        var ct = NewSyn(40002);
        var r = NatSelection.GetUniqueTuple(ct.Orig, Ports(40000, 40003), ct, Manip.Src, CtTable.Empty, 0, ChoiceSource.Seeded(3), "k");
        Assert.Equal(ct.Orig, r.Tuple);
        Assert.Empty(r.Choices);
    }

    [Fact]
    public void GetUniqueTuple_Random_SkipsIdentityAndOffersEveryFreePort()
    {
        var table = CtTable.Empty.Insert(Entry(1, 40001, 40001), 0);
        var ct = NewSyn(40002);
        var r = NatSelection.GetUniqueTuple(ct.Orig, Ports(40000, 40003, random: true), ct, Manip.Src, table, 0, ChoiceSource.First, "k");
        var choice = Assert.Single(r.Choices);
        Assert.Equal(["127.0.0.1:40000", "127.0.0.1:40002", "127.0.0.1:40003"], choice.Alternatives.ToArray());
    }

    [Fact]
    public void GetUniqueTuple_NoFreePort_KeepsLastTriedPort_ForConfirmToDrop()
    {
        var table = CtTable.Empty.Insert(Entry(1, 1, 40000), 0).Insert(Entry(2, 2, 40001), 0);
        var ct = NewSyn(50000);
        var r = NatSelection.GetUniqueTuple(ct.Orig, Ports(40000, 40001), ct, Manip.Src, table, 0, ChoiceSource.First, "k");
        Assert.InRange(r.Tuple.Src.Port, 40000, 40001);
        Assert.True(NatSelection.Used(r.Tuple, ct, table, 0));
    }

    private static CtEntry Closing(int clientPort, uint tdEnd) => Entry(1, clientPort, 40000, TcpCtState.TimeWait, CtStatus.SrcNat) with
    {
        Tcp = TcpCtInfo.Empty with { Original = TcpDirState.Empty with { Initialized = true, TdEnd = tdEnd } },
    };

    [Fact]
    public void UsedTupleHarder_OtherClientTuple_IsnOrderIsAChoice()
    {
        // nf_seq_has_advanced compares ISNs of two different client 4-tuples: secure_tcp_seq's key decides.
        var table = CtTable.Empty.Insert(Closing(50001, 500), 0);
        var ct = NewSyn(50000);
        var kept = NatSelection.GetUniqueTuple(ct.Orig, Ports(40000, 40000, random: true), ct, Manip.Src, table, 0, ChoiceSource.First, "k");
        Assert.Null(kept.Evicted);
        var point = Assert.Single(kept.Choices, c => c.Point.Kind == ChoiceKind.SeqAdvanced);
        Assert.Equal("k:adv1", point.Point.Key);
        var advanced = new ScriptedChoices(ImmutableDictionary<string, int>.Empty.Add("k:adv1", 1), ChoiceSource.First);
        var evicted = NatSelection.GetUniqueTuple(ct.Orig, Ports(40000, 40000, random: true), ct, Manip.Src, table, 0, advanced, "k");
        Assert.Equal((40000, 1L), (evicted.Tuple.Src.Port, evicted.Evicted!.Value));
    }

    [Fact]
    public void UsedTupleHarder_SameClientTuple_EvictsWhenTheIsnAdvanced()
    {
        // Same client 4-tuple: the keyed hash is equal, the clock decides; the model compares its sequence numbers.
        var ct = NewSyn(50000);
        var older = CtTable.Empty.Insert(Closing(50000, ct.Tcp.Original.TdEnd - 1000) with { Orig = ct.Orig }, 0);
        var r = NatSelection.GetUniqueTuple(ct.Orig, Ports(40000, 40000, random: true), ct, Manip.Src, older, 0, ChoiceSource.First, "k");
        Assert.Equal(1L, r.Evicted);
        Assert.DoesNotContain(r.Choices, c => c.Point.Kind == ChoiceKind.SeqAdvanced);
    }

    [Fact]
    public void DnatWithoutRandom_TakesTheFirstFreePortFromTheStart()
    {
        var ct = NewSyn(50000);
        var table = CtTable.Empty.Insert(new CtEntry(1, new ConnTuple(L(50000), L(9000)), new ConnTuple(L(9000), L(50000)), CtStatus.Confirmed, TcpCtState.Established, 1_000_000, TcpCtInfo.Empty), 0);
        var range = new NatRange(true, IPv4Address.Loopback, IPv4Address.Loopback, true, 9000, 9003, false, false, false);
        var r = NatSelection.GetUniqueTuple(ct.Orig with { Dst = L(80) }, range, ct with { Orig = ct.Orig with { Dst = L(80) } }, Manip.Dst, table, 0, ChoiceSource.Seeded(9), "k");
        Assert.Equal(9001, r.Tuple.Dst.Port);
        Assert.Empty(r.Choices);
    }

    [Theory]
    [InlineData(CtDirection.Original, TcpFlagClass.Syn, TcpCtState.None, TcpCtState.SynSent)]
    [InlineData(CtDirection.Reply, TcpFlagClass.SynAck, TcpCtState.SynSent, TcpCtState.SynRecv)]
    [InlineData(CtDirection.Original, TcpFlagClass.Ack, TcpCtState.SynRecv, TcpCtState.Established)]
    [InlineData(CtDirection.Original, TcpFlagClass.Ack, TcpCtState.None, TcpCtState.Established)]
    [InlineData(CtDirection.Reply, TcpFlagClass.Ack, TcpCtState.SynSent, TcpCtState.Ignore)]
    [InlineData(CtDirection.Original, TcpFlagClass.Syn, TcpCtState.Established, TcpCtState.Ignore)]
    [InlineData(CtDirection.Original, TcpFlagClass.Rst, TcpCtState.SynSent, TcpCtState.Close)]
    [InlineData(CtDirection.Original, TcpFlagClass.Syn, TcpCtState.Close, TcpCtState.SynSent)]
    [InlineData(CtDirection.Original, TcpFlagClass.Fin, TcpCtState.Established, TcpCtState.FinWait)]
    [InlineData(CtDirection.Reply, TcpFlagClass.Ack, TcpCtState.LastAck, TcpCtState.TimeWait)]
    [InlineData(CtDirection.Original, TcpFlagClass.SynAck, TcpCtState.None, TcpCtState.Max)]
    public void TransitionTable_Cells_MatchTcpConntracks(CtDirection dir, TcpFlagClass index, TcpCtState from, TcpCtState to)
    {
        Assert.Equal(to, TcpTransitionTable.Next(dir, index, from));
    }

    [Fact]
    public void Tracker_RstAnsweringChallengeAckInSynSent_MovesToClose_ThenSynReopens()
    {
        var ct = NewSyn(50000) with { Status = CtStatus.Confirmed };
        var challenge = new Segment(new ConnTuple(Server, L(50000)), TcpFlags.Ack, 7, 12345, null, "A.server");
        var ignored = TcpTracker.Packet(ct, CtDirection.Reply, challenge, Sysctls.Default, 0);
        Assert.Equal((TrackVerdict.Accept, TcpCtState.SynSent, 12345u), (ignored.Verdict, ignored.Ct.State, ignored.Ct.Tcp.LastAck));
        var rst = new Segment(ct.Orig, TcpFlags.Rst, 12345, 0, null, "B");
        var closed = TcpTracker.Packet(ignored.Ct with { Status = ignored.Ct.Status | CtStatus.SeenReply }, CtDirection.Original, rst, Sysctls.Default, 0);
        Assert.Equal((TrackVerdict.Accept, TcpCtState.Close), (closed.Verdict, closed.Ct.State));
        Assert.Equal(10_000, closed.Ct.ExpiresAt);
        var syn = new Segment(ct.Orig, TcpFlags.Syn, 999, 0, null, "B");
        Assert.Equal(TrackVerdict.Repeat, TcpTracker.Packet(closed.Ct, CtDirection.Original, syn, Sysctls.Default, 8).Verdict);
    }

    [Fact]
    public void Tracker_RstBelowPeersMaxAck_IsInvalid()
    {
        var ct = Entry(1, 50000, 50000) with
        {
            Status = CtStatus.Confirmed | CtStatus.SeenReply | CtStatus.Assured,
            Tcp = TcpCtInfo.Empty with { Reply = TcpDirState.Empty with { Initialized = true, MaxAckSet = true, TdMaxAck = 5000 }, LastIndex = TcpFlagClass.Ack },
        };
        var rst = new Segment(ct.Orig, TcpFlags.Rst, 4000, 0, null, "X");
        Assert.Equal(TrackVerdict.Invalid, TcpTracker.Packet(ct, CtDirection.Original, rst, Sysctls.Default, 0).Verdict);
        Assert.Equal(TrackVerdict.Accept, TcpTracker.Packet(ct, CtDirection.Original, rst with { Seq = 5000 }, Sysctls.Default, 0).Verdict);
    }

    [Fact]
    public void TcpNew_NonSynWithLooseOff_CreatesNoEntry()
    {
        var ct = NewSyn(1) with { State = TcpCtState.None };
        var ack = new Segment(ct.Orig, TcpFlags.Ack, 1, 1, null, "A");
        Assert.NotNull(TcpTracker.New(ack, Sysctls.Default));
        Assert.Null(TcpTracker.New(ack, Sysctls.Default with { TcpLoose = false }));
        Assert.Null(TcpTracker.New(ack with { Flags = TcpFlags.Syn | TcpFlags.Ack }, Sysctls.Default));
    }

    [Fact]
    public void CtTable_ComparesByContents()
    {
        var a = CtTable.Empty.Insert(Entry(1, 1, 1), 0).Insert(Entry(2, 2, 2), 0);
        var b = CtTable.Empty.Insert(Entry(2, 2, 2), 0).Insert(Entry(1, 1, 1), 0);
        Assert.Equal(a, b);
        Assert.NotEqual(a, b.Remove(1));
        Assert.Equal(a.Remove(2), CtTable.Empty.Insert(Entry(1, 1, 1), 0));
    }

    [Fact]
    public void ScriptedChoices_OverrideByKey_AndSeededDependsOnlyOnKey()
    {
        var p = new ChoicePoint(ChoiceKind.NatPortOutcome, "nat:src:B#0:port", 3);
        var s = new ScriptedChoices(ImmutableDictionary<string, int>.Empty.Add(p.Key, 2), ChoiceSource.First);
        Assert.Equal(2, s.Choose(p));
        Assert.Equal(0, s.Choose(p with { Key = "other" }));
        Assert.Equal(ChoiceSource.Seeded(5).Choose(p), ChoiceSource.Seeded(5).Choose(p));
    }
}
