using ConntrackModel.Cli;
using ConntrackModel.Model.Addressing;
using ConntrackModel.Model.Scenarios;
using ConntrackModel.Properties.Checking;
using ConntrackModel.Properties.Generation;
using ConntrackModel.Properties.Setups;
using ConntrackModel.Properties.Shrinking;
using FsCheck;
using FsCheck.Fluent;

namespace ConntrackModel.Tests.Properties;

/// <summary>
/// <c>check --setup FILE</c>: workloads generated around a user's own setup. What the setup offers (origins, targets,
/// ports), what it may not hold, that every trial keeps the setup as written (its netfilter lines deferred in order
/// with late), and that the search finds the late-start collision in the reference setup and shrinks it to the
/// reference's own length.
/// </summary>
public class SetupCheckTests
{
    private static string Setup(string name) => File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "examples", "setups", name));

    private static Model.Scenarios.Scenario Parse(string name) => Run.Parse(Setup(name));

    [Fact]
    public void KubeNode_OffersItsNamespacesListenersServiceAndNodePort()
    {
        var (config, error) = SetupSpaces.From("kube-node.scenario", Parse("kube-node.scenario"), SetupEvents.None);
        Assert.Null(error);
        var space = config!.Space!;
        // node's two addresses, the pod's, the backend's (no loopback: nothing listens there).
        Assert.Equal(["init 10.244.0.1", "init 192.168.1.10", "pod1 10.244.0.2", "server 192.168.1.20"], space.Origins.Select(o => o.ToString()).Order(StringComparer.Ordinal).ToArray());
        var targets = space.Targets.Select(t => t.Address.ToString()).ToHashSet();
        Assert.Superset(new HashSet<string> { "192.168.1.20:80", "192.168.1.20:81", "10.96.0.10:80", "192.168.1.10:30080", "10.244.0.1:30080" }, targets);
        Assert.Contains(space.Targets, t => t.Why.Contains("cluster IP", StringComparison.Ordinal));
        Assert.Empty(space.Deferred);
        Assert.Null(Assert.Single(space.Tracking));
        Assert.Equal(config.Setup.Length, Parse("kube-node.scenario").Lines.Count);
    }

    /// <summary>
    /// Port ranges and multiport lists make targets too: a range's ends, each listed port and range end, and along a path
    /// of jumps only the ports every rule on it lets through (95 is listed, but the jump to the chain took 80:90 only).
    /// </summary>
    [Fact]
    public void Targets_FromRangesAndMultiportLists()
    {
        var (config, error) = SetupSpaces.From("t.scenario", Run.Parse("""
            ip link set lo up
            listen 127.0.0.1:8443
            iptables -t nat -A OUTPUT -d 10.96.0.20/32 -p tcp -m multiport --dports 443,8000:8002 -j DNAT --to-destination 127.0.0.1:8443
            iptables -t nat -N SVC
            iptables -t nat -A OUTPUT -d 10.96.0.30/32 -p tcp --dport 80:90 -j SVC
            iptables -t nat -A SVC -p tcp -m multiport --dports 85,95 -j DNAT --to-destination 127.0.0.1:8443

            """), SetupEvents.None);
        Assert.Null(error);
        var targets = config!.Space!.Targets.Select(t => t.Address.ToString()).ToHashSet();
        Assert.Superset(new HashSet<string> { "10.96.0.20:443", "10.96.0.20:8000", "10.96.0.20:8002", "10.96.0.30:80", "10.96.0.30:90", "10.96.0.30:85" }, targets);
        Assert.DoesNotContain("10.96.0.30:95", targets);
        Assert.DoesNotContain("10.96.0.20:8001", targets);
    }

    /// <summary>The Docker host: the published port is a target at the host's addresses (DOCKER chain, addrtype LOCAL), and its late start collides.</summary>
    [Fact]
    public void DockerHost_PublishedPortIsATarget_AndLateStartCollides()
    {
        var (config, error) = SetupSpaces.From("docker-host.scenario", Parse("docker-host.scenario"), SetupEvents.Late);
        Assert.Null(error);
        var targets = config!.Space!.Targets.Select(t => t.Address.ToString()).ToHashSet();
        Assert.Superset(new HashSet<string> { "172.17.0.2:80", "192.168.1.20:80", "192.168.1.10:8080", "172.17.0.1:8080" }, targets);
        var r = CheckRunner.Run(new CheckOptions(config, CheckOptions.DefaultFor(config), 1, null), _ => { });
        Assert.NotNull(r.Minimal);
        Assert.True(r.MinimalityOfMinimal!.Minimal);
    }

    [Fact]
    public void Late_DefersTheNetfilterLines_InOrder_AndExpirySetsShortTimeouts()
    {
        var scenario = Parse("late-start.scenario");
        var (late, _) = SetupSpaces.From("late-start.scenario", scenario, SetupEvents.Late | SetupEvents.Expiry);
        Assert.Equal([scenario.Lines[1].Command], late!.Space!.Deferred.ToArray());
        Assert.Equal(scenario.Lines[0].Command, late.Setup[0]);
        // Expiry shortens the idle timeouts where the full setup tracks (here the initial namespace).
        Assert.Contains(late.Setup, c => c is Command.Sysctl { Key: "net.netfilter.nf_conntrack_tcp_timeout_established", Value: "2" });
        Assert.Equal(3 * SetupSpaces.ExpirySeconds * 1000L, late.MaxSleepMs);
        Assert.Equal([40000, 50000], late.Space.Ports.ToArray());
    }

    [Theory]
    [InlineData("listen 127.0.0.1:8080\nconnect A 127.0.0.1:8080\n", "t.scenario:2: 'connect A 127.0.0.1:8080' is not setup")]
    [InlineData("ip link set lo up\n", "t.scenario: nothing to connect to")]
    [InlineData("listen 127.0.0.1:8080\niptables -t nat -A POSTROUTING -j NOPE\n", "t.scenario:2: iptables v1.8.9 (nf_tables): Chain 'NOPE' does not exist")]
    public void NotASetup_IsRefusedWithItsLine(string script, string message)
    {
        var (config, error) = SetupSpaces.From("t.scenario", Run.Parse(script), SetupEvents.None);
        Assert.Null(config);
        Assert.StartsWith(message, error, StringComparison.Ordinal);
    }

    [Fact]
    public void Events_ParseAsAList_AndAnUnknownOneIsNamed()
    {
        Assert.StartsWith("--events: unknown event 'boot'", SetupSpaces.ParseEvents("flush,boot").Error, StringComparison.Ordinal);
        Assert.Equal(SetupEvents.Flush | SetupEvents.Late, SetupSpaces.ParseEvents("late,flush").Events);
        Assert.Equal((SetupEvents.None, null), SetupSpaces.ParseEvents(null));
    }

    /// <summary>Every generated trial starts with the setup as written; with late, its body holds the setup's netfilter lines in their order; the shrinker admits only such trials.</summary>
    [Fact]
    public void EveryTrial_KeepsTheSetup()
    {
        var scenario = Parse("kube-node.scenario");
        var (config, _) = SetupSpaces.From("kube-node.scenario", scenario, SetupEvents.Late | SetupEvents.Flush);
        var trials = TrialGen.For(config!).Sample(40, 50).ToList();
        Assert.Equal(40, trials.Count);
        foreach (var t in trials)
        {
            Assert.Equal(config!.Setup.ToArray(), t.Setup.ToArray());
            Assert.Equal(config.Space!.Deferred.ToArray(), t.Body.Where(SetupSpaces.IsNetfilterLine).ToArray());
            Assert.True(TrialShrinker.Admits(config, t));
            Assert.False(TrialShrinker.Admits(config, t.WithBody(t.Body.RemoveAll(SetupSpaces.IsNetfilterLine))));
        }
        // Connections come from every kind of origin and reach the Service as well as the backends.
        var connects = trials.SelectMany(t => t.Body).OfType<Command.Connect>().ToList();
        Assert.Contains(connects, c => c.Netns == "pod1");
        Assert.Contains(connects, c => c.Netns is null);
        Assert.Contains(connects, c => c.Remote == new SockAddr(new Model.Addressing.IPv4Address(0x0A60000A), 80));
        Assert.Contains(trials.SelectMany(t => t.Body), c => c is Command.ConntrackFlush);
    }

    /// <summary>
    /// The reference setup with tracking starting late: the search finds the collision in every seed tried and shrinks
    /// it to four commands after the setup's listener (connect, the deferred rule, connect, and the send or the second
    /// connect's own packets), as the reference scenario tells it.
    /// </summary>
    [Fact]
    public void LateStartSetup_FindsTheCollision_InEverySeed()
    {
        var (config, _) = SetupSpaces.From("late-start.scenario", Parse("late-start.scenario"), SetupEvents.Late);
        for (ulong seed = 1; seed <= 10; seed++)
        {
            var r = CheckRunner.Run(new CheckOptions(config!, 300, seed, null), _ => { });
            Assert.Null(r.Error);
            Assert.NotNull(r.Minimal);
            Assert.Contains(r.Minimal.Body, c => c is Command.IptablesAdd);
            Assert.True(r.Minimal.Body.Count <= 4, r.Minimal.ToString());
        }
    }

    /// <summary>
    /// The kube-node example, as the README shows it over 100 seeds (bench --check): with late, flush or expiry the
    /// search finds a collision in every seed tried here (10 each, at the default 5000 tests) and shrinks it to at most
    /// four commands after the setup, each minimal; with no event it finds none (3 seeds, 1000 tests: the test's budget).
    /// </summary>
    [Theory]
    [InlineData(SetupEvents.Late)]
    [InlineData(SetupEvents.Flush)]
    [InlineData(SetupEvents.Expiry)]
    public void KubeNode_EveryEvent_FoundInEverySeed(SetupEvents events)
    {
        var (config, _) = SetupSpaces.From("kube-node.scenario", Parse("kube-node.scenario"), events);
        for (ulong seed = 1; seed <= 10; seed++)
        {
            var r = CheckRunner.Run(new CheckOptions(config!, CheckOptions.DefaultFor(config!), seed, null), _ => { });
            Assert.Null(r.Error);
            Assert.NotNull(r.Minimal);
            Assert.True(r.Minimal.Body.Count <= 4 && r.MinimalityOfMinimal!.Minimal, $"seed {seed}: {r.Minimal}");
        }
    }

    [Fact]
    public void KubeNode_NoEvents_NoCollision()
    {
        var (config, _) = SetupSpaces.From("kube-node.scenario", Parse("kube-node.scenario"), SetupEvents.None);
        for (ulong seed = 1; seed <= 3; seed++)
        {
            var r = CheckRunner.Run(new CheckOptions(config!, 1000, seed, null), _ => { });
            Assert.Null(r.Error);
            Assert.Null(r.Minimal);
            Assert.Equal(1000, r.TestsRun);
        }
    }

    /// <summary>
    /// <c>--shrink-setup</c> on the kube-node example with flush, 5 seeds: every minimal trial still fails, drops lines of
    /// the setup (never the configuration's own), keeps the workload minimal, and names the dropped lines; without it the
    /// setup stays whole. A restore shrinks line by line: the kept dump is the file's with lines removed, in order.
    /// </summary>
    [Fact]
    public void ShrinkSetup_DropsWhatTheCollisionDoesNotNeed()
    {
        var scenario = Parse("kube-node.scenario");
        var (config, _) = SetupSpaces.From("kube-node.scenario", scenario, SetupEvents.Flush, shrinkSetup: true);
        var (whole, _) = SetupSpaces.From("kube-node.scenario", scenario, SetupEvents.Flush);
        var original = scenario.Lines.Single(l => l.Command is Command.IptablesRestore).Command;
        for (ulong seed = 1; seed <= 5; seed++)
        {
            var r = CheckRunner.Run(new CheckOptions(config!, CheckOptions.DefaultFor(config!), seed, null), _ => { });
            Assert.NotNull(r.Minimal);
            Assert.NotEmpty(r.Minimal.Replay().Violations);
            Assert.True(r.Minimal.Setup.Count < whole!.Setup.Length, $"seed {seed}: the setup kept all {whole.Setup.Length} commands");
            Assert.True(r.MinimalityOfMinimal!.Minimal, $"seed {seed}: {r.Minimal}");
            var dropped = SetupSpaces.Dropped(config!.Space!, r.Minimal.Commands);
            Assert.NotEmpty(dropped);
            Assert.All(dropped, line => Assert.InRange(line, 2, scenario.Lines[^1].Line + 40));
            if (r.Minimal.Setup.OfType<Command.IptablesRestore>().SingleOrDefault() is { } kept)
                Assert.True(SetupSpaces.ShrunkFrom(kept, original));
            // The configuration's own expiry sysctls are not the setup's: with flush there are none to keep.
            Assert.All(r.Minimal.Setup, c => Assert.Contains(scenario.Lines, l => SetupSpaces.ShrunkFrom(c, l.Command)));
            var r2 = CheckRunner.Run(new CheckOptions(whole!, CheckOptions.DefaultFor(whole!), seed, null), _ => { });
            Assert.Equal(whole!.Setup.ToArray(), r2.Minimal!.Setup.ToArray());
        }
    }

    [Fact]
    public void Ranges_WriteRunsOfLines() => Assert.Equal("11, 15, 26-28, 43-44", SetupSpaces.Ranges([11, 15, 26, 27, 28, 43, 44]));

    private static (ExitCode Code, string Out, string Err) Ctmodel(params string[] args) => Run.Ctmodel(args);

    /// <summary>
    /// <c>ctmodel check --setup</c> from the command line: exit 1 with the counterexample, the setup shown as one line,
    /// a replay line that names the setup and events, and a report whose table names the line of the file that holds
    /// the rule that made each NAT binding.
    /// </summary>
    [Fact]
    public void Cli_CheckSetup_ReportsTheRuleLines()
    {
        var file = Path.Combine(AppContext.BaseDirectory, "examples", "setups", "late-start.scenario");
        var dir = Directory.CreateTempSubdirectory("ctm-setup-").FullName;
        try
        {
            var (code, stdout, _) = Ctmodel("check", "--setup", file, "--events", "late", "--seed", "3", "--out", dir, "--quiet");
            Assert.Equal(ExitCode.Violation, code);
            Assert.Contains($"# the setup of {file}: 1 commands, as written", stdout, StringComparison.Ordinal);
            Assert.Contains($"--setup {file} --events late --replay ", stdout, StringComparison.Ordinal);
            var report = File.ReadAllText(Path.Combine(dir, "report.md"));
            Assert.Contains("## The rules of", report, StringComparison.Ordinal);
            // The SNAT rule is line 3 of the file (after the description and the listener).
            Assert.Contains($"-j SNAT --to-source 127.0.0.1:40000` | {file}:3 |", report, StringComparison.Ordinal);
            var minimal = Run.Parse(File.ReadAllText(Path.Combine(dir, "minimal.scenario")));
            Assert.NotEmpty(Model.Kernel.Simulation.Run(minimal, Model.Choices.ChoiceSource.First).Violations);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Theory]
    [InlineData(new[] { "check", "--setup", "X", "--config", "boot" }, "check: give either --config or --setup, not both")]
    [InlineData(new[] { "check", "--events", "late" }, "check: --events belongs to --setup FILE")]
    [InlineData(new[] { "check", "--shrink-setup" }, "check: --shrink-setup belongs to --setup FILE")]
    [InlineData(new[] { "check", "--setup", "X", "--events", "boot" }, "check: --events: unknown event 'boot'")]
    [InlineData(new[] { "check", "--engine", "z3", "--setup", "X" }, "check: --setup belongs to --engine fscheck")]
    [InlineData(new[] { "check", "--setup", "/nonexistent/setup.scenario" }, "/nonexistent/setup.scenario")]
    public void Cli_CheckSetup_BadInput_Exit2(string[] args, string message)
    {
        var (code, _, stderr) = Ctmodel(args);
        Assert.Equal(ExitCode.BadInput, code);
        Assert.Contains(message, stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", stderr, StringComparison.Ordinal);
    }
}
