using ConntrackModel.Model.Choices;
using ConntrackModel.Model.Iptables;
using ConntrackModel.Model.Kernel;
using ConntrackModel.Model.Scenarios;
using ConntrackModel.Replay.Host;
using ConntrackModel.Tests.Replay;
using Xunit.Abstractions;

namespace ConntrackModel.Tests;

/// <summary>
/// The filter table (issue 15): the default table of <c>iptables</c>, its chains at LOCAL_IN, FORWARD and LOCAL_OUT,
/// policies, DROP, REJECT, and the conntrack state matches. What the model refuses is compared with what iptables
/// prints in a namespace of its own; what the rules do is compared with the kernel by the examples' conformance
/// (<c>filter-*.scenario</c>).
/// </summary>
public class FilterTableTests(ITestOutputHelper output)
{
    [Fact]
    public void Iptables_WithoutATable_IsTheFilterTable()
    {
        var add = (Command.IptablesAdd)ScenarioParser.ParseLine("iptables -A INPUT -m conntrack --ctstate INVALID -j DROP");
        Assert.Equal(IptTable.Filter, add.Rule.Table);
        Assert.Equal(IptChain.Input, add.Rule.Chain);
        Assert.Equal(CtStates.Invalid, add.Rule.Match.States);
        Assert.Equal(new IptTarget.Drop(), add.Rule.Target);
        Assert.Equal("iptables -t filter -A INPUT -m conntrack --ctstate INVALID -j DROP", add.ToScript());
        var forward = (Command.IptablesAdd)ScenarioParser.ParseLine("iptables -t filter -A FORWARD -m state ! --state NEW,RELATED -j ACCEPT");
        Assert.Equal((IptChain.Forward, CtStates.New | CtStates.Related, true), (forward.Rule.Chain, forward.Rule.Match.States, forward.Rule.Match.Not.HasFlag(Negated.State)));
        var policy = (Command.IptablesPolicy)ScenarioParser.ParseLine("iptables -P FORWARD DROP");
        Assert.Equal((IptTable.Filter, "FORWARD", "DROP"), (policy.Table, policy.Chain, policy.Policy));
        // PREROUTING is not a chain of the filter table: a user chain's name, which the kernel does not find.
        var pre = (Command.IptablesAdd)ScenarioParser.ParseLine("iptables -A PREROUTING -j ACCEPT");
        Assert.Equal("PREROUTING", pre.Rule.UserChain);
    }

    [Theory]
    [InlineData("-j REJECT", RejectWith.IcmpPortUnreachable)]
    [InlineData("-j REJECT --reject-with icmp-net-unreachable", RejectWith.IcmpNetUnreachable)]
    [InlineData("-j REJECT --reject-with host-unreach", RejectWith.IcmpHostUnreachable)]
    [InlineData("-p tcp -j REJECT --reject-with tcp-reset", RejectWith.TcpReset)]
    [InlineData("-j REJECT --reject-with icmp-proto-unreachable", RejectWith.IcmpProtoUnreachable)]
    [InlineData("-j REJECT --reject-with net-prohib", RejectWith.IcmpNetProhibited)]
    [InlineData("-j REJECT --reject-with icmp-host-prohibited", RejectWith.IcmpHostProhibited)]
    [InlineData("-j REJECT --reject-with icmp-admin-prohibited", RejectWith.IcmpAdminProhibited)]
    public void Reject_Types(string spec, RejectWith with) =>
        Assert.Equal(new IptTarget.Reject(with), ((Command.IptablesAdd)ScenarioParser.ParseLine("iptables -A INPUT " + spec)).Rule.Target);

