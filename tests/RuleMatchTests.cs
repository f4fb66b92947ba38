using ConntrackModel.Model.Addressing;
using ConntrackModel.Model.Iptables;
using ConntrackModel.Model.Nat;
using ConntrackModel.Model.Scenarios;
using ConntrackModel.Replay.Host;
using ConntrackModel.Tests.Replay;
using Xunit.Abstractions;

namespace ConntrackModel.Tests;

/// <summary>
/// The matches kube-proxy's rules use beyond the basic ones: <c>!</c>, <c>-m comment</c>, <c>-m multiport</c>,
/// <c>-m addrtype</c>: what each matches, and the rules iptables refuses, in its words (a kernel test runs each).
/// </summary>
public class RuleMatchTests(ITestOutputHelper output)
{
    private static RuleMatch Match(string spec) => ((Command.IptablesAdd)ScenarioParser.ParseLine("iptables -t nat -A PREROUTING " + spec)).Rule.Match;

    private static ConnTuple T(string src, string dst, L4Proto proto = L4Proto.Tcp) =>
        new(SockAddr.TryParse(src, out var s) ? s : default, SockAddr.TryParse(dst, out var d) ? d : default, proto);

    private static readonly Func<IPv4Address, bool> NodeLocal = ip => ip.ToString() is "192.168.1.10" or "127.0.0.1";

    [Theory]
    [InlineData("! -s 10.244.0.0/16 -j ACCEPT", "192.168.1.20:5000", "10.244.0.2:80", true)]
    [InlineData("! -s 10.244.0.0/16 -j ACCEPT", "10.244.0.3:5000", "10.244.0.2:80", false)]
    [InlineData("! -d 127.0.0.0/8 -j ACCEPT", "10.244.0.3:5000", "127.0.0.1:80", false)]
    [InlineData("! -p tcp -j ACCEPT", "10.244.0.3:5000", "127.0.0.1:80", false)]
    [InlineData("-p tcp ! --dport 80 -j ACCEPT", "10.244.0.3:5000", "127.0.0.1:80", false)]
    [InlineData("-p tcp ! --dport 80 -j ACCEPT", "10.244.0.3:5000", "127.0.0.1:81", true)]
    [InlineData("-p tcp -m multiport --dports 80,443,8000:8080 -j ACCEPT", "10.244.0.3:5000", "10.96.0.10:8042", true)]
    [InlineData("-p tcp -m multiport --dports 80,443,8000:8080 -j ACCEPT", "10.244.0.3:443", "10.96.0.10:22", false)]
    [InlineData("-p tcp -m multiport --ports 443 -j ACCEPT", "10.244.0.3:443", "10.96.0.10:22", true)]
    [InlineData("-p tcp -m multiport --sports 443 -j ACCEPT", "10.244.0.3:22", "10.96.0.10:443", false)]
    [InlineData("-p tcp -m multiport ! --dports 80,443 -j ACCEPT", "10.244.0.3:5000", "10.96.0.10:443", false)]
    [InlineData("-m addrtype --dst-type LOCAL -j ACCEPT", "192.168.1.20:5000", "192.168.1.10:30080", true)]
    [InlineData("-m addrtype --dst-type LOCAL -j ACCEPT", "192.168.1.20:5000", "10.96.0.10:80", false)]
    [InlineData("-m addrtype ! --dst-type LOCAL -j ACCEPT", "192.168.1.20:5000", "10.96.0.10:80", true)]
    [InlineData("-m addrtype --dst-type UNICAST -j ACCEPT", "192.168.1.20:5000", "10.96.0.10:80", true)]
    [InlineData("-m addrtype --dst-type UNICAST -j ACCEPT", "192.168.1.20:5000", "192.168.1.10:80", false)]
    [InlineData("-m addrtype --dst-type MULTICAST -j ACCEPT", "192.168.1.20:5000", "224.0.0.251:5353", true)]
    [InlineData("-m addrtype --src-type LOCAL -j ACCEPT", "192.168.1.10:5000", "10.96.0.10:80", true)]
    [InlineData("-m addrtype --dst-type BROADCAST -j ACCEPT", "192.168.1.20:68", "0.0.0.0:67", true)]
    [InlineData("-m addrtype --dst-type UNICAST -j ACCEPT", "192.168.1.20:68", "0.0.0.0:67", false)]
    [InlineData("-m addrtype --dst-type BROADCAST -j ACCEPT", "192.168.1.20:68", "255.255.255.255:67", true)]
    [InlineData("-m comment --comment \"default/web:http cluster IP\" -p tcp -j ACCEPT", "192.168.1.10:5000", "10.96.0.10:80", true)]
    public void Matches_AsTheKernelWould(string spec, string src, string dst, bool expected) =>
        Assert.Equal(expected, Match(spec).Matches(T(src, dst), "eth1", null, NodeLocal, 0, CtStates.New));

