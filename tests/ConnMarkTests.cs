using ConntrackModel.Model.Addressing;
using ConntrackModel.Model.Conntrack;
using ConntrackModel.Model.Iptables;
using ConntrackModel.Model.Kernel;
using ConntrackModel.Model.Scenarios;
using ConntrackModel.Replay.Kernel;

namespace ConntrackModel.Tests;

/// <summary>
/// The rest of issue 15's rule language: CONNMARK and <c>-m connmark</c> (the mark of the conntrack entry), LOG,
/// <c>--ctstatus</c>, the state names as libxt_conntrack reads them, <c>--limit-iface-*</c>, and REJECT's prohibited and
/// protocol answers. What they do on the kernel is compared by the examples' conformance (<c>connmark</c>,
/// <c>filter-reject-icmp</c>); the refusals by <see cref="FilterTableTests"/>' kernel test.
/// </summary>
public class ConnMarkTests
{
    private static IptRule Rule(string line) => ((Command.IptablesAdd)ScenarioParser.ParseLine(line)).Rule;

    private static IPv4Address Ip(string text) => IPv4Address.TryParse(text, out var ip) ? ip : throw new FormatException(text);

    /// <summary>Each CONNMARK form as iptables-save writes it back (measured): one --set-xmark, or save/restore with both masks.</summary>
    [Theory]
    [InlineData("--set-mark 0x5/0xf", ConnMarkMode.Set, 0x5u, 0xfu, 0u)]
    [InlineData("--set-mark 1", ConnMarkMode.Set, 0x1u, 0xffffffffu, 0u)]
    [InlineData("--set-xmark 0x4000/0x0", ConnMarkMode.Set, 0x4000u, 0x0u, 0u)]
    [InlineData("--or-mark 0x10", ConnMarkMode.Set, 0x10u, 0x10u, 0u)]
    [InlineData("--and-mark 0xff", ConnMarkMode.Set, 0x0u, 0xffffff00u, 0u)]
    [InlineData("--xor-mark 0x3", ConnMarkMode.Set, 0x3u, 0x0u, 0u)]
    [InlineData("--save-mark --mask 0xff", ConnMarkMode.Save, 0u, 0xffu, 0xffu)]
    [InlineData("--save-mark", ConnMarkMode.Save, 0u, 0xffffffffu, 0xffffffffu)]
    [InlineData("--restore-mark --nfmask 0xf0 --ctmask 0x0f", ConnMarkMode.Restore, 0u, 0xfu, 0xf0u)]
    public void ConnMark_Forms(string options, ConnMarkMode mode, uint ctMark, uint ctMask, uint nfMask)
    {
        var rule = Rule("iptables -t mangle -A OUTPUT -j CONNMARK " + options);
        Assert.Equal(new IptTarget.ConnMark(mode, ctMark, ctMask, nfMask), rule.Target);
        Assert.True(XtTable.UsesConntrack(rule));
    }

    /// <summary><c>connmark_tg_shift</c>'s three formulas.</summary>
    [Fact]
    public void ConnMark_Formulas()
    {
        var set = new IptTarget.ConnMark(ConnMarkMode.Set, 0x5, 0xf, 0);
        Assert.Equal(0xf5u, set.NewCtMark(0xfa, 0x1234));
        var save = new IptTarget.ConnMark(ConnMarkMode.Save, 0, 0xf0, 0xf0);
        Assert.Equal(0x20u, save.NewCtMark(0, 0x25));
        Assert.Equal(0x25u, save.NewMark(0x99, 0x25));
        var restore = new IptTarget.ConnMark(ConnMarkMode.Restore, 0, 0x0f, 0xf0);
        Assert.Equal(0x1003u, restore.NewMark(0x23, 0x10a0));
        Assert.Equal(0x23u, restore.NewCtMark(0x23, 0x10a0));
    }

