using System.Collections.Immutable;
using ConntrackModel.Cli;
using ConntrackModel.Cli.Commands;
using ConntrackModel.Model.Choices;
using ConntrackModel.Model.Kernel;
using ConntrackModel.Model.Scenarios;
using ConntrackModel.Properties.Advice;
using ConntrackModel.Properties.Setups;
using ConntrackModel.Tests.Replay;
using Xunit.Abstractions;

namespace ConntrackModel.Tests.Properties;

/// <summary>
/// <c>ctmodel advise</c> (issue 16, first part): each mitigation as a rewrite of the setup's script, the table's verdicts
/// on the example setups, the odds of a collision that rests on a random port, and one cell confirmed on the kernel
/// both ways.
/// </summary>
public class AdviceTests(ITestOutputHelper output)
{
    private static string SetupPath(string name) => Path.Combine(AppContext.BaseDirectory, "examples", "setups", name);

    private static Scenario Setup(string name) => Run.Parse(File.ReadAllText(SetupPath(name)));

    private static Mitigations.SetupFacts Facts(Scenario s) => Mitigations.SetupFacts.Of(Simulation.Run(s, ChoiceSource.First).Final);

    /// <summary>Every mitigation of every example setup is a script the parser takes and the model runs, or is named not applicable.</summary>
    [Theory]
    [InlineData("late-start.scenario")]
    [InlineData("kube-node.scenario")]
    [InlineData("docker-host.scenario")]
    public void EveryMitigation_ParsesAndRuns(string name)
    {
        var setup = Setup(name);
        var facts = Facts(setup);
        var applied = 0;
        foreach (var kind in Mitigations.All)
        {
            var m = Mitigations.Apply(kind, setup.ToScript(), facts);
            if (m.NotApplicable is not null) continue;
            var parsed = ScenarioParser.Parse(kind.ToString(), m.Script);
            Assert.True(parsed.Ok, $"{kind}: {string.Join("; ", parsed.Errors)}");
            Assert.Null(Simulation.Run(parsed.Scenario!, ChoiceSource.First).Rejected);
            Assert.All(m.PinnedLines, line => Assert.Contains(parsed.Scenario!.Lines, l => l.Line == line));
            applied++;
        }
        Assert.True(applied >= 5, $"{name}: only {applied} mitigations applied");
    }

    /// <summary>What each rewrite writes, on the reference setup and on kube-node's dump.</summary>
    [Fact]
    public void Rewrites_AreWhatAnAdminWouldWrite()
    {
        var late = Setup("late-start.scenario");
        var facts = Facts(late);
        var script = late.ToScript();
        Assert.EndsWith("-j SNAT --to-source 127.0.0.1:40000 --random-fully\n", Mitigations.Apply(MitigationKind.RandomFully, script, facts).Script, StringComparison.Ordinal);
        var boot = Mitigations.Apply(MitigationKind.TrackingFromBoot, script, facts);
        Assert.EndsWith("\niptables -t raw -N CONNTRACK-BOOT\niptables -t raw -A CONNTRACK-BOOT -m conntrack --ctstate NEW -j RETURN\n", boot.Script, StringComparison.Ordinal);
        Assert.Equal([3, 4], boot.PinnedLines.Order().ToArray());
        Assert.EndsWith("\nsysctl -w net.netfilter.nf_conntrack_tcp_loose=0\n", Mitigations.Apply(MitigationKind.LooseOff, script, facts).Script, StringComparison.Ordinal);
        Assert.EndsWith("iptables -A INPUT -m conntrack --ctstate INVALID -j DROP\niptables -A FORWARD -m conntrack --ctstate INVALID -j DROP\n",
            Mitigations.Apply(MitigationKind.InvalidDrop, script, facts).Script, StringComparison.Ordinal);
        Assert.Empty(Mitigations.Apply(MitigationKind.InvalidDrop, script, facts).PinnedLines);
        Assert.Equal(SetupEvents.Flush, Mitigations.Apply(MitigationKind.NoFlush, script, facts).Excluded);
        // The SNAT rule names its port: nothing to move.
        Assert.NotNull(Mitigations.Apply(MitigationKind.DisjointPorts, script, facts).NotApplicable);

        var kube = Setup("kube-node.scenario");
        var kubeFacts = Facts(kube);
        Assert.Contains("--random-fully already", Mitigations.Apply(MitigationKind.RandomFully, kube.ToScript(), kubeFacts).NotApplicable, StringComparison.Ordinal);
        var disjoint = Mitigations.Apply(MitigationKind.DisjointPorts, kube.ToScript(), kubeFacts);
        // kube-proxy's MASQUERADE has no -p: one rule per protocol with the ports, the original after them.
        Assert.Contains("-A KUBE-POSTROUTING -p tcp -m comment --comment \"kubernetes service traffic requiring SNAT\" -j MASQUERADE --to-ports 1024-32767 --random-fully", disjoint.Script, StringComparison.Ordinal);
        Assert.Contains("-A KUBE-POSTROUTING -p udp -m comment", disjoint.Script, StringComparison.Ordinal);
        Assert.Equal(2, disjoint.Changes);
        // A separate SNAT address: node's egress device (eth1, the device whose addresses no -s names), the highest free
        // host of its subnet, every MASQUERADE a SNAT to it; the reference setup forwards nothing.
        var separate = Mitigations.Apply(MitigationKind.SeparateAddress, kube.ToScript(), kubeFacts);
        Assert.EndsWith("\nip addr add 192.168.1.254/24 dev eth1\n", separate.Script, StringComparison.Ordinal);
        Assert.Contains("-A POSTROUTING -s 10.244.0.0/16 ! -d 10.244.0.0/16 -j SNAT --to-source 192.168.1.254 --random-fully", separate.Script, StringComparison.Ordinal);
        Assert.DoesNotContain("-j MASQUERADE", separate.Script, StringComparison.Ordinal);
        Assert.Contains("forwards", Mitigations.Apply(MitigationKind.SeparateAddress, script, facts).NotApplicable, StringComparison.Ordinal);
    }

