using BenchmarkDotNet.Attributes;
using ConntrackModel.Model.Addressing;
using ConntrackModel.Model.Choices;
using ConntrackModel.Model.Conntrack;
using ConntrackModel.Model.Kernel;
using ConntrackModel.Model.Nat;

namespace ConntrackModel.Benchmarks;

/// <summary>
/// The conntrack table (<c>__nf_conntrack_find_get</c>, insert, delete) and NAT tuple selection
/// (<c>get_unique_tuple</c>) on a table of N confirmed entries.
/// </summary>
[MemoryDiagnoser]
public class ConntrackBenchmarks
{
    private CtTable _table = CtTable.Empty;
    private long _now;
    private CtEntry _present = null!;
    private CtEntry _fresh = null!;
    private NatRange _range = null!;

    [Params(1_000, 10_000, 100_000)]
    public int Connections { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var world = Worlds.After(Connections);
        _table = world.Conntrack;
        _now = world.Now;
        _present = _table.Live(_now).Skip(Connections / 2).First();
        // A new flow to the same server, SNATed into 64 ports that start at a port an entry already maps to: the
        // identity tuple is out of range and the first candidate is taken, so the search probes.
        var taken = _present.Reply.Dst.Port;
        var orig = new ConnTuple(new SockAddr(IPv4Address.Loopback, 1), _present.Orig.Dst);
        _fresh = new CtEntry(long.MaxValue, orig, orig.Invert(), CtStatus.None, TcpCtState.SynSent, _now + 120_000, TcpCtInfo.Empty);
        _range = new NatRange(true, IPv4Address.Loopback, IPv4Address.Loopback, true, taken, Math.Min(65535, taken + 63), false, false, false);
    }

    [Benchmark]
    public (CtEntry, CtDirection)? FindHit() => _table.Find(_present.Reply, _now);

    [Benchmark]
    public (CtEntry, CtDirection)? FindMiss() => _table.Find(_fresh.Orig, _now);

    [Benchmark]
    public CtTable InsertThenRemove() => _table.Insert(_fresh with { Status = CtStatus.Confirmed }, _now).Remove(_fresh.Id);

    /// <summary>get_unique_tuple for a SNAT to a 64-port range: the random start and the probes (nf_nat_l4proto_unique_tuple).</summary>
    [Benchmark]
    public NatOutcome NatSelectionClash() =>
        NatSelection.GetUniqueTuple(_fresh.Orig, _range, _fresh, Manip.Src, _table, _now, ChoiceSource.Seeded(1), "nat:src:X#0");
}