    /// <summary>
    /// A device the hook does not have is the empty name: <c>-i X</c> does not match it, <c>! -i X</c> does (measured: a
    /// host process's connect to its own address at Docker's published port is DNATed by <c>-A DOCKER ! -i docker0</c>,
    /// reached from OUTPUT, which has no in device; example setups/docker-host, <c>conform --random</c>).
    /// </summary>
    [Fact]
    public void Negated_InInterface_AndADeviceTheHookHasNot()
    {
        var m = Match("! -i eth+ -j ACCEPT");
        Assert.False(m.Matches(T("1.2.3.4:1", "5.6.7.8:2"), "eth1", null, NodeLocal, 0, CtStates.New));
        Assert.True(m.Matches(T("1.2.3.4:1", "5.6.7.8:2"), "veth1", null, NodeLocal, 0, CtStates.New));
        Assert.True(m.Matches(T("1.2.3.4:1", "5.6.7.8:2"), null, null, NodeLocal, 0, CtStates.New));
        Assert.False(Match("-i eth+ -j ACCEPT").Matches(T("1.2.3.4:1", "5.6.7.8:2"), null, null, NodeLocal, 0, CtStates.New));
        // In a user chain PREROUTING reaches (iptables refuses -o at PREROUTING itself): no out device there.
        static RuleMatch InUserChain(string spec) => ((Command.IptablesAdd)ScenarioParser.ParseLine("iptables -t nat -A DOCKER " + spec)).Rule.Match;
        Assert.True(InUserChain("! -o docker0 -j ACCEPT").Matches(T("1.2.3.4:1", "5.6.7.8:2"), "eth0", null, NodeLocal, 0, CtStates.New));
        Assert.False(InUserChain("-o docker0 -j ACCEPT").Matches(T("1.2.3.4:1", "5.6.7.8:2"), "eth0", null, NodeLocal, 0, CtStates.New));
    }

    [Fact]
    public void SameRule_ComparesNegationAndPortLists_NotSpelling()
    {
        var a = (Command.IptablesAdd)ScenarioParser.ParseLine("iptables -t nat -A PREROUTING -p tcp -m multiport --dports 80,443 -j ACCEPT");
        var b = (Command.IptablesAdd)ScenarioParser.ParseLine("iptables -t nat -A PREROUTING -p tcp -m comment --comment x -m multiport --dports 80,443 -j ACCEPT");
        var c = (Command.IptablesAdd)ScenarioParser.ParseLine("iptables -t nat -A PREROUTING -p tcp -m multiport ! --dports 80,443 -j ACCEPT");
        Assert.True(a.Rule.SameRule(b.Rule));
        Assert.False(a.Rule.SameRule(c.Rule));
        // -D finds the rule by value.
        Run.Sim("iptables -t nat -A PREROUTING -p tcp -m multiport --dports 80,443 -j ACCEPT\niptables -t nat -D PREROUTING -p tcp -m multiport --dports 80,443 -j ACCEPT\n");
    }

    /// <summary>Every MARK form is one --set-xmark VALUE/MASK, as iptables-save writes it back (measured).</summary>
    [Theory]
    [InlineData("--set-xmark 0x4000/0x4000", 0x4000u, 0x4000u)]
    [InlineData("--set-xmark 0x4000/0x0", 0x4000u, 0x0u)]
    [InlineData("--set-mark 5", 0x5u, 0xffffffffu)]
    [InlineData("--or-mark 0x10", 0x10u, 0x10u)]
    [InlineData("--and-mark 0xff", 0x0u, 0xffffff00u)]
    [InlineData("--xor-mark 0x3", 0x3u, 0x0u)]
    public void Mark_EveryForm_IsOneXmark(string option, uint value, uint mask)
    {
        var rule = ((Command.IptablesAdd)ScenarioParser.ParseLine("iptables -t nat -A PREROUTING -j MARK " + option)).Rule;
        Assert.Equal(new IptTarget.Mark(value, mask), rule.Target);
    }

