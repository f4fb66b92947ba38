using ConntrackModel.Model.Choices;
using ConntrackModel.Model.Iptables;
using ConntrackModel.Model.Kernel;
using ConntrackModel.Model.Nat;
using ConntrackModel.Model.Scenarios;
using ConntrackModel.Replay.Host;
using ConntrackModel.Tests.Replay;
using Xunit.Abstractions;

namespace ConntrackModel.Tests;

/// <summary>
/// User chains of the nat table (<c>-N</c>, <c>-X</c>, <c>-j CHAIN</c>, <c>RETURN</c>): parsing, the traversal
/// (jump, return, nested, policy), and the changes the kernel refuses, whose messages a kernel test compares with what
/// iptables prints in a namespace of its own.
/// </summary>
public class UserChainTests(ITestOutputHelper output)
{
    /// <summary>
    /// The node of the node-* configurations with one pod (its setup, <see cref="NodeTopology.Setup"/>) and a second
    /// server port: pod traffic from 10.244.0.2 to 10.96.0.10:80 is routed through node.
    /// </summary>
    private static string Node =>
        string.Join("\n", new NodeTopology(1, false).Setup().Select(c => c.ToScript())) + "\nip netns exec server listen 192.168.1.20:81\n";

    /// <summary>The address the server saw for connection P, after node's rules.</summary>
    private static string ServerSees(string rules)
    {
        var o = Run.Observe(Node + rules + "ip netns exec pod1 connect P 10.244.0.2:40000 10.96.0.10:80\n");
        var p = o.Conn("P");
        Assert.Equal("established", p.Connect);
        return Assert.Single(p.Wire);
    }

    [Fact]
    public void Jump_NestedChains_DnatInTheInnermost()
    {
        var seen = ServerSees("""
            iptables -t nat -N KUBE-SERVICES
            iptables -t nat -N KUBE-SVC
            iptables -t nat -N KUBE-SEP
            iptables -t nat -A KUBE-SEP -p tcp -j DNAT --to-destination 192.168.1.20:80
            iptables -t nat -A KUBE-SVC -j KUBE-SEP
            iptables -t nat -A KUBE-SERVICES -d 10.96.0.10 -p tcp --dport 80 -j KUBE-SVC
            iptables -t nat -A PREROUTING -j KUBE-SERVICES
            iptables -t nat -A POSTROUTING -s 10.244.0.0/16 -j MASQUERADE

            """);
        Assert.Equal("192.168.1.10:40000", seen);
    }

    [Fact]
    public void Return_GoesOnAfterTheJump_AndAChainThatEndsDoesToo()
    {
        // KUBE-A returns before its DNAT to :81; KUBE-B ends without a match: the rule after both jumps decides.
        var seen = ServerSees("""
            iptables -t nat -N KUBE-A
            iptables -t nat -N KUBE-B
            iptables -t nat -A KUBE-A -p tcp --dport 80 -j RETURN
            iptables -t nat -A KUBE-A -p tcp -j DNAT --to-destination 192.168.1.20:81
            iptables -t nat -A KUBE-B -p tcp --dport 443 -j DNAT --to-destination 192.168.1.20:81
            iptables -t nat -A PREROUTING -j KUBE-A
            iptables -t nat -A PREROUTING -j KUBE-B
            iptables -t nat -A PREROUTING -p tcp -j DNAT --to-destination 192.168.1.20:80
            iptables -t nat -A POSTROUTING -j MASQUERADE

            """);
        Assert.Equal("192.168.1.10:40000", seen);
    }

    [Fact]
    public void Return_InABuiltinChain_IsThePolicy_ANullBinding()
    {
        // The MASQUERADE after the RETURN is never reached: the server sees the pod's own address.
        var seen = ServerSees("""
            iptables -t nat -A PREROUTING -p tcp -d 10.96.0.10 -j DNAT --to-destination 192.168.1.20:80
            iptables -t nat -A POSTROUTING -j RETURN
            iptables -t nat -A POSTROUTING -j MASQUERADE

            """);
        Assert.Equal("10.244.0.2:40000", seen);
    }

