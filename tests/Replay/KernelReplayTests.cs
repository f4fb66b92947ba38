using System.Diagnostics;
using System.Text.Json;
using ConntrackModel.Cli;
using ConntrackModel.Cli.Commands;
using ConntrackModel.Model.Scenarios;
using ConntrackModel.Replay.Host;
using ConntrackModel.Replay.Kernel;
using Xunit.Abstractions;

namespace ConntrackModel.Tests.Replay;

/// <summary>
/// Kernel runs are timed by the kernel's own clocks (retransmissions, the 3 s connect); they run on their own, not
/// beside the CPU-heavy property runs, so a loaded machine does not skew them.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class KernelCollection
{
    public const string Name = "kernel";
}

/// <summary>The real kernel, in throwaway namespaces: the examples and random scenarios agree with the model.</summary>
[Collection(KernelCollection.Name)]
public class KernelReplayTests(ITestOutputHelper output)
{
    public static TheoryData<string> Examples =>
        [.. Directory.GetFiles(Path.Combine(AppContext.BaseDirectory, "examples"), "*.scenario").Select(f => Path.GetFileName(f)).Order(StringComparer.Ordinal)];

    [KernelTheory]
    [MemberData(nameof(Examples))]
    public void Example_AgreesWithTheKernel(string example)
    {
        var r = ConformCommand.Compare(Run.Parse(Run.Example(example)), example);
        output.WriteLine(ConformCommand.Text(r));
        Assert.True(r.Agree, ConformCommand.Text(r));
        Assert.DoesNotContain(NetworkNamespace.List(), n => n.StartsWith($"{NetworkNamespace.Prefix}{Environment.ProcessId}-", StringComparison.Ordinal));
    }

    [KernelFact]
    public void Conform_FiftyRandomScenarios_AgreeWithTheKernel()
    {
        var dir = Path.Combine(Path.GetTempPath(), $"ctm-conform-{Guid.NewGuid():N}");
        using var o = new StringWriter();
        using var e = new StringWriter();
        var code = Program.Run(["conform", "--random", "50", "--seed", "20261125", "--out", dir, "--quiet"], o, e);
        output.WriteLine(o.ToString());
        output.WriteLine(e.ToString());
        Assert.Equal(ExitCode.Ok, code);
        Assert.Contains("50/50 random late-start scenarios (seed 20261125) agree with the kernel", o.ToString(), StringComparison.Ordinal);
        Assert.False(Directory.Exists(dir), "no disagreement file is written when all agree");
    }

    [KernelFact]
    public void Replay_Json_HasTheSimulateShape_AndTheReferenceCollision()
    {
        using var o = new StringWriter();
        using var e = new StringWriter();
        var code = Program.Run(["replay", Path.Combine(AppContext.BaseDirectory, "examples", "reference.scenario"), "--kernel", "--json"], o, e);
        Assert.Equal(ExitCode.Ok, code);
        using var json = JsonDocument.Parse(o.ToString());
        var root = json.RootElement;
        Assert.Equal(["connections", "conntrack", "counters", "violations"], root.EnumerateObject().Select(p => p.Name).ToArray());
        var a = root.GetProperty("connections")[0];
        Assert.Equal("CLOSE", a.GetProperty("server").GetProperty("state").GetString());
        Assert.Equal("ECONNRESET", a.GetProperty("server").GetProperty("error").GetString());
        Assert.Equal("127.0.0.1:40000", root.GetProperty("connections")[1].GetProperty("wire")[0].GetString());
    }