    /// <summary>
    /// What each rewrite does to the machine, not only to the text: the mitigated setups run in the model and their
    /// final worlds have what the mitigation promises (every NAT rule random-fully, ports outside the local range, the
    /// new address and no MASQUERADE left, loose off, the INVALID drops, tracking on before the workload under late).
    /// </summary>
    [Fact]
    public void Rewrites_DoWhatTheyPromise_InTheModel()
    {
        World Final(Scenario setup, MitigationKind kind)
        {
            var m = Mitigations.Apply(kind, setup.ToScript(), Facts(setup));
            Assert.Null(m.NotApplicable);
            return Simulation.Run(Run.Parse(m.Script), ChoiceSource.First).Final;
        }
        static IEnumerable<Model.Nat.NatRange> NatRanges(World w) => w.Namespaces.SelectMany(ns => ns.Netfilter.Nat.Rules).Select(r => r.Target switch
        {
            Model.Iptables.IptTarget.Snat sn => sn.Range,
            Model.Iptables.IptTarget.Masquerade ms => ms.Range,
            _ => null,
        }).OfType<Model.Nat.NatRange>();

        var docker = Setup("docker-host.scenario");
        var fully = NatRanges(Final(docker, MitigationKind.RandomFully)).ToList();
        Assert.NotEmpty(fully);
        Assert.All(fully, r => Assert.True(r.RandomFully));

        var kube = Setup("kube-node.scenario");
        var disjoint = Final(kube, MitigationKind.DisjointPorts);
        var ported = NatRanges(disjoint).Where(r => r.ProtoSpecified).ToList();
        Assert.NotEmpty(ported);
        Assert.All(ported, r => Assert.All(disjoint.Namespaces, ns => Assert.True(r.MaxPort < ns.Sysctls.LocalPortLow || r.MinPort > ns.Sysctls.LocalPortHigh)));

        var separate = Final(kube, MitigationKind.SeparateAddress);
        var node = separate.Namespaces[0];
        Assert.Contains(node.Device("eth1")!.Addresses, a => a.Local.ToString() == "192.168.1.254");
        Assert.DoesNotContain(node.Netfilter.Nat.Rules, r => r.Target is Model.Iptables.IptTarget.Masquerade);
        Assert.NotEmpty(NatRanges(separate));
        Assert.All(NatRanges(separate), r => Assert.Equal("192.168.1.254", r.MinIp.ToString()));

        var loose = Final(kube, MitigationKind.LooseOff).Namespaces.Where(ns => ns.Netfilter.Tracking).ToList();
        Assert.NotEmpty(loose);
        Assert.All(loose, ns => Assert.False(ns.Sysctls.TcpLoose));

        var drops = Final(kube, MitigationKind.InvalidDrop).Namespaces[0].Netfilter.Filter;
        foreach (var chain in new[] { Model.Iptables.IptChain.Input, Model.Iptables.IptChain.Forward })
            Assert.Contains(drops.Chain(chain), r => r.Match.States == Model.Iptables.CtStates.Invalid && r.Target is Model.Iptables.IptTarget.Drop);

        // Under late the setup's own rules wait, the mitigation's conntrack user does not: tracking is on before the workload.
        var boot = Mitigations.Apply(MitigationKind.TrackingFromBoot, kube.ToScript(), Facts(kube));
        var (config, _) = SetupSpaces.From("kube-node.scenario", Run.Parse(boot.Script), SetupEvents.Late, pinnedLines: boot.PinnedLines);
        var before = Simulation.Run(Scenario.Of("setup", [.. config!.Setup]), ChoiceSource.First).Final;
        Assert.True(before.Namespaces[0].Netfilter.Tracking);
        Assert.Empty(before.Namespaces[0].Netfilter.Nat.Rules);
        var (asWritten, _) = SetupSpaces.From("kube-node.scenario", kube, SetupEvents.Late);
        Assert.False(Simulation.Run(Scenario.Of("setup", [.. asWritten!.Setup]), ChoiceSource.First).Final.Namespaces[0].Netfilter.Tracking);
    }

