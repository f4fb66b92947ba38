using ConntrackModel.Cli;
using ConntrackModel.Cli.Commands;
using ConntrackModel.Model.Choices;
using ConntrackModel.Model.Kernel;
using ConntrackModel.Properties.Advice;
using ConntrackModel.Properties.Setups;
using ConntrackModel.Solver.Setups;
using Xunit.Abstractions;

namespace ConntrackModel.Tests.Solver;

/// <summary>
/// <c>prove --setup</c>: the setups' verdicts under each event (every collision replayed in the model at its minimal
/// depth), each mitigation's verdict on the kube-proxy node and on the reference setup, and the refusals.
/// </summary>
public class SetupProverTests(ITestOutputHelper output)
{
    private static string SetupPath(string name) => Path.Combine(AppContext.BaseDirectory, "examples", "setups", name);

    private static SetupFragment Fragment(string name, SetupEvents events)
    {
        var (fragment, why, _) = Z3Commands.FragmentOf(name, Run.Parse(File.ReadAllText(SetupPath(name))), events);
        Assert.True(fragment is not null, why);
        return fragment!;
    }

    /// <summary>
    /// Without events both setups are safe to depth 6; each event gives a collision at the depth the search's minimal
    /// counterexamples have (the reference's expiry in 2: a bound connect's SNAT to the one port, then a connect whose SYN
    /// is dropped until the first entry expires), and the model replays it: the same violation at the same command.
    /// </summary>
    [Z3Theory]
    [InlineData("late-start.scenario", "none", 0)]
    [InlineData("late-start.scenario", "late", 3)]
    [InlineData("late-start.scenario", "flush", 3)]
    [InlineData("late-start.scenario", "expiry", 2)]
    [InlineData("kube-node.scenario", "none", 0)]
    [InlineData("kube-node.scenario", "late", 3)]
    [InlineData("kube-node.scenario", "flush", 3)]
    [InlineData("kube-node.scenario", "expiry", 3)]
    public void Setup_UnderEachEvent_HasItsVerdict(string name, string events, int collisionDepth)
    {
        var fragment = Fragment(name, SetupSpaces.ParseEvents(events).Events);
        var r = SetupProver.Search(fragment, 6);
        output.WriteLine($"{name} {events}: {fragment.Classes.Length} kinds of connect, {(r.Found ? $"collision in {r.Depth}" : "safe to depth 6")}, {r.Elapsed.TotalMilliseconds:0} ms");
        Assert.Null(r.EncodingBug);
        if (collisionDepth == 0)
        {
            Assert.True(r.Safe);
            return;
        }
        Assert.True(r.Found);
        Assert.Equal(collisionDepth, r.Depth);
        // The replay breaks an invariant first at the trace's last connect (the prover checked it; this says which).
        var replay = Simulation.Run(r.Scenario!, ChoiceSource.First);
        Assert.Equal(r.Scenario!.Lines.Count, replay.Violations.First().Step);
        Assert.Contains(replay.Violations.First().Invariant, new[] { Model.Diagnostics.InvariantId.WireTupleUniqueness, Model.Diagnostics.InvariantId.NoForeignReset });
    }

    /// <summary>
    /// Each mitigation on the kube-proxy node and on the reference setup, under each event: only tracking from boot closes
    /// a column (late, on both, for any length by 1-induction); every other cell collides in 3 steps (the reference's
    /// expiry in 2); and where Z3 proves a cell safe the search finds none (the two engines agree on the verdict they share).
    /// </summary>
    [Z3Theory]
    [InlineData("kube-node.scenario", 3)]
    [InlineData("late-start.scenario", 2)]
    public void EachMitigation_HasItsProvedVerdict(string name, int expiryDepth)
    {
        var setup = Run.Parse(File.ReadAllText(SetupPath(name)));
        var facts = Mitigations.SetupFacts.Of(Simulation.Run(setup, ChoiceSource.First).Final);
        var proved = 0;
        foreach (var kind in Mitigations.All)
        {
            var m = Mitigations.Apply(kind, setup.ToScript(), facts);
            if (m.NotApplicable is not null) continue;
            foreach (var e in new[] { SetupEvents.Late, SetupEvents.Flush, SetupEvents.Expiry })
            {
                if ((m.Excluded & e) != 0) continue;
                var cell = Z3Commands.ProveCell($"setups/{Mitigations.Slug(kind)}.scenario", m.Script, m.PinnedLines, e, 6);
                output.WriteLine($"{Mitigations.Name(kind)}, {SetupSpaces.EventsText(e)}: {cell}");
                var expected = kind == MitigationKind.TrackingFromBoot && e == SetupEvents.Late ? "proved safe for any length (up to 6 connections)"
                    : $"collision: {(e == SetupEvents.Expiry ? expiryDepth : 3)} steps";
                Assert.Equal(expected, cell);
                if (cell.StartsWith("proved", StringComparison.Ordinal)) proved++;
            }
        }
        Assert.Equal(1, proved);
        var (table, error) = Advisor.Run(name, setup, [SetupEvents.Late], 2000, 1);
        Assert.Null(error);
        Assert.Equal(AdviceVerdict.NoneFound, table!.Rows.Single(r => r.Mitigation == MitigationKind.TrackingFromBoot).Cells.Single().Verdict);
    }