    /// <summary>Lines iptables 1.8.9 itself refuses (exit 2), and its message (measured; a kernel test runs each).</summary>
    public static TheoryData<string, string> RefusedByIptables => new()
    {
        { "iptables -t nat -A POSTROUTING -j DROP", "The \"nat\" table is not intended for filtering, the use of DROP is therefore inhibited." },
        { "iptables -t nat -P PREROUTING DROP", "The \"nat\" table is not intended for filtering, the use of DROP is therefore inhibited." },
        { "iptables -A INPUT -m conntrack --ctstate BOGUS -j DROP", "Bad ctstate \"BOGUS\"" },
        { "iptables -A INPUT -m state --state SNAT -j ACCEPT", "Bad state \"SNAT\"" },
        { "iptables -A INPUT -m conntrack -j ACCEPT", "conntrack: At least one option is required" },
        { "iptables -A INPUT -m state -j ACCEPT", "state: option \"--state\" must be specified" },
        { "iptables -A INPUT -j REJECT --reject-with bogus", "unknown reject type \"bogus\"" },
        { "iptables -A INPUT -m conntrack --ctstatus bogus -j ACCEPT", "Bad ctstatus \"bogus\"" },
        // libxt_statistic's nth checks.
        { "iptables -A INPUT -m statistic --mode nth --every 3 -j DROP", "statistic: option \"--every\" also requires \"--packet\"." },
        { "iptables -A INPUT -m statistic --mode nth --every 3 --packet 3 -j DROP", "the --packet p must be 0 <= p <= n-1" },
        { "iptables -A INPUT -m statistic --mode nth --packet 1 -j DROP", "the --packet p must be 0 <= p <= n-1" },
        { "iptables -A INPUT -m statistic --mode nth --packet 0 -j DROP", "statistic: option \"--packet\" also requires \"--every\"." },
        { "iptables -A INPUT -m statistic --mode random --probability 0.5 --packet 0 -j DROP", "statistic: option \"--probability\" cannot be used together with \"--packet\"." },
        { "iptables -A INPUT -m statistic --mode nth -j DROP", "--every and --packet must be specified when using nth mode" },
        { "iptables -A INPUT -m statistic --mode nth --every 0 --packet 0 -j DROP", "statistic: bad value for option \"--every\", or out of range (1-4294967295)." },
        { "iptables -A INPUT -m statistic --mode nth --every 2 --probability 0.5 -j DROP", "statistic: option \"--probability\" cannot be used together with \"--every\"." },
        { "iptables -A INPUT -m statistic --mode random --probability 0.5 --every 2 -j DROP", "statistic: option \"--probability\" cannot be used together with \"--every\"." },
        // --mark is the option of whichever of -m mark and -m connmark came last; the other then misses it.
        { "iptables -t mangle -A OUTPUT -m mark -m connmark --mark 0x1 -j ACCEPT", "mark: option \"--mark\" must be specified" },
        { "iptables -t mangle -A OUTPUT -m connmark -m mark --mark 0x2 -j ACCEPT", "connmark: option \"--mark\" must be specified" },
        { "iptables -t mangle -A OUTPUT -j CONNMARK", "CONNMARK target: No operation specified" },
        { "iptables -t mangle -A OUTPUT -j CONNMARK --save-mark --ctmask 0xf --mask 0xff", "CONNMARK: option \"--ctmask\" cannot be used together with \"--mask\"." },
        { "iptables -t mangle -A OUTPUT -j CONNMARK --set-mark 1 --save-mark", "CONNMARK: option \"--set-mark\" cannot be used together with \"--save-mark\"." },
        { "iptables -A INPUT -m addrtype --dst-type LOCAL --limit-iface-in --limit-iface-out -j ACCEPT", "addrtype: option \"--limit-iface-in\" cannot be used together with \"--limit-iface-out\"." },
    };

    [Theory]
    [MemberData(nameof(RefusedByIptables))]
    public void RefusedByIptables_TheParserSaysWhatIptablesSays(string line, string message) => Run.ParseRefused(line, message);