    [Fact]
    public void Mark_XmarkAndTheMatch_AsTheKernelComputesThem()
    {
        // kube-proxy's: KUBE-MARK-MASQ sets the bit, KUBE-POSTROUTING clears it with 0x4000/0x0 (an XOR).
        var set = new IptTarget.Mark(0x4000, 0x4000);
        var clear = new IptTarget.Mark(0x4000, 0);
        Assert.Equal(0x4001u, set.Apply(0x0001));
        Assert.Equal(0x0001u, clear.Apply(set.Apply(0x0001)));
        var marked = Match("-m mark --mark 0x4000/0x4000 -j ACCEPT");
        var unmarked = Match("-m mark ! --mark 0x4000/0x4000 -j ACCEPT");
        var t = T("1.2.3.4:1", "5.6.7.8:2");
        Assert.True(marked.Matches(t, null, null, NodeLocal, 0x4001, CtStates.New));
        Assert.False(marked.Matches(t, null, null, NodeLocal, 0x0001, CtStates.New));
        Assert.True(unmarked.Matches(t, null, null, NodeLocal, 0x0001, CtStates.New));
    }

    /// <summary>
    /// A mark set in a pod's own OUTPUT chain does not reach node: the veth scrubs it (<c>skb_scrub_packet</c> with
    /// xnet clears <c>skb-&gt;mark</c>), so node's rule that masquerades marked packets leaves the pod's address.
    /// </summary>
    [Fact]
    public void Mark_DoesNotCrossAVeth()
    {
        var setup = string.Join("\n", new NodeTopology(1, false).Setup().Select(c => c.ToScript())) + "\n";
        var o = Run.Observe(setup + """
            ip netns exec pod1 iptables -t nat -A OUTPUT -j MARK --set-xmark 0x4000/0x4000
            iptables -t nat -A POSTROUTING -m mark --mark 0x4000/0x4000 -j MASQUERADE
            ip netns exec pod1 connect P 10.244.0.2:40000 192.168.1.20:80

            """);
        Assert.Equal(["10.244.0.2:40000"], o.Conn("P").Wire.ToArray());
    }

    /// <summary>
    /// <c>-m statistic --mode random</c>: a choice per evaluation, named after the NAT decision it leads to; pinned one way
    /// the first endpoint is taken, the other way the second; 0 and 1 are certain and ask nothing.
    /// </summary>
    [Fact]
    public void Statistic_IsAChoice_AndCertainAtZeroAndOne()
    {
        var setup = string.Join("\n", new NodeTopology(1, false).Setup().Select(c => c.ToScript())) + "\nip netns exec server listen 192.168.1.20:81\n";
        string Rules(string p) => $"""
            iptables -t nat -N SVC
            iptables -t nat -A SVC -p tcp -m statistic --mode random --probability {p} -j DNAT --to-destination 192.168.1.20:80
            iptables -t nat -A SVC -p tcp -j DNAT --to-destination 192.168.1.20:81
            iptables -t nat -A PREROUTING -d 10.96.0.10 -j SVC
            iptables -t nat -A POSTROUTING -s 10.244.0.0/16 -j MASQUERADE
            ip netns exec pod1 connect P 10.244.0.2:40000 10.96.0.10:80

            """;
        string Backend(string p, int? pin)
        {
            var script = (pin is { } v ? $"choose nat:dst:P#0:stat0 {v}\n" : "") + setup + Rules(p);
            var sim = Run.Sim(script);
            var entry = sim.Final.Conntrack.All.Single(e => e.Netns == 0);
            return entry.Reply.Src.ToString();
        }
        Assert.Equal("192.168.1.20:80", Backend("0.5", 0));
        Assert.Equal("192.168.1.20:81", Backend("0.5", 1));
        var certain = Run.Sim(setup + Rules("1"));
        Assert.DoesNotContain(certain.Events.OfType<Model.Kernel.KernelEvent.Choice>(), c => c.Made.Point.Kind == Model.Choices.ChoiceKind.Statistic);
        Assert.Equal("192.168.1.20:80", certain.Final.Conntrack.All.Single(e => e.Netns == 0).Reply.Src.ToString());
        Assert.Equal("192.168.1.20:81", Run.Sim(setup + Rules("0")).Final.Conntrack.All.Single(e => e.Netns == 0).Reply.Src.ToString());
        // Below 2^-31 iptables stores a probability of 0: never, and no choice.
        var never = Run.Sim(setup + Rules("0.0000000001"));
        Assert.DoesNotContain(never.Events.OfType<Model.Kernel.KernelEvent.Choice>(), c => c.Made.Point.Kind == Model.Choices.ChoiceKind.Statistic);
    }

