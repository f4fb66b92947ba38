using System.Globalization;
using ConntrackModel.Model.Choices;
using ConntrackModel.Model.Iptables;
using ConntrackModel.Model.Kernel;
using ConntrackModel.Model.Scenarios;
using ConntrackModel.Model.Sockets;
using ConntrackModel.Properties.Configs;
using ConntrackModel.Properties.Generation;
using FsCheck;
using FsCheck.Fluent;
using Xunit;
using Xunit.Abstractions;

namespace ConntrackModel.Tests;

/// <summary>
/// The world's own bookkeeping: a step updates its tables in place through builders and keeps the timer set exact,
/// so these check, on every step of every example (seeds 1-3), that no world changes once returned, that the timer
/// set is exactly the armed timers, and that connections keep their opening order.
/// </summary>
public class WorldStateTests(ITestOutputHelper output)
{
    private static readonly string[] Examples =
        [.. Directory.GetFiles(Path.Combine(AppContext.BaseDirectory, "examples"), "*.scenario").Order(StringComparer.Ordinal)];

    /// <summary>Everything a world holds, as text: any change to a table shows up here.</summary>
    private static string Fingerprint(World w) => string.Join("\n",
    [
        w.Now.ToString(CultureInfo.InvariantCulture), w.NextCtId.ToString(CultureInfo.InvariantCulture), w.Counters.ToString(),
        .. w.Conntrack.All.Select(e => e.ToString()),
        .. w.Sockets.Ends.Select(e => $"{e} rx={string.Join(',', e.Received)} unacked={e.Unacked.Count}").Order(StringComparer.Ordinal),
        .. w.Sockets.Listeners.Select(l => l.ToString()).Order(StringComparer.Ordinal),
        .. w.Connections.Select(c => c.ToString()),
        .. w.Timers.Select(t => t.ToString()),
        .. w.Decisions.Select(d => $"{d.Key}={d.Value}").Order(StringComparer.Ordinal),
    ]);

    private static IEnumerable<(string File, ulong Seed, List<World> Worlds, Scenario Scenario)> Runs()
    {
        foreach (var file in Examples)
        {
            var scenario = Run.Parse(File.ReadAllText(file));
            for (ulong seed = 1; seed <= 3; seed++)
            {
                var worlds = new List<World> { World.Initial };
                foreach (var (_, after, rejected) in Simulation.Trace(scenario, ChoiceSource.Seeded(seed), World.Initial))
                {
                    if (rejected is null) worlds.Add(after);
                }
                yield return (Path.GetFileName(file), seed, worlds, scenario);
            }
        }
    }

    [Fact]
    public void EveryWorld_IsUnchangedByLaterSteps_AndByBranchingFromIt()
    {
        var checkedWorlds = 0;
        foreach (var file in Examples)
        {
            var scenario = Run.Parse(File.ReadAllText(file));
            var worlds = new List<(World World, string Print)>();
            var w = World.Initial;
            foreach (var line in scenario.Lines)
            {
                var r = LinuxKernel.Step(w, line.Command, ChoiceSource.Seeded(1));
                if (r.Rejected is not null) continue;
                w = r.World;
                worlds.Add((w, Fingerprint(w)));
            }
            // Branch from every intermediate world: run the rest of the scenario again from it with other choices.
            for (var i = 0; i < worlds.Count; i++)
            {
                var b = worlds[i].World;
                foreach (var line in scenario.Lines.Skip(i + 1)) b = LinuxKernel.Step(b, line.Command, ChoiceSource.Seeded(99)).World;
            }
            foreach (var (world, print) in worlds)
            {
                Assert.Equal(print, Fingerprint(world));
                Assert.Null(world.Conntrack.Inconsistency());
                Assert.Null(world.Sockets.Inconsistency());
                checkedWorlds++;
            }
        }
        output.WriteLine($"{checkedWorlds} worlds re-checked after later steps and branches");
        Assert.True(checkedWorlds > 50);
    }