    /// <summary>What the model does not have in the filter table is named, with its column, never ignored.</summary>
    [Theory]
    [InlineData("iptables -t raw -A OUTPUT -j CT", 30, "unsupported: -j CT without --notrack")]
    [InlineData("iptables -t raw -A OUTPUT -j CT --zone 1", 33, "unsupported CT option '--zone'")]
    [InlineData("iptables -A INPUT -m statistic --mode nth --every 2 --packet 0 -m mark --mark 1 -j DROP", 64, "unsupported: -m mark after -m statistic --mode nth")]
    [InlineData("iptables -A INPUT -p tcp -m statistic --mode nth --every 2 --packet 0 --dport 80 -j DROP", 71, "unsupported: --dport after -m statistic --mode nth")]
    [InlineData("iptables -t mangle -A OUTPUT -j CONNMARK --set-mark 1 --left-shift-mark 2", 55, "unsupported CONNMARK option '--left-shift-mark'")]
    [InlineData("iptables -A INPUT -j NFLOG", 22, "unsupported target 'NFLOG'")]
    public void NotModelled_IsNamedWithItsColumn(string line, int column, string message)
    {
        var r = ScenarioParser.Parse("t", line);
        Assert.False(r.Ok);
        Assert.Equal(column, r.Errors[0].Column);
        Assert.StartsWith(message, r.Errors[0].Message, StringComparison.Ordinal);
    }

    /// <summary>Scripts the kernel (or iptables after asking it) refuses at their last line, and the message (measured, exit 1 or 4).</summary>
    public static TheoryData<string, string> RefusedByTheKernel => new()
    {
        { "iptables -t nat -A POSTROUTING -j REJECT", "iptables v1.8.9 (nf_tables):  RULE_APPEND failed (Invalid argument): rule in chain POSTROUTING" },
        // REJECT belongs to the filter table: refused even in a nat chain nothing reaches.
        { "iptables -t nat -N NU\niptables -t nat -A NU -j REJECT", "iptables v1.8.9 (nf_tables):  RULE_APPEND failed (Invalid argument): rule in chain NU" },
        { "iptables -A INPUT -j SNAT --to-source 1.2.3.4", "iptables v1.8.9 (nf_tables):  RULE_APPEND failed (Invalid argument): rule in chain INPUT" },
        { "iptables -A FORWARD -j MASQUERADE", "iptables v1.8.9 (nf_tables):  RULE_APPEND failed (Invalid argument): rule in chain FORWARD" },
        { "iptables -A INPUT -p udp -j REJECT --reject-with tcp-reset", "iptables v1.8.9 (nf_tables):  RULE_APPEND failed (Invalid argument): rule in chain INPUT" },
        { "iptables -A PREROUTING -j DROP", "iptables: No chain/target/match by that name." },
        { "iptables -P FOO DROP", "iptables: Bad built-in chain name." },
        { "iptables -N USER\niptables -P USER DROP", "iptables: Bad built-in chain name." },
        { "iptables -P INPUT REJECT", "iptables: Bad policy name." },
        // The raw table: NOTRACK and CT belong to it; it has PREROUTING and OUTPUT only.
        { "iptables -A INPUT -j NOTRACK", "iptables v1.8.9 (nf_tables):  RULE_APPEND failed (Invalid argument): rule in chain INPUT" },
        { "iptables -t nat -A PREROUTING -j CT --notrack", "iptables v1.8.9 (nf_tables):  RULE_APPEND failed (Invalid argument): rule in chain PREROUTING" },
        { "iptables -t raw -A PREROUTING -j REJECT", "iptables v1.8.9 (nf_tables):  RULE_APPEND failed (Invalid argument): rule in chain PREROUTING" },
        { "iptables -t raw -A INPUT -j ACCEPT", "iptables: No chain/target/match by that name." },
        // The mangle table: MARK and DROP are at home there, REJECT and NOTRACK are not (measured).
        { "iptables -t mangle -A INPUT -j REJECT", "iptables v1.8.9 (nf_tables):  RULE_APPEND failed (Invalid argument): rule in chain INPUT" },
        { "iptables -t mangle -A PREROUTING -j NOTRACK", "iptables v1.8.9 (nf_tables):  RULE_APPEND failed (Invalid argument): rule in chain PREROUTING" },
        // addrtype_mt_checkentry_v1: no in device at POSTROUTING, no out device at INPUT.
        { "iptables -t nat -A POSTROUTING -m addrtype --dst-type LOCAL --limit-iface-in -j ACCEPT", "iptables v1.8.9 (nf_tables):  RULE_APPEND failed (Invalid argument): rule in chain POSTROUTING" },
        { "iptables -A INPUT -m addrtype --src-type LOCAL --limit-iface-out -j ACCEPT", "iptables v1.8.9 (nf_tables):  RULE_APPEND failed (Invalid argument): rule in chain INPUT" },
    };