    [Fact]
    public void Accept_InAUserChain_EndsTheTraversal()
    {
        var seen = ServerSees("""
            iptables -t nat -N SKIP
            iptables -t nat -A SKIP -j ACCEPT
            iptables -t nat -A PREROUTING -p tcp -d 10.96.0.10 -j DNAT --to-destination 192.168.1.20:80
            iptables -t nat -A POSTROUTING -j SKIP
            iptables -t nat -A POSTROUTING -j MASQUERADE

            """);
        Assert.Equal("10.244.0.2:40000", seen);
    }

    [Fact]
    public void NewChain_AddsNoHook_AndStartsNoTracking()
    {
        var sim = Run.Sim("iptables -t nat -N X\niptables -t nat -A X -j RETURN\n");
        var nf = sim.Final.Namespaces[0].Netfilter;
        Assert.Equal(["X"], nf.Nat.UserChains.ToArray());
        Assert.False(nf.NatTableExists);
        Assert.False(nf.Tracking);
        Assert.Single(nf.Nat.UserChain("X"));
        // Deleting the rule and the chain leaves the table as it was, but for the table itself.
        var after = Run.Sim("iptables -t nat -N X\niptables -t nat -A X -j RETURN\niptables -t nat -D X 1\niptables -t nat -X X\n").Final.Namespaces[0].Netfilter;
        Assert.Empty(after.Nat.UserChains);
        Assert.Empty(after.Rules);
    }

    [Fact]
    public void Flush_AUserChain_KeepsTheChain_FlushAll_EmptiesEveryChain()
    {
        var nf = Run.Sim("iptables -t nat -N X\niptables -t nat -A X -j RETURN\niptables -t nat -A POSTROUTING -j X\niptables -t nat -F X\n").Final.Namespaces[0].Netfilter;
        Assert.Contains("X", nf.Nat.UserChains);
        Assert.Empty(nf.Nat.UserChain("X"));
        Assert.Single(nf.Chain(IptChain.PostRouting));
        var all = Run.Sim("iptables -t nat -N X\niptables -t nat -A X -j RETURN\niptables -t nat -A POSTROUTING -j X\niptables -t nat -F\niptables -t nat -X\n").Final.Namespaces[0].Netfilter;
        Assert.Empty(all.Rules);
        Assert.Empty(all.Nat.UserChains);
    }

    /// <summary>Scripts the kernel refuses at their last line, and what the model says (measured with iptables 1.8.9, nf_tables).</summary>
    public static TheoryData<string, string> Refused => new()
    {
        { "iptables -t nat -A NOPE -j RETURN", "iptables: No chain/target/match by that name." },
        { "iptables -t nat -N X\niptables -t nat -N X", "iptables: Chain already exists." },
        { "iptables -t nat -N PREROUTING", "iptables: Chain already exists." },
        { "iptables -t nat -X OUTPUT", "iptables: No chain/target/match by that name." },
        { "iptables -t nat -A POSTROUTING -j NOPE", "iptables v1.8.9 (nf_tables): Chain 'NOPE' does not exist" },
        { "iptables -t nat -N X\niptables -t nat -A X -j RETURN\niptables -t nat -X X", "iptables v1.8.9 (nf_tables):  CHAIN_DEL failed (Device or resource busy): chain X" },
        { "iptables -t nat -N X\niptables -t nat -A OUTPUT -j X\niptables -t nat -X X", "iptables v1.8.9 (nf_tables):  CHAIN_DEL failed (Device or resource busy): chain X" },
        // -X with no chain: all or none, and the oldest busy chain is named, whatever the names.
        { "iptables -t nat -N B\niptables -t nat -N A\niptables -t nat -A OUTPUT -j B\niptables -t nat -A A -j RETURN\niptables -t nat -X", "iptables v1.8.9 (nf_tables):  CHAIN_DEL failed (Device or resource busy): chain B" },
        { "iptables -t nat -N C\niptables -t nat -N A\niptables -t nat -N B\niptables -t nat -A OUTPUT -j B\niptables -t nat -A A -j RETURN\niptables -t nat -X", "iptables v1.8.9 (nf_tables):  CHAIN_DEL failed (Device or resource busy): chain A" },
        { "iptables -t nat -N W\niptables -t nat -A PREROUTING -j W\niptables -t nat -A W -j MASQUERADE", "iptables v1.8.9 (nf_tables):  RULE_APPEND failed (Invalid argument): rule in chain W" },
        { "iptables -t nat -N W\niptables -t nat -A PREROUTING -j W\niptables -t nat -I W -j SNAT --to-source 1.2.3.4", "iptables v1.8.9 (nf_tables):  RULE_INSERT failed (Invalid argument): rule in chain W" },
        { "iptables -t nat -N Y\niptables -t nat -A Y -p tcp -j DNAT --to-destination 1.2.3.4:80\niptables -t nat -A POSTROUTING -j Y", "iptables v1.8.9 (nf_tables):  RULE_APPEND failed (Invalid argument): rule in chain POSTROUTING" },
        { "iptables -t nat -N W\niptables -t nat -A PREROUTING -j W\niptables -t nat -A W -j RETURN\niptables -t nat -R W 1 -j MASQUERADE", "iptables v1.8.9 (nf_tables):  RULE_REPLACE failed (Invalid argument): rule in chain W" },
        { "iptables -t nat -N L1\niptables -t nat -N L2\niptables -t nat -A L1 -j L2\niptables -t nat -A L2 -j L1\niptables -t nat -A OUTPUT -j L1", "iptables v1.8.9 (nf_tables):  RULE_APPEND failed (Too many links): rule in chain OUTPUT" },
        { "iptables -t nat -N S\niptables -t nat -A OUTPUT -j S\niptables -t nat -A S -j S", "iptables v1.8.9 (nf_tables):  RULE_APPEND failed (Too many links): rule in chain S" },
        { "iptables -t nat -F NOPE", "iptables: No chain/target/match by that name." },
        { "iptables -t nat -D NOPE 1", "iptables: No chain/target/match by that name." },
    };

