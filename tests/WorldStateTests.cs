using System.Globalization;
using ConntrackModel.Model.Choices;
using ConntrackModel.Model.Kernel;
using ConntrackModel.Model.Scenarios;
using ConntrackModel.Model.Sockets;
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
                checkedWorlds++;
            }
        }
        output.WriteLine($"{checkedWorlds} worlds re-checked after later steps and branches");
        Assert.True(checkedWorlds > 50);
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
        var cfg = NetfilterConfig.Empty with { Rules = [.. rules] };
        Assert.Equal(new[] { rules[0], rules[2] }, cfg.Chain(Model.Nat.NatChain.PostRouting).ToArray());
        Assert.Equal(new[] { rules[1] }, cfg.Chain(Model.Nat.NatChain.Output).ToArray());
        Assert.Empty(cfg.Chain(Model.Nat.NatChain.PreRouting));
        var fewer = cfg with { Rules = cfg.Rules.RemoveAt(0) };
        Assert.Equal(new[] { rules[2] }, fewer.Chain(Model.Nat.NatChain.PostRouting).ToArray());
        var loaded = fewer with { Modprobed = true };
        Assert.Equal(new[] { rules[2] }, loaded.Chain(Model.Nat.NatChain.PostRouting).ToArray());
        Assert.Empty(NetfilterConfig.Empty.Chain(Model.Nat.NatChain.PostRouting));
        // Appending one rule at a time gives the same configuration as setting the list at once.
        var appended = rules.Aggregate(NetfilterConfig.Empty, (c, r) => c.Append(r));
        Assert.Equal(cfg with { NatTableExists = true }, appended);
        Assert.Equal(new[] { rules[0], rules[2] }, appended.Chain(Model.Nat.NatChain.PostRouting).ToArray());
        Assert.Equal(cfg.ConntrackUsers, appended.ConntrackUsers);
        Assert.True(appended.Tracking && appended.NatTableExists);
        Assert.False(NetfilterConfig.Empty.Tracking);
    }
}