    [KernelFact(Pcap = true)]
    public void Replay_Pcap_RecordsTheLoopbackTraffic()
    {
        var pcap = Path.Combine(Path.GetTempPath(), $"ctm-{Guid.NewGuid():N}.pcap");
        try
        {
            KernelReplay.Run(Run.Parse("listen 127.0.0.1:8080\nconnect A 127.0.0.1:8080\nsend A hello"), new ReplayOptions(pcap));
            var read = Tool.Run(Tool.Find("tcpdump")!, ["-n", "-r", pcap]);
            output.WriteLine(read.Stdout);
            Assert.Contains("127.0.0.1.8080: Flags [S]", read.Stdout, StringComparison.Ordinal);
            Assert.Contains("length 6", read.Stdout, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(pcap);
        }
    }

    [KernelFact]
    public void Replay_KilledRun_LeavesNothingBehindOnceTheNextRunStarts() =>
        KillThenRunAgain("listen 127.0.0.1:8080\nsleep 60\n", pid => $"{NetworkNamespace.Prefix}{pid}-1");

    [KernelFact]
    public void Replay_KilledRunWithScenarioNamespaces_LeavesNothingBehindOnceTheNextRunStarts() =>
        // The same with namespaces the scenario made: ctmodel-PID-N-pod must go too.
        KillThenRunAgain("ip netns add pod\nip link add veth0 type veth peer name eth0 netns pod\nip -n pod link set lo up\nsleep 60\n",
            pid => $"{NetworkNamespace.Prefix}{pid}-1-pod");

    /// <summary>
    /// A replay killed with SIGKILL cannot clean up; the next run must remove what it left: every namespace whose
    /// name carries the dead process's id. <paramref name="waitFor"/> names the namespace whose existence shows the
    /// run is under way.
    /// </summary>
    private static void KillThenRunAgain(string script, Func<int, string> waitFor)
    {
        var scenario = Path.Combine(Path.GetTempPath(), $"ctm-{Guid.NewGuid():N}.scenario");
        File.WriteAllText(scenario, script);
        var psi = new ProcessStartInfo(Environment.ProcessPath!.EndsWith("dotnet", StringComparison.Ordinal) ? Environment.ProcessPath : "dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var a in new[] { Path.Combine(AppContext.BaseDirectory, "ctmodel.dll"), "replay", scenario, "--kernel" }) psi.ArgumentList.Add(a);
        using var child = Process.Start(psi)!;
        try
        {
            var name = waitFor(child.Id);
            var sw = Stopwatch.StartNew();
            while (!NetworkNamespace.List().Contains(name) && sw.Elapsed < TimeSpan.FromSeconds(30)) Thread.Sleep(100);
            Assert.Contains(name, NetworkNamespace.List());
            child.Kill();
            child.WaitForExit();
            // SIGKILL gave the child no chance to clean up. (Another test's run may already have removed the
            // namespaces: tests run in parallel, and every run removes namespaces of dead processes.)
            var run = KernelReplay.Run(Run.Parse("listen 127.0.0.1:8080"), new ReplayOptions());
            Assert.DoesNotContain(NetworkNamespace.List(), n => n.StartsWith($"{NetworkNamespace.Prefix}{child.Id}-", StringComparison.Ordinal));
            Assert.DoesNotContain(run.Namespace, NetworkNamespace.List());
        }
        finally
        {
            if (!child.HasExited) child.Kill();
            File.Delete(scenario);
            NetworkNamespace.RemoveStale();
        }
    }

    /// <summary>
    /// A replay recording with tcpdump, stopped by SIGKILL or by SIGTERM: tcpdump must not outlive it (SIGKILL: the
    /// parent-death signal; SIGTERM: the cleanup kills what runs in the namespace), and nothing may stay behind,
    /// neither the namespace nor a process in it.
    /// </summary>
    /// <summary>
    /// What check writes must conform: the minimal scenarios of both engines for late-start, flush and dnat (their
    /// pins choose the model's path; conform follows the kernel's own, see Conformance.Guided). expiry is left out:
    /// its colliding entry's state depends on the two ISNs (the known mid-stream window limitation in the README).
    /// </summary>
    [KernelFact(Z3 = true)]
    public void CheckWrittenScenarios_ConformWithTheKernel()
    {
        var dir = Directory.CreateTempSubdirectory("ctm-cx-");
        try
        {
            var files = new List<string>();
            foreach (var (config, engine) in new[] { ("late-start", "fscheck"), ("late-start", "z3"), ("flush", "fscheck"), ("flush", "z3"), ("dnat", "fscheck"), ("dnat", "z3") })
            {
                var outDir = Path.Combine(dir.FullName, config + "-" + engine);
                using var o = new StringWriter();
                using var e = new StringWriter();
                string[] args = engine == "z3" ? ["check", "--engine", "z3", "--config", config, "--out", outDir] : ["check", "--config", config, "--seed", "1", "--quiet", "--out", outDir];
                Assert.Equal(ExitCode.Violation, Program.Run(args, o, e));
                files.Add(Path.Combine(outDir, "minimal.scenario"));
            }
            using var stdout = new StringWriter();
            using var stderr = new StringWriter();
            var code = Program.Run(["conform", .. files], stdout, stderr);
            output.WriteLine(stdout.ToString());
            Assert.True(code == ExitCode.Ok, stdout + stderr.ToString());
            Assert.Contains($"{files.Count}/{files.Count} scenarios agree with the kernel", stdout.ToString(), StringComparison.Ordinal);
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    [KernelFact(Pcap = true)]
    public void Replay_PcapKilledBySigkill_TcpdumpDiesWithIt_AndTheNextRunRemovesTheNamespace() => KillDuringPcap(9);

    [KernelFact(Pcap = true)]
    public void Replay_PcapStoppedBySigterm_TcpdumpDies_AndTheNamespaceIsGone() => KillDuringPcap(15);

    /// <summary>A process's command name, or null once it is gone.</summary>
    private static string? Comm(int pid)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid}/comm").Trim();
        }
        catch (IOException)
        {
            return null;
        }
    }

    private static void KillDuringPcap(int signal)
    {
        var scenario = Path.Combine(Path.GetTempPath(), $"ctm-{Guid.NewGuid():N}.scenario");
        var pcap = Path.ChangeExtension(scenario, ".pcap");
        File.WriteAllText(scenario, "listen 127.0.0.1:8080\nsleep 60\n");
        var psi = new ProcessStartInfo(Environment.ProcessPath!.EndsWith("dotnet", StringComparison.Ordinal) ? Environment.ProcessPath : "dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var a in new[] { Path.Combine(AppContext.BaseDirectory, "ctmodel.dll"), "replay", scenario, "--kernel", "--pcap", pcap }) psi.ArgumentList.Add(a);
        using var child = Process.Start(psi)!;
        try
        {
            var name = $"{NetworkNamespace.Prefix}{child.Id}-1";
            var sw = Stopwatch.StartNew();
            IReadOnlyList<int> inside = [];
            // Wait for tcpdump itself: the process in the namespace is setpriv, then ip, until it execs tcpdump (a run
            // under load once saw it before the exec).
            while (sw.Elapsed < TimeSpan.FromSeconds(30) && !(inside = NetworkNamespace.Pids(name)).Any(pid => Comm(pid) == "tcpdump")) Thread.Sleep(100);
            Assert.NotEmpty(inside);
            Assert.Contains(inside, pid => Comm(pid) == "tcpdump");
            Assert.Equal(0, Signal(child.Id, signal));
            Assert.True(child.WaitForExit(10_000), "ctmodel did not exit");
            sw.Restart();
            while (sw.Elapsed < TimeSpan.FromSeconds(10) && inside.Any(pid => Directory.Exists($"/proc/{pid}"))) Thread.Sleep(50);
            Assert.DoesNotContain(inside, pid => Directory.Exists($"/proc/{pid}"));
            // SIGTERM: ctmodel deleted its namespace itself. SIGKILL: the next run removes it.
            if (signal == 9) KernelReplay.Run(Run.Parse("listen 127.0.0.1:8080"), new ReplayOptions());
            Assert.DoesNotContain(name, NetworkNamespace.List());
        }
        finally
        {
            if (!child.HasExited) child.Kill();
            File.Delete(scenario);
            File.Delete(pcap);
            NetworkNamespace.RemoveStale();
        }
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Signal(int pid, int sig);

    [Fact]
    public void Requirements_Missing_AreListedOneALine()
    {
        using var e = new StringWriter();
        Assert.False(ReplayCommand.ReportMissing(e, "replay", ["root privileges to create network namespaces (run as root or with sudo)", "the 'conntrack' command (apt-get install conntrack)"]));
        Assert.Equal(
            "ctmodel: replay: a kernel run needs what this machine lacks:\n  - root privileges to create network namespaces (run as root or with sudo)\n  - the 'conntrack' command (apt-get install conntrack)\n",
            e.ToString().ReplaceLineEndings("\n"));
        Assert.True(ReplayCommand.ReportMissing(e, "replay", []));
    }

    [Fact]
    public void Requirements_OnThisMachine_NameOnlyWhatIsReallyMissing()
    {
        // Each entry names a tool that is not on PATH, or root when the process is not privileged.
        foreach (var m in Requirements.Missing(pcap: true))
        {
            output.WriteLine(m);
            if (m.StartsWith("the '", StringComparison.Ordinal)) Assert.Null(Tool.Find(m.Split('\'')[1]));
            if (m.StartsWith("root", StringComparison.Ordinal)) Assert.False(Environment.IsPrivilegedProcess);
        }
        Assert.Equal(Environment.IsPrivilegedProcess, !Requirements.Missing(pcap: false).Any(m => m.StartsWith("root", StringComparison.Ordinal)));
    }

    [Fact]
    public void Replay_WithoutKernelFlag_IsAUsageError()
    {
        using var o = new StringWriter();
        using var e = new StringWriter();
        Assert.Equal(ExitCode.BadInput, Program.Run(["replay", Path.Combine(AppContext.BaseDirectory, "examples", "reference.scenario")], o, e));
        Assert.Contains("--kernel", e.ToString(), StringComparison.Ordinal);
    }
}