    [Theory]
    [MemberData(nameof(RefusedByTheKernel))]
    public void RefusedByTheKernel_TheModelSaysWhatIptablesSays(string script, string message) => Run.RefusedAtLastLine(script, message);

    /// <summary>Every refused line on the kernel: iptables must fail at the last line and print the model's message.</summary>
    [KernelFact]
    public void Refused_OnTheKernel_IptablesPrintsTheSameMessage()
    {
        foreach (var (script, message, byIptables) in RefusedByIptables.Select(r => ((string)r[0], (string)r[1], true))
            .Concat(RefusedByTheKernel.Select(r => ((string)r[0], (string)r[1], false))))
        {
            using var ns = NetworkNamespace.Create();
            var lines = script.Split('\n');
            for (var i = 0; i < lines.Length - 1; i++) Assert.True(ns.Exec(lines[i].Split(' ')).Ok, lines[i]);
            var r = ns.Exec(lines[^1].Split(' '));
            output.WriteLine($"{lines[^1]}: exit {r.ExitCode}: {r.Output}");
            Assert.False(r.Ok, $"{lines[^1]} was accepted by the kernel");
            if (byIptables)
            {
                // iptables' own refusals: its prefix, then the message (on the next line for some).
                const string Prefix = "iptables v1.8.9 (nf_tables): ";
                Assert.StartsWith(Prefix, r.Output, StringComparison.Ordinal);
                Assert.StartsWith(message, r.Output[Prefix.Length..].TrimStart(), StringComparison.Ordinal);
                Assert.Equal(2, r.ExitCode);
            }
            else Assert.StartsWith(message, r.Output, StringComparison.Ordinal);
        }
    }

    /// <summary>
    /// A state match takes a conntrack reference (tracking starts when it is added, and stops when the last such rule
    /// goes); a filter rule without one does not; the filter table's hooks exist once a built-in chain is named.
    /// </summary>
    [Fact]
    public void StateMatch_StartsTracking_APlainFilterRuleDoesNot()
    {
        var plain = Run.Sim("iptables -A INPUT -p tcp --dport 81 -j DROP\n").Final.Namespaces[0].Netfilter;
        Assert.True(plain.Filtering);
        Assert.False(plain.Tracking);
        var state = Run.Sim("iptables -A INPUT -m state --state INVALID -j DROP\n");
        Assert.True(state.Final.Namespaces[0].Netfilter.Tracking);
        Assert.Contains(state.Events.OfType<KernelEvent.Ct>(), e => e.Text.Contains("tracking starts", StringComparison.Ordinal));
        var gone = Run.Sim("iptables -A INPUT -m state --state INVALID -j DROP\niptables -D INPUT 1\n").Final.Namespaces[0].Netfilter;
        Assert.False(gone.Tracking);
        Assert.True(gone.Filtering);
        var policyOnly = Run.Sim("iptables -P OUTPUT DROP\n").Final.Namespaces[0].Netfilter;
        Assert.True(policyOnly.Filter.Drops(IptChain.Output) && !policyOnly.Filter.Drops(IptChain.Input));
    }