    /// <summary>The SNAT ports outside every ip_local_port_range: the widest free run of 1024-65535.</summary>
    [Fact]
    public void DisjointRange_IsTheWidestFreeRun()
    {
        Assert.Equal((1024, 32767), Mitigations.DisjointRange(new Mitigations.SetupFacts([], [(32768, 60999)])));
        Assert.Equal((50001, 65535), Mitigations.DisjointRange(new Mitigations.SetupFacts([], [(1024, 20000), (20001, 50000)])));
        Assert.Null(Mitigations.DisjointRange(new Mitigations.SetupFacts([], [(1024, 65535)])));
    }

    /// <summary>
    /// The reference setup (a SNAT rule to one port): tracking from boot closes the late start and nothing else closes
    /// any event; --random-fully on a one-port range changes nothing, so its collisions have no odds; every collision's
    /// minimal trial still breaks an invariant.
    /// </summary>
    [Fact]
    public void LateStart_TrackingFromBootClosesTheLateStart()
    {
        var (table, error) = Advisor.Run("late-start.scenario", Setup("late-start.scenario"), Advisor.DefaultEvents, 2000, 1);
        Assert.Null(error);
        AdviceCell Cell(MitigationKind k, SetupEvents e) => table!.Rows.Single(r => r.Mitigation == k).Cells.Single(c => c.Event == e);
        Assert.Equal(AdviceVerdict.Collision, Cell(MitigationKind.AsWritten, SetupEvents.Late).Verdict);
        Assert.Equal(AdviceVerdict.NoneFound, Cell(MitigationKind.TrackingFromBoot, SetupEvents.Late).Verdict);
        Assert.Equal(2000, Cell(MitigationKind.TrackingFromBoot, SetupEvents.Late).TestsRun);
        Assert.Equal(AdviceVerdict.Collision, Cell(MitigationKind.InvalidDrop, SetupEvents.Late).Verdict);
        Assert.Equal(AdviceVerdict.Collision, Cell(MitigationKind.RandomFully, SetupEvents.Late).Verdict);
        Assert.Null(Cell(MitigationKind.RandomFully, SetupEvents.Late).Odds);
        Assert.Equal(AdviceVerdict.Excluded, Cell(MitigationKind.NoFlush, SetupEvents.Flush).Verdict);
        Assert.Equal(AdviceVerdict.NotApplicable, Cell(MitigationKind.DisjointPorts, SetupEvents.Late).Verdict);
        foreach (var cell in table!.Rows.SelectMany(r => r.Cells).Where(c => c.Verdict == AdviceVerdict.Collision))
            Assert.NotEmpty(cell.Minimal!.Replay().Violations);
        Assert.All(table.Rows.Where(r => r.Mitigation != MitigationKind.TrackingFromBoot).SelectMany(r => r.Cells),
            c => Assert.NotEqual(AdviceVerdict.NoneFound, c.Verdict));
    }

