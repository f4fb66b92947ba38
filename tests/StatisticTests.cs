using ConntrackModel.Model.Choices;
using ConntrackModel.Model.Iptables;
using ConntrackModel.Model.Kernel;
using ConntrackModel.Model.Scenarios;

namespace ConntrackModel.Tests;

/// <summary>
/// <c>-m statistic</c> beyond kube-proxy's random draws in the nat table: nth mode's counter per rule (example
/// <c>statistic-nth</c>, which agrees with the kernel), inversion, and random draws in the other tables.
/// </summary>
public class StatisticTests
{
    private static IptRule Rule(string line) => ((Command.IptablesAdd)ScenarioParser.ParseLine(line)).Rule;

    /// <summary>libxt_statistic's parse: N and P as written, the counter starting at N-1-P (refusals: <see cref="FilterTableTests"/>).</summary>
    [Fact]
    public void Nth_Parse()
    {
        var rule = Rule("iptables -t nat -A OUTPUT -p tcp --dport 80 -m statistic --mode nth --every 3 --packet 1 -j DNAT --to-destination 127.0.0.1:8080");
        Assert.Equal((3u, 1u), rule.Match.Nth);
        Assert.Null(rule.Match.Probability);
        Assert.Equal(1u, new XtTable(IptTable.Nat).NthCount(rule));
        var inverted = Rule("iptables -A INPUT -m statistic --mode nth ! --every 2 --packet 1 -j DROP").Match;
        Assert.True(inverted.Not.HasFlag(Negated.Statistic));
        Assert.True(Rule("iptables -A INPUT -m statistic --mode random ! --probability 0.5 -j DROP").Match.Not.HasFlag(Negated.Statistic));
    }

    /// <summary>
    /// <c>statistic_mt</c>'s counter: packets P, P+N, P+2N match; each rule object keeps its own (a rule added again
    /// starts afresh, as iptables-nft allocates one per rule); the count is part of the table's value.
    /// </summary>
    [Fact]
    public void Nth_CounterPerRule()
    {
        var rule = Rule("iptables -A INPUT -m statistic --mode nth --every 3 --packet 1 -j DROP");
        var table = new XtTable(IptTable.Filter) { Rules = [rule] };
        var hits = new List<bool>();
        for (var i = 0; i < 7; i++)
        {
            (var hit, table) = table.NthStep(rule);
            hits.Add(hit);
        }
        Assert.Equal([false, true, false, false, true, false, false], hits);
        Assert.NotEqual(new XtTable(IptTable.Filter) { Rules = [rule] }, table);
        var again = Rule("iptables -A INPUT -m statistic --mode nth --every 3 --packet 1 -j DROP");
        Assert.Equal(1u, table.NthCount(again));
        Assert.Equal(table.NthCount(rule), (table with { Rules = table.Rules.Add(again) }).NthCount(rule));
    }

    /// <summary>
    /// The example <c>statistic-nth</c> (agrees with the kernel): B and E, the 2nd and 5th connections, are DNATed to
    /// 8080; the filter rule drops q1 and q3.
    /// </summary>
    [Fact]
    public void Nth_Example()
    {
        var o = Run.Observe(Run.Example("statistic-nth.scenario"));
        var dnated = o.Conntrack.Where(e => e.Reply.StartsWith("127.0.0.1:8080->", StringComparison.Ordinal)).Select(e => e.Orig).ToHashSet();
        Assert.Equal(2, dnated.Count);
        Assert.Equal(["B", "E"], o.Connections.Where(c => c.Proto == "tcp" && dnated.Contains(c.Local + "->127.0.0.1:80")).Select(c => c.Name).ToArray());
        Assert.Equal(["q2", "q4"], o.Conn("U").Delivered.ToArray());
    }

    /// <summary>
    /// A random draw outside the nat table is a choice of the model, one per packet that reaches it, named after the
    /// packet's origin: both answers happen across seeds, and the trace says which.
    /// </summary>
    [Fact]
    public void Random_InTheFilterTable_IsAChoicePerPacket()
    {
        const string Script = "ip link set lo up\nlisten -u 127.0.0.1:53\niptables -A INPUT -p udp --dport 53 -m statistic --mode random --probability 0.5 -j DROP\n" +
                              "connect -u U 127.0.0.1:53\nsend U q1\nsend U q2\nsend U q3\n";
        var sim = Simulation.Run(Run.Parse(Script), ChoiceSource.First);
        var draws = sim.Events.OfType<KernelEvent.Choice>().Where(c => c.Made.Point.Kind == ChoiceKind.Statistic).ToList();
        Assert.Equal(3, draws.Count);
        Assert.Equal(3, draws.Select(d => d.Made.Point.Key.ToString()).Distinct().Count());
        Assert.All(draws, d => Assert.Contains(":filter-stat", d.Made.Point.Key.ToString(), StringComparison.Ordinal));
        // ChoiceSource.First takes answer 0 (the match holds): every datagram dropped.
        Assert.Equal(3, sim.Events.OfType<KernelEvent.Dropped>().Count(d => d.Reason.Contains("dropped by -A INPUT", StringComparison.Ordinal)));
        var delivered = Enumerable.Range(1, 20).Select(seed => Run.Observe(Script, (ulong)seed).Conn("U").Delivered.Length).ToHashSet();
        Assert.True(delivered.Count > 1, "every seed delivered as many datagrams");
    }
}