    /// <summary>
    /// The states a packet has (<c>conntrack_mt</c>): a connection's SYN is NEW (a rule dropping NEW at INPUT stops it),
    /// the server's answer ESTABLISHED (dropping ESTABLISHED at OUTPUT stops the SYN/ACK), and a packet conntrack picks up
    /// mid-stream is NEW again, and an ICMP error RELATED: a rule added while A is connected that rejects ESTABLISHED data does not see A's next
    /// segment (measured: the kernel delivered it).
    /// </summary>
    [Fact]
    public void CtState_IsConntracksVerdict()
    {
        const string Setup = "ip link set lo up\nlisten 127.0.0.1:83\n";
        var newDropped = Run.Observe(Setup + "iptables -A INPUT -p tcp --dport 83 -m conntrack --ctstate NEW -j DROP\nconnect A 127.0.0.1:83\n");
        Assert.Equal("timeout", newDropped.Conn("A").Connect);
        var replyDropped = Run.Observe(Setup + "iptables -A OUTPUT -p tcp --sport 83 -m conntrack --ctstate ESTABLISHED -j DROP\nconnect A 127.0.0.1:83\n");
        Assert.Equal("timeout", replyDropped.Conn("A").Connect);
        var late = Run.Observe(Setup + "connect A 127.0.0.1:83\niptables -A INPUT -p tcp --dport 83 -m conntrack --ctstate ESTABLISHED -j REJECT --reject-with tcp-reset\nsend A hello\n");
        Assert.Equal(["hello"], late.Conn("A").Delivered.ToArray());
        var tracked = Run.Observe(Setup + "iptables -A OUTPUT -m conntrack --ctstate INVALID -j DROP\nconnect A 127.0.0.1:83\niptables -A INPUT -p tcp --dport 83 -m conntrack --ctstate ESTABLISHED -j REJECT --reject-with tcp-reset\nsend A hello\n");
        Assert.Empty(tracked.Conn("A").Delivered);
        Assert.Equal("ECONNRESET", tracked.Conn("A").Client.Error);
        // An ICMP error is RELATED (example filter-related, which agrees with the kernel): dropped, the connect times out.
        Assert.Equal("timeout", Run.Observe(Run.Example("filter-related.scenario")).Conn("C").Connect);
        Assert.Equal("refused", Run.Observe(Run.Example("filter-related.scenario").Replace("--state RELATED", "--state INVALID", StringComparison.Ordinal)).Conn("C").Connect);
    }

    /// <summary>
    /// REJECT's answers (example filter-reject, which agrees with the kernel): a RST for a SYN (refused, the entry CLOSE
    /// and unreplied), an ICMP port unreachable (refused with ECONNREFUSED), a RST for data (the client reset, the
    /// server untouched, the entry CLOSE); each rejected packet counted once.
    /// </summary>
    [Fact]
    public void Reject_AnswersAsTheKernelDoes()
    {
        var o = Run.Observe(Run.Example("filter-reject.scenario"));
        Assert.Equal("refused", o.Conn("B").Connect);
        Assert.Equal(("refused", "ECONNREFUSED"), (o.Conn("C").Connect, o.Conn("C").Client.Error));
        Assert.Equal(("ECONNRESET", "ESTABLISHED"), (o.Conn("A").Client.Error, o.Conn("A").Server!.State));
        Assert.Equal(2, o.Conntrack.Count(e => e.State == "CLOSE"));
        Assert.Contains(o.Conntrack, e => e.State == "SYN_SENT");
        var sim = Run.Sim(Run.Example("filter-reject.scenario"));
        // B's SYN, C's SYN and its one retransmission, A's data.
        Assert.Equal(4, sim.Events.OfType<KernelEvent.Dropped>().Count(d => d.Reason.Contains("rejected by", StringComparison.Ordinal)));
    }

    /// <summary>
    /// REJECT of forwarded traffic (example node-forward-reject, which agrees with the kernel; tcpdump in the pod, measured:
    /// "192.168.1.20.81 &gt; 10.244.0.2: Flags [R.]" and "10.244.0.1 &gt; 10.244.0.2: ICMP 192.168.1.20 tcp port 82
    /// unreachable", the second connect refused after its SYN's one retransmission, 1.01 s): the RST leaves from the
    /// backend's address, the ICMP error from node's address on the pod's side.
    /// </summary>
    [Fact]
    public void Reject_OfForwardedTraffic_AnswersFromWhereTheKernelDoes()
    {
        var sim = Run.Sim(Run.Example("node-forward-reject.scenario"));
        var toPod = sim.Events.OfType<KernelEvent.Captured>().Where(c => c.Netns is null && c.Device == "veth0").Select(c => c.Segment).ToList();
        Assert.Contains(toPod, s => s.Icmp is null && s.Tuple.Src.ToString() == "192.168.1.20:81" && s.Has(Model.Packets.TcpFlags.Rst));
        Assert.Contains(toPod, s => s.Icmp is not null && s.Tuple.Src.Ip.ToString() == "10.244.0.1");
        var o = Run.Observe(Run.Example("node-forward-reject.scenario"));
        Assert.Equal(("established", "refused", "refused"), (o.Conn("A").Connect, o.Conn("B").Connect, o.Conn("C").Connect));
        Assert.Equal(["hello"], o.Conn("A").Delivered.ToArray());
    }

