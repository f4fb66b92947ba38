using ConntrackModel.Model.Addressing;
using ConntrackModel.Model.Choices;
using ConntrackModel.Model.Conntrack;
using ConntrackModel.Model.Iptables;
using ConntrackModel.Model.Kernel;
using ConntrackModel.Model.Net;
using ConntrackModel.Model.Scenarios;
using ConntrackModel.Properties.Generation;
using ConntrackModel.Properties.Setups;
using ConntrackModel.Solver.Native;
using ConntrackModel.Solver.Setups;
using FsCheck;
using FsCheck.Fluent;
using Microsoft.Z3;
using Xunit.Abstractions;
using IPv4Address = ConntrackModel.Model.Addressing.IPv4Address;

namespace ConntrackModel.Tests.Solver;

/// <summary>
/// The rules as Z3 terms (<see cref="RuleCompiler"/>) agree with the model: every NAT decision of every example and of
/// generated workloads on every setup, every match of every rule on sampled packets, and two deliberate mistakes in the
/// compiler that the agreement test must catch.
/// </summary>
public class RuleCompilerTests(ITestOutputHelper output)
{
    private static readonly string[] ExampleFiles = [.. ExamplesTests.Expected.Select(row => (string)row[0])];

    private static readonly string[] SetupFiles = ["late-start.scenario", "kube-node.scenario", "docker-host.scenario"];

    public static TheoryData<string> Examples => [.. ExampleFiles];

    public static TheoryData<string> Setups => [.. SetupFiles];