    [Theory]
    [MemberData(nameof(Refused))]
    public void Refused_TheModelSaysWhatIptablesSays(string script, string message) => Run.RefusedAtLastLine(script, message);

    [Fact]
    public void Refused_ALoopNoBuiltinChainReaches_IsAllowed()
    {
        var nf = Run.Sim("iptables -t nat -N L1\niptables -t nat -N L2\niptables -t nat -A L1 -j L2\niptables -t nat -A L2 -j L1\n").Final.Namespaces[0].Netfilter;
        Assert.Equal(2, nf.Nat.Rules.Count);
        Assert.Null(nf.Nat.HookProblem());
    }

    [Fact]
    public void Refused_AMistypedChain_SaysWhichWasMeant()
    {
        var sim = Simulation.Run(Run.Parse("iptables -t nat -N KUBE-SERVICES\niptables -t nat -A KUBE-SERVICE -j RETURN"), ChoiceSource.First);
        Assert.Contains("did you mean 'KUBE-SERVICES'?", sim.Rejected, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("iptables -t nat -N -bad", "chain name not allowed to start with `-'")]
    [InlineData("iptables -t nat -N ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", "chain name `ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789' too long (must be under 29 chars)")]
    [InlineData("iptables -t nat -A POSTROUTING -j DROP", "The \"nat\" table is not intended for filtering, the use of DROP is therefore inhibited.")]
    [InlineData("iptables -t nat -A POSTROUTING -j TPROXY", "unsupported target 'TPROXY'")]
    [InlineData("iptables -t nat -N", "expected a chain name after -N")]
    [InlineData("iptables -t nat -X A B", "unexpected 'B' after -X CHAIN")]
    public void Parse_BadChainCommands_SayWhy(string line, string message)
    {
        var r = ScenarioParser.Parse("t", line);
        Assert.False(r.Ok);
        Assert.Contains(message, r.Errors[0].ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_ChainCommands_RoundTrip()
    {
        foreach (var line in new[]
                 {
                     "iptables -t nat -N KUBE-SVC", "iptables -t nat -X KUBE-SVC", "iptables -t nat -X", "iptables -t nat -F KUBE-SVC",
                     "iptables -t nat -A KUBE-SVC -p tcp -j DNAT --to-destination 10.0.0.1:80", "iptables -t nat -I KUBE-SVC 2 -j RETURN",
                     "iptables -t nat -D KUBE-SVC 1", "iptables -t nat -D KUBE-SVC -j RETURN", "iptables -t nat -R KUBE-SVC 1 -j KUBE-SEP",
                     "iptables -t nat -A PREROUTING -j KUBE-SERVICES",
                 })
        {
            var command = ScenarioParser.ParseLine(line);
            Assert.Equal(line, command.ToScript());
        }
        var jump = (Command.IptablesAdd)ScenarioParser.ParseLine("iptables -t nat -A PREROUTING -j KUBE-SERVICES");
        Assert.Equal(new IptTarget.Jump("KUBE-SERVICES"), jump.Rule.Target);
        Assert.Null(jump.Rule.UserChain);
        var inUser = (Command.IptablesAdd)ScenarioParser.ParseLine("iptables -t nat -A KUBE-SVC -j RETURN");
        Assert.Equal(("KUBE-SVC", (IptTarget)new IptTarget.Return()), (inUser.Rule.UserChain, inUser.Rule.Target));
    }

    /// <summary>Each refused script run on the kernel: iptables must fail at its last line and print the model's message.</summary>
    [KernelFact]
    public void Refused_OnTheKernel_IptablesPrintsTheSameMessage()
    {
        var checkedCount = 0;
        foreach (var row in Refused)
        {
            var script = (string)row[0];
            var message = (string)row[1];
            using var ns = NetworkNamespace.Create();
            var lines = script.Split('\n');
            for (var i = 0; i < lines.Length; i++)
            {
                var r = ns.Exec(lines[i].Split(' '));
                if (i < lines.Length - 1)
                {
                    Assert.True(r.Ok, $"{lines[i]}: {r.Output}");
                    continue;
                }
                output.WriteLine($"{lines[i]}: exit {r.ExitCode}: {r.Output}");
                Assert.False(r.Ok, $"{lines[i]} was accepted by the kernel");
                Assert.StartsWith(message, r.Output, StringComparison.Ordinal);
                checkedCount++;
            }
        }
        Assert.Equal(Refused.Count, checkedCount);
    }

    /// <summary>
    /// The incremental check of an append (<see cref="XtTable.AppendProblem"/>) says what the whole table's walk says after
    /// it (<see cref="XtTable.HookProblem"/>), on 3,000 appends to random tables of user chains, jumps (loops included),
    /// NAT targets at the wrong hooks, REJECT and RETURN, in the nat and filter tables; every answer kind occurs.
    /// </summary>
    [Fact]
    public void AppendProblem_IsTheWholeTablesAnswer()
    {
        var rng = new Random(20261130);
        var answers = new Dictionary<string, int>(StringComparer.Ordinal);
        var compared = 0;
        for (var trial = 0; trial < 150; trial++)
        {
            var tableKind = trial % 2 == 0 ? IptTable.Nat : IptTable.Filter;
            var t = new XtTable(tableKind);
            string[] users = ["A", "B", "C", "D"];
            foreach (var u in users) t = t.WithUserChain(u);
            var builtins = tableKind.Builtins().ToArray();
            for (var step = 0; step < 20; step++)
            {
                var inUser = rng.Next(3) > 0;
                var chain = builtins[rng.Next(builtins.Length)];
                IptTarget target = rng.Next(7) switch
                {
                    0 or 1 or 2 => new IptTarget.Jump(users[rng.Next(users.Length)]),
                    3 => new IptTarget.Masquerade(new Model.Nat.NatRange(false, default, default, false, 0, 0, false, false, false)),
                    4 => new IptTarget.Dnat(new Model.Nat.NatRange(true, new Model.Addressing.IPv4Address(0x01020304), new Model.Addressing.IPv4Address(0x01020304), false, 0, 0, false, false, false)),
                    5 => new IptTarget.Reject(RejectWith.IcmpPortUnreachable),
                    _ => new IptTarget.Return(),
                };
                var rule = new IptRule(chain, RuleMatch.Any, target, target.ToString()) { Table = tableKind, UserChain = inUser ? users[rng.Next(users.Length)] : null };
                var incremental = t.AppendProblem(rule);
                var whole = t.Append(rule).HookProblem();
                Assert.True(whole == incremental, $"{rule.ChainName} -j {target}: whole table '{whole}', incremental '{incremental}' in {string.Join("; ", t.Rules.Select(r => r.ChainName + " " + r.Target))}");
                answers[whole ?? "ok"] = answers.GetValueOrDefault(whole ?? "ok") + 1;
                compared++;
                if (whole is null) t = t.Append(rule);
            }
        }
        Assert.Equal(3000, compared);
        Assert.True(answers.Count == 3, string.Join(", ", answers.Select(kv => $"{kv.Key}: {kv.Value}")));
    }
}