    /// <summary>
    /// The example <c>connmark</c> (agrees with the kernel): A's entry gets mark 1 on its first packet and nat SNATs A by
    /// it; B's stays 0 until --save-mark writes B's packet mark 0x25 through the mask 0xf0 (0x20); LOG traces A's
    /// packets once its entry is ASSURED and none of B's.
    /// </summary>
    [Fact]
    public void ConnMark_Example()
    {
        var o = Run.Observe(Run.Example("connmark.scenario"));
        Assert.Equal(["127.0.0.1:40000"], o.Conn("A").Wire.ToArray());
        Assert.Equal(["127.0.0.1:50001"], o.Conn("B").Wire.ToArray());
        Assert.Equal([1u, 0x20u], o.Conntrack.OrderBy(e => e.Orig, StringComparer.Ordinal).Select(e => e.Mark).ToArray());
        var sim = Run.Sim(Run.Example("connmark.scenario"));
        var logged = sim.Events.OfType<KernelEvent.Logged>().ToList();
        Assert.Equal(3, logged.Count);
        Assert.All(logged, l => Assert.StartsWith("assured: IN=", l.Line, StringComparison.Ordinal));
        Assert.All(logged, l => Assert.Contains("MARK=0x1", l.Line, StringComparison.Ordinal));
        // The handshake's last ACK makes the entry ASSURED, so neither the SYN nor the SYN/ACK is logged.
        Assert.DoesNotContain(logged, l => l.Segment.Has(Model.Packets.TcpFlags.Syn));
        Assert.All(sim.Final.Conntrack.Live(sim.Final.Now), e => Assert.Contains($"mark={e.Mark} ", e.ToConntrackLine(sim.Final.Now), StringComparison.Ordinal));
    }

    /// <summary>CONNMARK, <c>-m connmark</c> and <c>--ctstatus</c> start tracking (their checkentry takes a conntrack reference); LOG does not.</summary>
    [Theory]
    [InlineData("iptables -t mangle -A OUTPUT -j CONNMARK --set-mark 1", true)]
    [InlineData("iptables -A OUTPUT -m connmark --mark 1 -j ACCEPT", true)]
    [InlineData("iptables -A OUTPUT -m conntrack --ctstatus ASSURED -j ACCEPT", true)]
    [InlineData("iptables -A OUTPUT -j LOG --log-prefix x", false)]
    public void Tracking_StartsWithConntrackUsers(string line, bool tracks) =>
        Assert.Equal(tracks, Run.Sim(line + "\n").Final.Namespaces[0].Netfilter.Tracking);

    /// <summary>
    /// State and status names as libxt_conntrack reads them (<c>strncasecmp</c> over the word: any case, a prefix names
    /// the first name it begins; measured: "new,est" saves as NEW,ESTABLISHED, "seen,ASSURED,none" as SEEN_REPLY,ASSURED).
    /// </summary>
    [Fact]
    public void StateAndStatusNames_AsLibxtConntrackReadsThem()
    {
        Assert.Equal(CtStates.New | CtStates.Established, Rule("iptables -A INPUT -m conntrack --ctstate new,est -j ACCEPT").Match.States);
        Assert.Equal(CtStates.New | CtStates.Related, Rule("iptables -A INPUT -m state --state new,Rel -j ACCEPT").Match.States);
        Assert.Equal(CtStatus.SeenReply | CtStatus.Assured, Rule("iptables -A INPUT -m conntrack --ctstatus seen,ASSURED,none -j ACCEPT").Match.Status);
        var negated = Rule("iptables -A INPUT -m conntrack ! --ctstatus CONFIRMED --ctstate NEW -j ACCEPT").Match;
        Assert.True(negated.Not.HasFlag(Negated.Status) && !negated.Not.HasFlag(Negated.State));
    }

    /// <summary>
    /// <c>conntrack_mt</c> without an entry: the match holds only if it tested the states and they held, whatever
    /// <c>--ctstatus</c> says; with one, any listed status bit (negated: none of them).
    /// </summary>
    [Fact]
    public void CtStatus_Semantics()
    {
        var t = new ConnTuple(new SockAddr(Ip("127.0.0.1"), 50000), new SockAddr(Ip("127.0.0.1"), 80));
        static bool None(IPv4Address ip, string? dev) => false;
        var entry = new CtEntry(1, t, t.Invert(), CtStatus.SeenReply | CtStatus.Confirmed, TcpCtState.Established, 0, default);
        var assured = Rule("iptables -A INPUT -m conntrack --ctstatus ASSURED -j ACCEPT").Match;
        var notAssured = Rule("iptables -A INPUT -m conntrack ! --ctstatus ASSURED -j ACCEPT").Match;
        var invalidOrAssured = Rule("iptables -A INPUT -m conntrack --ctstate INVALID --ctstatus ASSURED -j ACCEPT").Match;
        Assert.False(assured.Matches(t, "lo", null, None, 0, CtStates.Established, entry));
        Assert.True(notAssured.Matches(t, "lo", null, None, 0, CtStates.Established, entry));
        Assert.True(assured.Matches(t, "lo", null, None, 0, CtStates.Established, entry with { Status = entry.Status | CtStatus.Assured }));
        Assert.False(notAssured.Matches(t, "lo", null, None, 0, CtStates.Invalid, null));
        Assert.True(invalidOrAssured.Matches(t, "lo", null, None, 0, CtStates.Invalid, null));
        var connmark = Rule("iptables -A INPUT -m connmark ! --mark 0x1/0x3 -j ACCEPT").Match;
        Assert.True(connmark.Matches(t, "lo", null, None, 0, CtStates.Established, entry with { Mark = 0x2 }));
        Assert.False(connmark.Matches(t, "lo", null, None, 0, CtStates.Established, entry with { Mark = 0x5 }));
        Assert.False(connmark.Matches(t, "lo", null, None, 0, CtStates.Invalid, null));
    }