    private static string SetupText(string name) => File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "examples", "setups", name));

    /// <summary>Each example, with three seeds: every NAT decision it makes is the one the terms allow.</summary>
    [Z3Theory]
    [MemberData(nameof(Examples))]
    public void EveryNatDecision_OfEveryExample_IsTheCompiledOne(string file)
    {
        var scenario = Run.Parse(Run.Example(file));
        var decisions = 0;
        foreach (var seed in new ulong[] { 1, 2, 3 })
        {
            var result = NatAgreement.Check(scenario, ChoiceSource.Seeded(seed));
            Assert.Empty(result.Disagreements);
            decisions += result.Decisions;
        }
        output.WriteLine($"{file}: {decisions} NAT decisions over 3 seeds");
    }

    /// <summary>The examples as a whole: the check saw decisions, and one of them by a rule with a statistic draw.</summary>
    [Z3Fact]
    public void TheExamples_CoverDecisionsWithAndWithoutDraws()
    {
        int decisions = 0, draws = 0;
        foreach (var file in ExampleFiles)
        {
            var result = NatAgreement.Check(Run.Parse(Run.Example(file)), ChoiceSource.Seeded(1));
            decisions += result.Decisions;
            draws += result.WithDraws;
        }
        output.WriteLine($"examples, seed 1: {decisions} NAT decisions, {draws} through a statistic draw");
        Assert.True(decisions >= 60, $"only {decisions} decisions");
        Assert.True(draws >= 1, $"only {draws} decisions with a draw");
    }

    /// <summary>A fixed sample of 40 generated workloads on a setup, every event allowed, each checked.</summary>
    private static (int Decisions, int WithDraws, int Rules, List<string> Disagreements) OnSetup(string name, CompilerMutation mutation)
    {
        var (config, error) = SetupSpaces.From(name, Run.Parse(SetupText(name)), SetupEvents.Late | SetupEvents.Flush | SetupEvents.Expiry);
        Assert.Null(error);
        int decisions = 0, draws = 0, rules = 0;
        var problems = new List<string>();
        foreach (var trial in Gen.Sample(TrialGen.For(config!), 40, new Rnd(20261130UL), 30))
        {
            var result = NatAgreement.Check(trial.ToScenario("trial"), ChoiceSource.First, mutation);
            problems.AddRange(result.Disagreements.Select(d => d + "\n  in " + trial));
            decisions += result.Decisions;
            draws += result.WithDraws;
            rules = Math.Max(rules, result.Rules);
        }
        return (decisions, draws, rules, problems);
    }

    /// <summary>
    /// Each setup: every NAT decision of the generated workloads is the compiled one; the workloads reach decisions, and
    /// on the kube-proxy node some through the Service's statistic rule.
    /// </summary>
    [Z3Theory]
    [MemberData(nameof(Setups))]
    public void EveryNatDecision_OfGeneratedWorkloadsOnEverySetup_IsTheCompiledOne(string name)
    {
        var (decisions, draws, rules, problems) = OnSetup(name, CompilerMutation.None);
        output.WriteLine($"{name}: 40 workloads, {decisions} NAT decisions ({draws} through a draw), at most {rules} distinct rules in one");
        Assert.True(problems.Count == 0, string.Join("\n", problems.Take(5)));
        Assert.True(decisions >= 30, $"only {decisions} decisions");
        if (name == "kube-node.scenario") Assert.True(draws >= 5, $"only {draws} decisions through a draw");
    }

    /// <summary>
    /// The check is not blind: a compiler that ignores <c>!</c> disagrees on kube-proxy's and Docker's rules, one that
    /// ignores RETURN on kube-proxy's masquerade chain (<c>-m mark ! --mark 0x4000/0x4000 -j RETURN</c>).
    /// </summary>
    [Z3Theory]
    [InlineData("kube-node.scenario", "IgnoreReturn")]
    [InlineData("kube-node.scenario", "IgnoreNegation")]
    [InlineData("docker-host.scenario", "IgnoreNegation")]
    public void AMistakenCompiler_IsCaught(string name, string mutation)
    {
        var (_, _, _, problems) = OnSetup(name, Enum.Parse<CompilerMutation>(mutation));
        output.WriteLine($"{problems.Count} disagreements, the first: {problems.FirstOrDefault()}");
        Assert.NotEmpty(problems);
    }

    /// <summary>Every rule of every example and setup, on sampled packets near its constants: the compiled match is RuleMatch.Matches.</summary>
    [Z3Fact]
    public void EveryMatch_OnSampledPackets_IsRuleMatchMatches()
    {
        Z3Runtime.Ensure();
        using var z = new Context();
        var worlds = ExampleFiles.Select(Run.Example).Concat(SetupFiles.Select(SetupText))
            .Select(text => Simulation.Run(Run.Parse(text), ChoiceSource.First).Final).ToList();
        var rnd = new Random(20261130);
        int rules = 0, checks = 0;
        foreach (var ns in worlds.SelectMany(w => w.Namespaces))
        {
            var compiler = new RuleCompiler(z, ns);
            var devices = ns.Devices.Select(d => (string?)d.Name).Append(null).Append("other0").ToList();
            var addresses = ns.Devices.SelectMany(d => d.Addresses.Select(a => a.Local.Value)).ToList();
            foreach (var rule in ns.Netfilter.Rules)
            {
                rules++;
                var m = rule.Match;
                for (var k = 0; k < 60; k++)
                {
                    var packet = Sample(rnd, m, addresses);
                    var inDev = devices[rnd.Next(devices.Count)];
                    var outDev = devices[rnd.Next(devices.Count)];
                    var mark = rnd.Next(4) == 0 ? (uint)rnd.Next() : m.PacketMark is { } pm ? pm.Value ^ (uint)(rnd.Next(2) << rnd.Next(32)) : 0;
                    var state = (CtStates)(1 << rnd.Next(4)) | (rnd.Next(3) == 0 ? CtStates.Snat : 0);
                    var ct = rnd.Next(3) == 0 ? null
                        : new CtEntry(1, packet, packet.Invert(), (CtStatus)rnd.Next(1 << 12), TcpCtState.Established, 0, default)
                        { Mark = m.ConnMark is { } cm && rnd.Next(2) == 0 ? cm.Value : (uint)rnd.Next(4) };
                    var expected = m.Matches(packet, inDev, outDev, (ip, dev) => dev is null ? Fib.IsLocal(ns, ip) : Fib.IsLocalOn(ns, ip, dev), mark, state, ct);
                    var symbolic = SymbolicPacket.Of(z, packet, mark, state, ct is not null, ct?.Mark ?? 0, ct?.Status ?? CtStatus.None);
                    var got = compiler.Match(m, symbolic, inDev, outDev).Simplify();
                    Assert.True(got.IsTrue || got.IsFalse, $"not a constant: {got}");
                    Assert.True(expected == got.IsTrue, $"-A {rule.ChainName} {rule.Spec} on {packet} in {inDev} out {outDev} mark {mark} {state}: model {expected}, terms {got}");
                    checks++;
                }
            }
        }
        output.WriteLine($"{rules} rules, {checks} packets");
        Assert.True(rules >= 100, $"only {rules} rules");
    }

    /// <summary>
    /// MARK and CONNMARK as terms against the model's own functions (<see cref="IptTarget.Mark.Apply"/>,
    /// <see cref="IptTarget.ConnMark.NewCtMark"/>, <see cref="IptTarget.ConnMark.NewMark"/>), every mode, on sampled marks,
    /// with and without an entry: the NAT decisions above see them only where the nat table marks, the examples'
    /// CONNMARK rules are in mangle.
    /// </summary>
    [Z3Theory]
    [InlineData("-j MARK --set-xmark 0x4000/0x4000")]
    [InlineData("-j MARK --set-mark 0x25")]
    [InlineData("-j CONNMARK --set-mark 0x1")]
    [InlineData("-j CONNMARK --set-xmark 0x30/0xf0")]
    [InlineData("-j CONNMARK --save-mark --mask 0xf0")]
    [InlineData("-j CONNMARK --restore-mark")]
    [InlineData("-j CONNMARK --restore-mark --nfmask 0xff --ctmask 0xf")]
    public void MarkTargets_AsTerms_AreTheModelsFunctions(string target)
    {
        Z3Runtime.Ensure();
        using var z = new Context();
        var world = Simulation.Run(Run.Parse($"iptables -t mangle -A OUTPUT {target}\n"), ChoiceSource.First).Final;
        var ns = world.Namespaces[0];
        var rule = ns.Netfilter.Mangle.Chain(IptChain.Output).Single();
        var compiler = new RuleCompiler(z, ns);
        var rnd = new Random(20261130);
        var tuple = new ConnTuple(new SockAddr(IPv4Address.Loopback, 40000), new SockAddr(IPv4Address.Loopback, 8080));
        for (var k = 0; k < 200; k++)
        {
            var (mark, ctMark, hasCt) = ((uint)rnd.Next() ^ (uint)rnd.Next(2) << 31, (uint)rnd.Next(), rnd.Next(4) != 0);
            var packet = SymbolicPacket.Of(z, tuple, mark, CtStates.New, hasCt, ctMark, CtStatus.None);
            var outcome = compiler.Traverse(ns.Netfilter.Mangle, IptChain.Output, packet, null, "lo", $"m{k}");
            var (expectMark, expectCt) = rule.Target switch
            {
                IptTarget.Mark m => (m.Apply(mark), ctMark),
                IptTarget.ConnMark cm when hasCt => (cm.NewMark(ctMark, mark), cm.NewCtMark(ctMark, mark)),
                _ => (mark, ctMark),
            };
            Assert.Equal(expectMark, ((BitVecNum)outcome.Mark.Simplify()).UInt);
            Assert.Equal(expectCt, ((BitVecNum)outcome.CtMark.Simplify()).UInt);
        }
    }

    /// <summary>A packet whose fields are the rule's constants, one off them, or anything, so both outcomes of each match are met.</summary>
    private static ConnTuple Sample(Random rnd, RuleMatch m, List<uint> addresses)
    {
        uint Addr(Model.Nat.Cidr? c) => rnd.Next(4) switch
        {
            0 when c is { } x => x.Network.Value + (uint)rnd.Next(3),
            1 when c is { } x => x.Network.Value - 1,
            2 when addresses.Count > 0 => addresses[rnd.Next(addresses.Count)],
            _ => rnd.Next(2) == 0 ? (uint)rnd.Next() : 0xE0000001u,
        };
        int Port(Model.Nat.PortRange? r) => rnd.Next(3) switch
        {
            0 when r is { } x => x.Min + rnd.Next(-1, 2),
            1 when r is { } x => x.Max + rnd.Next(-1, 2),
            _ when m.MultiPorts is { } mp => mp.Ranges[rnd.Next(mp.Ranges.Length)].Min + rnd.Next(-1, 2),
            _ => rnd.Next(1, 65536),
        };
        var proto = (L4Proto)rnd.Next(3);
        return new ConnTuple(new SockAddr(new IPv4Address(Addr(m.Source)), Math.Clamp(Port(m.SourcePort), 0, 65535)),
            new SockAddr(new IPv4Address(Addr(m.Destination)), Math.Clamp(Port(m.DestinationPort), 0, 65535)), proto);
    }
}