    /// <summary>
    /// The encoding allows every run the model makes (what a proof relies on): random runs of each setup under every event
    /// (a fixed seed; bound ports drawn to meet the NAT ranges and each other, automatic ports and statistic draws the
    /// model's own), each step's kind, port, whether it is up, the port its server end sees, whether a table tracks it and
    /// whether it broke an invariant. Counts what it covered: runs ending in a violation among them.
    /// </summary>
    /// <remarks>
    /// kube-node's runs end in no violation: its collisions need a random-fully port to land on a live one, and half the
    /// model's NAT searches aim at the run's ports, which random runs of six steps rarely line up; its violations are
    /// covered by the counterexamples' replays (<see cref="Setup_UnderEachEvent_HasItsVerdict"/>), the reference's here.
    /// </remarks>
    [Z3Theory]
    [InlineData("late-start.scenario", 5)]
    [InlineData("kube-node.scenario", 0)]
    public void TheEncoding_AllowsEveryRunOfTheModel(string name, int minViolating)
    {
        var fragment = Fragment(name, SetupEvents.Late | SetupEvents.Flush | SetupEvents.Expiry);
        var r = SetupAgreement.Check(fragment, runs: 150, depth: 6, seed: 20261130);
        output.WriteLine($"{name}: {r.Runs} runs, {r.Steps} steps compared, {r.Violating} ending in a violation, {r.Cut} cut short ({string.Join(", ", r.CutReasons.Select(kv => $"{kv.Key}: {kv.Value}"))})");
        Assert.True(r.Disagreements.IsEmpty, string.Join("\n", r.Disagreements.Take(3)));
        Assert.True(r.Steps >= 400, $"only {r.Steps} steps");
        Assert.True(r.Violating >= minViolating, $"only {r.Violating} runs reach a violation");
        Assert.True(r.Cut <= r.Runs / 10, $"{r.Cut} of {r.Runs} runs cut short");
    }

    /// <summary>
    /// 1-induction closes both setups without events (runs of any length, up to 6 connections); neither is inductive
    /// alone, and the strengthening kept says a live connection (of a tracked kind) has its entry.
    /// </summary>
    [Z3Theory]
    [InlineData("late-start.scenario")]
    [InlineData("kube-node.scenario")]
    public void Induction_ClosesTheSetupsWithoutEvents(string name)
    {
        var k = SetupProver.Induct(Fragment(name, SetupEvents.None), 6);
        output.WriteLine($"{name}: inductive alone {k.InductiveAlone}, closed {k.Inductive}, needed: {string.Join("; ", k.Needed)}; dropped: {string.Join("; ", k.Dropped)} ({k.Elapsed.TotalMilliseconds:0} ms)");
        Assert.False(k.InductiveAlone);
        Assert.True(k.Inductive);
        Assert.Contains(k.Kept, n => n.Contains("conntrack entry", StringComparison.Ordinal));
    }

    /// <summary>Under late (no tracking from boot) the induction cannot close: a collision exists, and the bounded search finds it first.</summary>
    [Z3Fact]
    public void Induction_DoesNotCloseWhatCollides()
    {
        var k = SetupProver.Induct(Fragment("late-start.scenario", SetupEvents.Late), 6);
        Assert.False(k.Inductive);
    }