    /// <summary>
    /// <c>--limit-iface-in</c>: LOCAL only for an address of the packet's in device (<c>__inet_dev_addr_type</c>); an
    /// address of another device is UNICAST then. In a user chain the kernel checks no hook (measured), and where the
    /// device is missing the question is asked of every device.
    /// </summary>
    [Fact]
    public void LimitIface_AsksOfTheDevice()
    {
        var ip = Ip("10.0.0.1");
        var t = new ConnTuple(new SockAddr(Ip("10.0.0.2"), 50000), new SockAddr(ip, 80));
        bool OnEth0(IPv4Address a, string? dev) => a == ip && dev is null or "eth0";
        var local = Rule("iptables -t nat -A PREROUTING -m addrtype --dst-type LOCAL --limit-iface-in -j ACCEPT").Match;
        var unicast = Rule("iptables -t nat -A PREROUTING -m addrtype --dst-type UNICAST --limit-iface-in -j ACCEPT").Match;
        Assert.True(local.Matches(t, "eth0", null, OnEth0, 0, CtStates.New, null));
        Assert.False(local.Matches(t, "veth1", null, OnEth0, 0, CtStates.New, null));
        Assert.True(unicast.Matches(t, "veth1", null, OnEth0, 0, CtStates.New, null));
        var user = Run.Sim("iptables -t nat -N X\niptables -t nat -A X -m addrtype --src-type LOCAL --limit-iface-out -j ACCEPT\niptables -t nat -A PREROUTING -j X\n");
        Assert.Null(user.Rejected);
        Assert.Equal(AddrTypeLimit.Out, user.Final.Namespaces[0].Netfilter.Nat.UserChain("X")[0].Match.LimitIface);
    }

    /// <summary>
    /// The example <c>filter-reject-icmp</c> (agrees with the kernel): each ICMP code's socket error (measured) and the
    /// <c>! --ctstatus SEEN_REPLY</c> rule that spares a connection answered before it came.
    /// </summary>
    [Fact]
    public void RejectIcmp_Example()
    {
        var o = Run.Observe(Run.Example("filter-reject-icmp.scenario"));
        Assert.Equal(["hello"], o.Conn("A").Delivered.ToArray());
        Assert.Equal(("unreachable", "EHOSTUNREACH"), (o.Conn("C").Connect, o.Conn("C").Client.Error));
        Assert.Equal(("error ENOPROTOOPT", "ENOPROTOOPT"), (o.Conn("D").Connect, o.Conn("D").Client.Error));
        Assert.Equal(("unreachable", "ENETUNREACH"), (o.Conn("E").Connect, o.Conn("E").Client.Error));
        var sim = Run.Sim(Run.Example("filter-reject-icmp.scenario"));
        Assert.Contains(sim.Events.OfType<KernelEvent.Socket>(), s => s.End == "U" && s.Text.StartsWith("send \"two\" failed: EHOSTUNREACH", StringComparison.Ordinal));
        Assert.Contains(sim.Events.OfType<KernelEvent.Captured>(), c => c.Segment.Icmp?.ToTcpdump() == "host 127.0.0.1 unreachable - admin prohibited filter");
    }

    /// <summary><c>conntrack -L</c>'s mark reaches the comparison: two entries that differ only in it differ.</summary>
    [Fact]
    public void ConntrackList_ReadsTheMark()
    {
        const string Line = "tcp      6 431999 ESTABLISHED src=127.0.0.1 dst=127.0.0.1 sport=50000 dport=8080 src=127.0.0.1 dst=127.0.0.1 sport=8080 dport=40000 [ASSURED] mark=32 use=1";
        var entry = Assert.Single(ConntrackTool.ParseList(Line));
        Assert.Equal(32u, entry.Mark);
        Assert.NotEqual(entry.Text, (entry with { Mark = 0 }).Text);
    }

    /// <summary>The kernel replay hands a quoted word to iptables as one argument.</summary>
    [Fact]
    public void Words_KeepAQuotedPrefixWhole() =>
        Assert.Equal(["iptables", "-A", "OUTPUT", "-j", "LOG", "--log-prefix", "assured: "],
            ScenarioParser.Words("iptables -A OUTPUT -j LOG --log-prefix \"assured: \"").ToArray());
}