    /// <summary>Rules iptables 1.8.9 refuses, and its message (measured; a kernel test runs each).</summary>
    public static TheoryData<string, string> Refused => new()
    {
        { "-m multiport --dports 80 -j ACCEPT", "multiport needs `-p tcp', `-p udp', `-p udplite', `-p sctp' or `-p dccp'" },
        { "-p tcp -m multiport --dports 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16 -j ACCEPT", "too many ports specified" },
        { "! -p tcp -m multiport --dports 80 -j ACCEPT", "multiport only works with TCP, UDP, UDPLITE, SCTP and DCCP" },
        { "! ! -s 1.2.3.4 -j ACCEPT", "multiple consecutive ! not allowed" },
        { "! -j ACCEPT", "cannot have ! before -j" },
        { "-s 1.2.3.4 !", "nothing appropriate following !" },
        { "-p tcp --dports 80 -j ACCEPT", "unknown option \"--dports\"" },
        { "-m addrtype --dst-type FOO -j ACCEPT", "addrtype: bad type \"FOO\"" },
        { "-j MARK", "MARK: One of the --set-xmark, --{and,or,xor,set}-mark options is required" },
        { "-j MARK --set-xmark zz", "MARK: bad integer value for option \"--set-xmark\", or out of range." },
        { "-m mark -j ACCEPT", "mark: option \"--mark\" must be specified" },
        { "-m mark --mark 99999999999 -j ACCEPT", "mark: bad integer value for option \"--mark\", or out of range." },
        { "-m statistic --mode random --probability 2 -j ACCEPT", "statistic: bad value for option \"--probability\", or out of range (0-1)." },
        { "-m statistic --mode foo -j ACCEPT", "Bad mode \"foo\"" },
        { "-m statistic --mode random -j ACCEPT", "--probability must be specified when using random mode" },
        { "-m statistic --probability 0.5 -j ACCEPT", "statistic: option \"--mode\" must be specified" },
    };

    [Theory]
    [MemberData(nameof(Refused))]
    public void Refused_TheParserSaysWhatIptablesSays(string spec, string message) => Run.ParseRefused("iptables -t nat -A POSTROUTING " + spec, message);

    [Theory]
    [InlineData("-p tcp -m multiport --dports 1:2,3:4,5:6,7:8,9:10,11:12,13:14,15 -j ACCEPT")]
    [InlineData("-m addrtype --dst-type LOCAL --src-type UNICAST -j ACCEPT")]
    public void Accepted_AtTheLimits(string spec) => Run.Parse("iptables -t nat -A POSTROUTING " + spec);

    [KernelFact]
    public void Refused_OnTheKernel_IptablesPrintsTheSameMessage()
    {
        using var ns = NetworkNamespace.Create();
        var n = 0;
        foreach (var row in Refused)
        {
            var (spec, message) = ((string)row[0], (string)row[1]);
            var r = ns.Exec(["iptables", "-t", "nat", "-A", "POSTROUTING", .. spec.Split(' ')]);
            output.WriteLine($"{spec}: exit {r.ExitCode}: {r.Output}");
            Assert.False(r.Ok);
            Assert.StartsWith("iptables v1.8.9 (nf_tables): " + message, r.Output, StringComparison.Ordinal);
            n++;
        }
        Assert.Equal(Refused.Count, n);
        foreach (var spec in new[] { "-p tcp -m multiport --dports 1:2,3:4,5:6,7:8,9:10,11:12,13:14,15 -j ACCEPT", "-m addrtype --dst-type LOCAL --src-type UNICAST -j ACCEPT" })
            Assert.True(ns.Exec(["iptables", "-t", "nat", "-A", "POSTROUTING", .. spec.Split(' ')]).Ok, spec);
    }
}