    /// <summary>A DROP policy: what no rule accepts is dropped, silently (the connect times out); a RETURN from a user chain reaches the policy.</summary>
    [Fact]
    public void Policy_Drop_DropsWhatNoRuleAccepts()
    {
        var o = Run.Observe(Run.Example("filter-policy.scenario"));
        Assert.Equal(["hello"], o.Conn("D").Delivered.ToArray());
        Assert.Equal("timeout", o.Conn("E").Connect);
        var viaReturn = Run.Observe("ip link set lo up\nlisten 127.0.0.1:84\niptables -N CHECK\niptables -A CHECK -j RETURN\niptables -A INPUT -j CHECK\niptables -P INPUT DROP\nconnect D 127.0.0.1:84\n");
        Assert.Equal("timeout", viaReturn.Conn("D").Connect);
    }

    /// <summary>
    /// The classic mitigation on the late-start story (example filter-invalid-drop, which agrees with the kernel): no
    /// packet of the collision is INVALID, so dropping INVALID at INPUT changes nothing and A.server is still reset.
    /// </summary>
    [Fact]
    public void InvalidDrop_DoesNotCloseTheLateStart()
    {
        var sim = Run.Sim(Run.Example("filter-invalid-drop.scenario"));
        Assert.DoesNotContain(sim.Events.OfType<KernelEvent.Dropped>(), d => d.Reason.Contains("filter INPUT", StringComparison.Ordinal));
        Assert.Contains(sim.Violations, v => v.Invariant == Model.Diagnostics.InvariantId.NoForeignReset);
    }

    /// <summary>
    /// The raw table's NOTRACK (example raw-notrack, which agrees with the kernel): with tracking on from the start, A's
    /// packets stay untracked, so NAT hands A's tuple to B and B's RST kills A.server; <c>--ctstate UNTRACKED</c> sees them;
    /// adding a NOTRACK rule starts no tracking (measured).
    /// </summary>
    [Fact]
    public void Raw_NoTrack_HidesAConnectionFromNat()
    {
        var sim = Run.Sim(Run.Example("raw-notrack.scenario"));
        Assert.Contains(sim.Violations, v => v.Invariant == Model.Diagnostics.InvariantId.NoForeignReset);
        Assert.DoesNotContain(sim.Final.Conntrack.All, e => e.Orig.Src.Port == 40000);
        Assert.False(Run.Sim("iptables -t raw -A OUTPUT -j NOTRACK\n").Final.Namespaces[0].Netfilter.Tracking);
        // --ctstate UNTRACKED: dropping untracked packets at INPUT stops A's connect.
        // (example raw-untracked, which agrees with the kernel)
        var o = Run.Observe(Run.Example("raw-untracked.scenario"));
        Assert.Equal(("timeout", "established"), (o.Conn("A").Connect, o.Conn("B").Connect));
        var add = (Command.IptablesAdd)ScenarioParser.ParseLine("iptables -t raw -A PREROUTING -j CT --notrack");
        Assert.Equal((IptTable.Raw, (IptTarget)new IptTarget.NoTrack()), (add.Rule.Table, add.Rule.Target));
    }

    /// <summary>
    /// The mangle table (example mangle-mark, which agrees with the kernel): a MARK at mangle OUTPUT (-150) is seen by
    /// nat POSTROUTING's <c>-m mark</c>; a real dump's mangle block with kube-proxy's empty chains restores as it is.
    /// </summary>
    [Fact]
    public void Mangle_MarksBeforeNat_AndKubeProxysChainsRestore()
    {
        var o = Run.Observe(Run.Example("mangle-mark.scenario"));
        Assert.Equal(["127.0.0.1:40000"], o.Conn("A").Wire.ToArray());
        Assert.Equal(["127.0.0.1:50001"], o.Conn("B").Wire.ToArray());
        var nf = Run.Sim("""
            iptables-restore <<'EOF'
            *mangle
            :PREROUTING ACCEPT [0:0]
            :INPUT ACCEPT [0:0]
            :FORWARD ACCEPT [0:0]
            :OUTPUT ACCEPT [0:0]
            :POSTROUTING ACCEPT [0:0]
            :KUBE-IPTABLES-HINT - [0:0]
            :KUBE-KUBELET-CANARY - [0:0]
            COMMIT
            EOF

            """).Final.Namespaces[0].Netfilter;
        Assert.Equal(["KUBE-IPTABLES-HINT", "KUBE-KUBELET-CANARY"], nf.Mangle.UserChains.ToArray());
        Assert.True(nf.Mangles);
        Assert.False(nf.Tracking);
        Assert.Equal(5, IptTable.Mangle.Builtins().Count);
    }