    /// <summary>
    /// kube-node: every collision that rests on MASQUERADE's --random-fully has odds; they count the start offsets that
    /// collide (1 or 2 of 65536 per class over 1024-65535; 3 of 65536 in the disjoint range 1024-32767 for class 0), and
    /// changing the offset to one not counted removes the violation.
    /// </summary>
    [Fact]
    public void KubeNode_RandomPortCollisions_HaveOdds()
    {
        var (table, error) = Advisor.Run("kube-node.scenario", Setup("kube-node.scenario"), [SetupEvents.Flush], 5000, 1);
        Assert.Null(error);
        var cells = table!.Rows.SelectMany(r => r.Cells).Where(c => c.Verdict == AdviceVerdict.Collision).ToList();
        Assert.NotEmpty(cells);
        var withOdds = cells.Where(c => c.Odds is not null).ToList();
        Assert.NotEmpty(withOdds);
        foreach (var c in withOdds)
        {
            Assert.InRange(c.Odds!.Hits, 1, 8);
            Assert.Equal(65536, c.Odds.Of);
            Assert.False(c.Odds.AtLeast);
            output.WriteLine($"{c.Mitigation}: {c.Text}");
            // Half the range away from the offset found, the same workload does not collide.
            var made = c.Minimal!.Replay().Events.OfType<KernelEvent.Choice>().Select(x => x.Made).Last(m => m.Point.Key.ToString() == c.Odds.Key);
            var far = (made.Value % made.Point.PortCount + made.Point.PortCount / 2) % made.Point.PortCount;
            Assert.Empty((c.Minimal with { Choices = c.Minimal.Choices.SetItem(c.Odds.Key, far) }).Replay().Violations);
        }
    }

    /// <summary>
    /// One cell both ways on the kernel: the reference setup's late-start collision (as written, late) collides there as
    /// in the model, and the same workload with tracking from boot (the mitigation's line at the end of the setup) does
    /// not, in either.
    /// </summary>
    [KernelFact]
    public void LateStart_TrackingFromBoot_ConfirmedOnTheKernelBothWays()
    {
        var (table, _) = Advisor.Run("late-start.scenario", Setup("late-start.scenario"), [SetupEvents.Late], 2000, 1);
        var cell = table!.Rows.Single(r => r.Mitigation == MitigationKind.AsWritten).Cells.Single();
        var minimal = cell.Minimal!;
        var collides = minimal.ToScenario("as-written");
        // The same workload after the mitigation's own lines, as advise writes them (what the kernel runs as is).
        var boot = Mitigations.Apply(MitigationKind.TrackingFromBoot, Setup("late-start.scenario").ToScript(), Facts(Setup("late-start.scenario")));
        var bootLines = boot.Script.TrimEnd('\n').Split('\n').Where((_, i) => boot.PinnedLines.Contains(i + 1)).Select(ScenarioParser.ParseLine);
        var mitigated = (minimal with { Setup = minimal.Setup.AddRange(bootLines) }).ToScenario("tracking-from-boot");
        Assert.NotEmpty(Simulation.Run(collides, ChoiceSource.First).Violations);
        Assert.Empty(Simulation.Run(mitigated, ChoiceSource.First).Violations);
        foreach (var s in new[] { collides, mitigated })
        {
            var r = ConformCommand.Compare(s, s.Name);
            output.WriteLine(ConformCommand.Text(r));
            Assert.True(r.Agree, ConformCommand.Text(r));
        }
    }

    private static (ExitCode Code, string Out, string Err) Ctmodel(params string[] args) => Run.Ctmodel(args);