    /// <summary>
    /// advise writes the Z3 table under the search's, links each Z3 collision to its scenario under cells/, and that
    /// scenario replays with the collision; the proved cell says so.
    /// </summary>
    [Z3Fact]
    public void Advise_WritesTheProofTableAndItsCollisions()
    {
        var dir = Path.Combine(Path.GetTempPath(), $"ctm-advise-z3-{Guid.NewGuid():N}");
        try
        {
            var (code, stdout, _) = Run.Ctmodel("advise", "--setup", SetupPath("late-start.scenario"), "--tests", "200", "--out", dir, "--quiet");
            Assert.Equal(ExitCode.Ok, code);
            Assert.Contains("| tracking from boot | proved safe for any length (up to 6 connections) |", stdout, StringComparison.Ordinal);
            var md = File.ReadAllText(Path.Combine(dir, "advice.md"));
            Assert.Contains("[collision: 3 steps](cells/as-written-late-z3.scenario)", md, StringComparison.Ordinal);
            var z3 = Run.Parse(File.ReadAllText(Path.Combine(dir, "cells", "as-written-late-z3.scenario")));
            Assert.NotEmpty(Simulation.Run(z3, ChoiceSource.First).Violations);
            Assert.Contains("\"z3\": \"proved safe for any length (up to 6 connections)\"", File.ReadAllText(Path.Combine(dir, "advice.json")), StringComparison.Ordinal);
        }
        finally
        {
            if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>The Docker host's filter rule with --dport is refused by name and line, with exit code 2.</summary>
    [Z3Fact]
    public void APortMatchOutsideNat_IsRefusedByName()
    {
        var (code, _, err) = Run.Ctmodel("prove", "--setup", SetupPath("docker-host.scenario"), "--events", "late");
        Assert.Equal(ExitCode.BadInput, code);
        Assert.Contains("docker-host.scenario:44: -A DOCKER -d 172.17.0.2/32 ! -i docker0 -o docker0 -p tcp -m tcp --dport 80 -j ACCEPT (filter table)", err, StringComparison.Ordinal);
        Assert.Contains("does not split connections by port", err, StringComparison.Ordinal);
    }

    /// <summary>An nth counter is history the symbolic engine does not carry: refused.</summary>
    [Z3Fact]
    public void AnNthRule_IsRefused()
    {
        var file = Path.Combine(Path.GetTempPath(), $"ctm-nth-{Guid.NewGuid():N}.scenario");
        File.WriteAllText(file, "listen 127.0.0.1:8080\niptables -t nat -A POSTROUTING -p tcp -m statistic --mode nth --every 2 --packet 0 -j SNAT --to-source 127.0.0.1:40000\n");
        try
        {
            var (code, _, err) = Run.Ctmodel("prove", "--setup", file);
            Assert.Equal(ExitCode.BadInput, code);
            Assert.Contains("--mode nth", err, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(file);
        }
    }

    /// <summary>The command: 0 and the bound when safe, 1 and the replayed scenario on a collision; bad options are usage errors.</summary>
    [Z3Fact]
    public void ProveSetup_ExitCodesAndText()
    {
        var path = SetupPath("late-start.scenario");
        var (safe, safeOut, _) = Run.Ctmodel("prove", "--setup", path, "--depth", "4");
        Assert.Equal(ExitCode.Ok, safe);
        Assert.Contains("no collision in any run of up to 4 steps: connects of 2 kinds", safeOut, StringComparison.Ordinal);
        var (found, foundOut, _) = Run.Ctmodel("prove", "--setup", path, "--events", "late");
        Assert.Equal(ExitCode.Violation, found);
        Assert.Contains("COLLISION in 3 steps, replayed in the model", foundOut, StringComparison.Ordinal);
        Assert.Contains("iptables -t nat -A POSTROUTING", foundOut, StringComparison.Ordinal);
        Assert.Equal(ExitCode.BadInput, Run.Ctmodel("prove", "--setup", path, "--config", "boot").Code);
        var (inducted, inductedOut, _) = Run.Ctmodel("prove", "--setup", path, "--depth", "4", "--induction");
        Assert.Equal(ExitCode.Ok, inducted);
        Assert.Contains("1-induction closes the proof for runs of any length with up to 4 connections", inductedOut, StringComparison.Ordinal);
        Assert.Equal(ExitCode.BadInput, Run.Ctmodel("prove", "--setup", path, "--depth", "17").Code);
        Assert.Equal(ExitCode.BadInput, Run.Ctmodel("prove", "--setup", path, "--events", "sometimes").Code);
        Assert.Equal(ExitCode.BadInput, Run.Ctmodel("prove", "--config", "boot", "--events", "late").Code);
    }
}