    /// <summary><c>*filter</c> blocks restore the filter table: policies from the chain lines, rules, and a block per table.</summary>
    [Fact]
    public void Restore_FilterBlock_SetsPoliciesAndRules()
    {
        var nf = Run.Sim("""
            iptables-restore <<'EOF'
            *filter
            :INPUT ACCEPT [0:0]
            :FORWARD DROP [0:0]
            :OUTPUT ACCEPT [0:0]
            :KUBE-FIREWALL - [0:0]
            -A INPUT -j KUBE-FIREWALL
            -A KUBE-FIREWALL -m conntrack --ctstate INVALID -j DROP
            -P OUTPUT DROP
            COMMIT
            *nat
            :POSTROUTING ACCEPT [0:0]
            -A POSTROUTING -s 10.244.0.0/16 -j MASQUERADE
            COMMIT
            EOF

            """).Final.Namespaces[0].Netfilter;
        Assert.True(nf.Filter.Drops(IptChain.Forward) && nf.Filter.Drops(IptChain.Output) && !nf.Filter.Drops(IptChain.Input));
        Assert.Equal(["KUBE-FIREWALL"], nf.Filter.UserChains.ToArray());
        Assert.Equal(2, nf.Filter.Rules.Count);
        Assert.Single(nf.Nat.Rules);
        Assert.True(nf.Tracking);
        var r = ScenarioParser.Parse("t", "iptables-restore <<'EOF'\n*security\nCOMMIT\nEOF\n");
        Assert.False(r.Ok);
        Assert.Contains("unsupported table 'security'", r.Errors[0].Message, StringComparison.Ordinal);
        var natDrop = ScenarioParser.Parse("t", "iptables-restore <<'EOF'\n*nat\n:PREROUTING DROP [0:0]\nCOMMIT\nEOF\n");
        Assert.False(natDrop.Ok);
    }

    /// <summary>The restored filter table on the kernel: the policies and rule counts iptables-save shows are the model's.</summary>
    [KernelFact]
    public void Restore_FilterBlock_OnTheKernel_SameTable()
    {
        const string Dump = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n:KUBE-FIREWALL - [0:0]\n-A INPUT -j KUBE-FIREWALL\n-A KUBE-FIREWALL -m conntrack --ctstate INVALID -j DROP\n-P OUTPUT DROP\nCOMMIT\n";
        var model = Run.Sim("iptables-restore <<'EOF'\n" + Dump + "EOF\n").Final.Namespaces[0].Netfilter.Filter;
        using var ns = NetworkNamespace.Create();
        var file = Path.GetTempFileName();
        try
        {
            File.WriteAllText(file, Dump);
            var restored = ns.Exec(["iptables-restore", file]);
            Assert.True(restored.Ok, restored.Output);
        }
        finally
        {
            File.Delete(file);
        }
        var save = ns.Exec(["iptables", "-S"]).Stdout.Split('\n');
        output.WriteLine(string.Join("\n", save));
        foreach (var chain in IptTable.Filter.Builtins())
        {
            var name = IptRule.BuiltinName(chain);
            Assert.Contains($"-P {name} {(model.Drops(chain) ? "DROP" : "ACCEPT")}", save);
            Assert.Equal(model.Chain(chain).Count, save.Count(l => l.StartsWith($"-A {name} ", StringComparison.Ordinal)));
        }
        Assert.Equal(model.UserChain("KUBE-FIREWALL").Count, save.Count(l => l.StartsWith("-A KUBE-FIREWALL ", StringComparison.Ordinal)));
    }
}