    /// <summary>
    /// A run that keeps its builders from step to step (<see cref="LinuxKernel.Run"/>, what simulate, check and the
    /// wire exploration use) and the run that hands out a world after every step (<see cref="LinuxKernel.Step"/>) are
    /// the same semantics: same events, violations and rejection at every step, same final world. Every example
    /// (seeds 1-3), 200 generated trials of every check configuration, and runs that end in a rejection.
    /// </summary>
    [Fact]
    public void Run_IsStepRepeated()
    {
        var scenarios = new List<(string Name, Scenario Scenario, ulong Seed)>();
        foreach (var file in Examples)
        {
            for (ulong seed = 1; seed <= 3; seed++) scenarios.Add((Path.GetFileName(file), Run.Parse(File.ReadAllText(file)), seed));
        }
        foreach (var config in CheckConfigs.Catalogue)
        {
            var trials = Gen.Sample(TrialGen.For(config), 200, new Rnd(20261129UL), 30);
            scenarios.AddRange(trials.Select((t, i) => ($"{config.Name} trial {i}", t.ToScenario("trial"), 1UL)));
        }
        // Rejections found while running (no free ephemeral port) and by the precondition, after steps that changed things.
        scenarios.Add(("port exhaustion", Run.Parse("sysctl -w net.ipv4.ip_local_port_range=\"40000 40001\"\nlisten 127.0.0.1:8080\nconnect A 127.0.0.1:8080\nconnect B 127.0.0.1:8080\nconnect C 127.0.0.1:8080\nsend A x"), 1));
        scenarios.Add(("bind in use", Run.Parse("listen 127.0.0.1:8080\nconnect A 127.0.0.1:40000 127.0.0.1:8080\nconnect B 127.0.0.1:40000 127.0.0.1:8080"), 1));
        var rejected = 0;
        var steps = 0;
        foreach (var (name, scenario, seed) in scenarios)
        {
            var folded = Simulation.Run(scenario, ChoiceSource.Seeded(seed));
            var records = new List<StepRecord>();
            var world = World.Initial;
            string? why = null;
            foreach (var (step, after, rej) in Simulation.Trace(scenario, ChoiceSource.Seeded(seed), World.Initial))
            {
                if (rej is not null)
                {
                    why = rej;
                    break;
                }
                records.Add(step);
                world = after;
            }
            Assert.True(records.SequenceEqual(folded.Steps), $"{name} seed {seed}: the steps differ");
            Assert.Equal(why, folded.Rejected);
            Assert.True(world.Equals(folded.Final), $"{name} seed {seed}: the final worlds differ");
            Assert.Equal(Fingerprint(world), Fingerprint(folded.Final));
            Assert.Null(folded.Final.Conntrack.Inconsistency());
            Assert.Null(folded.Final.Sockets.Inconsistency());
            if (why is not null) rejected++;
            steps += records.Count;
        }
        output.WriteLine($"{scenarios.Count} runs, {steps} steps compared, {rejected} ending in a rejection");
        Assert.True(rejected >= 2, "the rejected runs were compared");
    }

    /// <summary>A run may hand out a world and go on: the world it froze stays as it was, and the run ends where Step ends.</summary>
    [Fact]
    public void Run_FrozenMidway_StaysFrozen()
    {
        var scenario = Run.Parse(File.ReadAllText(Examples.Single(f => f.EndsWith("reference.scenario", StringComparison.Ordinal))) + "\nsleep 1000\nsend A more\nclose A");
        var run = new LinuxKernel.Run(World.Initial, ChoiceSource.Seeded(1));
        var byStep = World.Initial;
        var frozen = new List<(World World, string Print)>();
        foreach (var line in scenario.Lines)
        {
            Assert.Null(run.Step(line.Command).Rejected);
            byStep = LinuxKernel.Step(byStep, line.Command, ChoiceSource.Seeded(1)).World;
            var w = run.Freeze();
            Assert.Equal(Fingerprint(byStep), Fingerprint(w));
            frozen.Add((w, Fingerprint(w)));
        }
        foreach (var (w, print) in frozen)
        {
            Assert.Equal(print, Fingerprint(w));
            Assert.Null(w.Conntrack.Inconsistency());
            Assert.Null(w.Sockets.Inconsistency());
        }
        Assert.Equal(scenario.Lines.Count, frozen.Count);
    }

    /// <summary>
    /// A rejected command changes nothing, and the run goes on from the world before it, exactly as Step does: a
    /// precondition that fails (bind to a port in use) and one found while running (no free ephemeral port).
    /// </summary>
    [Fact]
    public void Run_AfterARejection_GoesOnAsStepDoes()
    {
        var scenario = Run.Parse("""
            sysctl -w net.ipv4.ip_local_port_range="40000 40001"
            listen 127.0.0.1:8080
            connect A 127.0.0.1:8080
            connect B 127.0.0.1:8080
            connect C 127.0.0.1:8080
            connect D 127.0.0.1:40000 127.0.0.1:8080
            send A x
            close B
            connect E 127.0.0.1:50000 127.0.0.1:8080
            """);
        var run = new LinuxKernel.Run(World.Initial, ChoiceSource.Seeded(1));
        var byStep = World.Initial;
        var rejected = 0;
        foreach (var line in scenario.Lines)
        {
            var (events, why) = run.Step(line.Command);
            var r = LinuxKernel.Step(byStep, line.Command, ChoiceSource.Seeded(1));
            Assert.Equal(r.Rejected, why);
            Assert.True(r.Events.SequenceEqual(events), line.Command.ToScript());
            if (why is not null) rejected++;
            byStep = r.World;
            var w = run.Freeze();
            Assert.Equal(Fingerprint(byStep), Fingerprint(w));
            Assert.Null(w.Conntrack.Inconsistency());
            Assert.Null(w.Sockets.Inconsistency());
        }
        // connect C finds no free port (the run's own rejection) and connect D's bind is refused (the precondition).
        Assert.Equal(2, rejected);
        Assert.NotNull(byStep.FindConnection("E"));
    }