    /// <summary>
    /// <c>advise --kernel</c>: each collision's minimal scenario runs on the kernel too; on the reference setup every one
    /// of the search's collides there (SNAT to one port: nothing random), and the table and advice.json say so; Z3's
    /// collisions run there as well and agree with the model.
    /// </summary>
    [KernelFact]
    public void Cli_AdviseKernel_ConfirmsEachCollision()
    {
        var dir = Directory.CreateTempSubdirectory("ctm-advise-kernel-").FullName;
        try
        {
            var (code, stdout, stderr) = Ctmodel("advise", "--setup", SetupPath("late-start.scenario"), "--events", "late,flush", "--tests", "500", "--kernel", "--out", dir, "--quiet");
            output.WriteLine(stdout);
            Assert.Equal(ExitCode.Ok, code);
            Assert.Contains("| as written | collision: 3 steps; kernel: collided too | collision: 3 steps; kernel: collided too |", stdout, StringComparison.Ordinal);
            var json = File.ReadAllText(Path.Combine(dir, "advice.json"));
            var collisions = System.Text.RegularExpressions.Regex.Count(json, "\"verdict\": \"collision\"");
            Assert.True(collisions >= 8, json);
            Assert.Equal(collisions, System.Text.RegularExpressions.Regex.Count(json, "\"kernel\": \"collided too\""));
            // Z3's collisions run on the kernel too: each gets a verdict there, and none disagrees with the model. (Where
            // Z3 chose an ephemeral port, the kernel's own draw may miss the collision: that is agreement, said so.)
            var z3Collisions = System.Text.RegularExpressions.Regex.Count(json, "\"z3\": \"collision");
            Assert.True(z3Collisions >= 8, json);
            Assert.Equal(z3Collisions, System.Text.RegularExpressions.Regex.Count(json, "\"z3Kernel\": \"(collided too|agrees, no collision there)"));
            Assert.Equal(2, System.Text.RegularExpressions.Regex.Count(stdout, @"\| as written \| collision: 3 steps; kernel: collided too \| collision: 3 steps; kernel: collided too \|"));
            Assert.Empty(stderr);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>From the command line: the table on stdout, advice.md, advice.json, the mitigated setups and each collision's minimal scenario, which replays it.</summary>
    [Fact]
    public void Cli_Advise_WritesTheTableAndTheScenarios()
    {
        var dir = Directory.CreateTempSubdirectory("ctm-advise-").FullName;
        try
        {
            var (code, stdout, _) = Ctmodel("advise", "--setup", SetupPath("late-start.scenario"), "--events", "late", "--tests", "500", "--out", dir, "--quiet");
            Assert.Equal(ExitCode.Ok, code);
            Assert.Contains("| as written | collision: 3 steps |", stdout, StringComparison.Ordinal);
            Assert.Contains("| tracking from boot | none found in 500 tests |", stdout, StringComparison.Ordinal);
            Assert.True(File.Exists(Path.Combine(dir, "advice.md")));
            Assert.Contains("\"verdict\": \"collision\"", File.ReadAllText(Path.Combine(dir, "advice.json")), StringComparison.Ordinal);
            Assert.True(File.Exists(Path.Combine(dir, "setups", "tracking-from-boot.scenario")));
            var cell = Run.Parse(File.ReadAllText(Path.Combine(dir, "cells", "as-written-late.scenario")));
            Assert.NotEmpty(Simulation.Run(cell, ChoiceSource.First).Violations);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>A file that is not a setup is refused with its line, as check --setup refuses it; --json prints advice.json.</summary>
    [Fact]
    public void Cli_Advise_RefusesANonSetup_AndPrintsJson()
    {
        var dir = Directory.CreateTempSubdirectory("ctm-advise-input-").FullName;
        try
        {
            var bad = Path.Combine(dir, "bad.scenario");
            File.WriteAllText(bad, "listen 127.0.0.1:8080\nconnect A 127.0.0.1:8080\n");
            var (code, _, stderr) = Ctmodel("advise", "--setup", bad, "--out", Path.Combine(dir, "out"), "--quiet");
            Assert.Equal(ExitCode.BadInput, code);
            Assert.Contains($"{bad}:2: 'connect A 127.0.0.1:8080' is not setup", stderr, StringComparison.Ordinal);
            var (ok, json, _) = Ctmodel("advise", "--setup", SetupPath("late-start.scenario"), "--events", "flush", "--tests", "200", "--json", "--out", Path.Combine(dir, "out"), "--quiet");
            Assert.Equal(ExitCode.Ok, ok);
            using var doc = System.Text.Json.JsonDocument.Parse(json);
            Assert.Equal(Mitigations.All.Length, doc.RootElement.GetProperty("rows").GetArrayLength());
            Assert.Equal("ruled-out", doc.RootElement.GetProperty("rows")[Mitigations.All.Length - 1].GetProperty("cells")[0].GetProperty("verdict").GetString());
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Theory]
    [InlineData(new[] { "advise" }, "advise: say which setup: --setup FILE")]
    [InlineData(new[] { "advise", "--setup", "X", "--events", "boot" }, "advise: --events: unknown event 'boot'")]
    [InlineData(new[] { "advise", "--setup", "/nonexistent/setup.scenario" }, "/nonexistent/setup.scenario")]
    [InlineData(new[] { "advise", "--setup", "X", "--tests", "0" }, "--tests")]
    public void Cli_Advise_BadInput_Exit2(string[] args, string message)
    {
        var (code, _, stderr) = Ctmodel(args);
        Assert.Equal(ExitCode.BadInput, code);
        Assert.Contains(message, stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", stderr, StringComparison.Ordinal);
    }
}