    [Fact]
    public void Timers_AreExactlyTheArmedTimersOfLiveEnds()
    {
        var worlds = 0;
        var withTimers = 0;
        foreach (var (file, seed, list, _) in Runs())
        {
            foreach (var w in list)
            {
                var armed = w.Sockets.Ends.Where(e => !e.Gone).SelectMany(e => new[]
                {
                    e.RetransmitAt is { } rt ? new TimerEntry(rt, e.Name, TimerKind.Retransmit) : (TimerEntry?)null,
                    e.TimeWaitUntil is { } tw ? new TimerEntry(tw, e.Name, TimerKind.TimeWait) : null,
                }).OfType<TimerEntry>().Order().ToList();
                Assert.True(armed.SequenceEqual(w.Timers), $"{file} seed {seed} at {w.Now} ms: timers [{string.Join(", ", w.Timers)}], armed [{string.Join(", ", armed)}]");
                worlds++;
                if (!w.Timers.IsEmpty) withTimers++;
            }
        }
        output.WriteLine($"{worlds} worlds checked, {withTimers} with armed timers");
        Assert.True(withTimers > 10, "the examples arm timers, so the check compared non-empty sets");
    }

    [Fact]
    public void Connections_KeepTheirOpeningOrder()
    {
        var sim = Run.Sim("listen 127.0.0.1:8080\n" + string.Join("\n", Enumerable.Range(0, 50).Select(i => $"connect Z{49 - i} 127.0.0.1:8080")));
        Assert.Equal(Enumerable.Range(0, 50).Select(i => $"Z{49 - i}"), sim.Final.Connections.Select(c => c.Name));
        Assert.Equal(Enumerable.Range(0, 50), sim.Final.Connections.Select(c => c.Ordinal));
        var replaced = sim.Final.WithConnection(sim.Final.FindConnection("Z30")! with { Result = ConnectResult.Reset });
        Assert.Equal(sim.Final.Connections.Select(c => c.Name), replaced.Connections.Select(c => c.Name));
        Assert.Equal(ConnectResult.Reset, replaced.FindConnection("Z30")!.Result);
        Assert.Equal(50, replaced.ConnectionCount);
    }

    [Fact]
    public void NetfilterChains_FollowEveryRuleChange()
    {
        var rules = Run.Parse("""
            iptables -t nat -A POSTROUTING -p tcp -j SNAT --to-source 127.0.0.1:40000
            iptables -t nat -A OUTPUT -p tcp -j DNAT --to-destination 127.0.0.1:9000
            iptables -t nat -A POSTROUTING -p tcp -j MASQUERADE
            """).Lines.Select(l => ((Command.IptablesAdd)l.Command).Rule).ToList();
        var cfg = new XtTable(IptTable.Nat) with { Rules = [.. rules] };
        Assert.Equal(new[] { rules[0], rules[2] }, cfg.Chain(Model.Iptables.IptChain.PostRouting).ToArray());
        Assert.Equal(new[] { rules[1] }, cfg.Chain(Model.Iptables.IptChain.Output).ToArray());
        Assert.Empty(cfg.Chain(Model.Iptables.IptChain.PreRouting));
        var fewer = cfg with { Rules = cfg.Rules.RemoveAt(0) };
        Assert.Equal(new[] { rules[2] }, fewer.Chain(Model.Iptables.IptChain.PostRouting).ToArray());
        var loaded = NetfilterConfig.Empty.With(fewer) with { Modprobed = true };
        Assert.Equal(new[] { rules[2] }, loaded.Chain(Model.Iptables.IptChain.PostRouting).ToArray());
        Assert.Empty(NetfilterConfig.Empty.Chain(Model.Iptables.IptChain.PostRouting));
        // Appending one rule at a time gives the same configuration as setting the list at once.
        var appended = rules.Aggregate(new XtTable(IptTable.Nat), (c, r) => c.Append(r));
        Assert.Equal(cfg with { Exists = true }, appended);
        Assert.Equal(new[] { rules[0], rules[2] }, appended.Chain(Model.Iptables.IptChain.PostRouting).ToArray());
        Assert.Equal(cfg.RuleUsers, appended.RuleUsers);
        Assert.True(NetfilterConfig.Empty.With(appended).Tracking && NetfilterConfig.Empty.With(appended).NatTableExists);
        Assert.False(NetfilterConfig.Empty.Tracking);
    }
}
