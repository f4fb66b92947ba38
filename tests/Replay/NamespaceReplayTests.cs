using System.Diagnostics;
using System.Globalization;
using ConntrackModel.Model.Addressing;
using ConntrackModel.Model.Nat;
using ConntrackModel.Model.Net;
using ConntrackModel.Model.Reporting;
using ConntrackModel.Model.Scenarios;
using ConntrackModel.Replay.Host;
using ConntrackModel.Replay.Kernel;
using Xunit.Abstractions;

namespace ConntrackModel.Tests.Replay;

/// <summary>
/// Scenarios with several namespaces on the real kernel: a pod behind a veth pair, its sockets, its conntrack table,
/// its recording, and the cleanup of every namespace a run makes. The commands are built as records (the parser for
/// the ip commands is written elsewhere).
/// </summary>
[Collection(KernelCollection.Name)]
public class NamespaceReplayTests(ITestOutputHelper output)
{
    private static IPv4Address Ip(string text) => IPv4Address.TryParse(text, out var a) ? a : throw new ArgumentException(text);

    private static SockAddr Addr(string text) => SockAddr.TryParse(text, out var a) ? a : throw new ArgumentException(text);

    /// <summary>The node (the initial namespace) with veth0 10.244.0.1/24, the pod with eth0 10.244.0.2/24 and a default route via the node.</summary>
    private static Command[] Pod() =>
    [
        new Command.NetnsAdd("pod"),
        new Command.LinkAddVeth("veth0", null, "eth0", "pod"),
        new Command.AddrChange(true, new InAddr(Ip("10.244.0.1"), 24), "veth0"),
        new Command.LinkSetState("veth0", true),
        new Command.AddrChange(true, new InAddr(Ip("10.244.0.2"), 24), "eth0") { Netns = "pod" },
        new Command.LinkSetState("eth0", true) { Netns = "pod" },
        new Command.LinkSetState("lo", true) { Netns = "pod" },
        new Command.RouteChange(true, new Cidr(default, 0), Ip("10.244.0.1"), null) { Netns = "pod" },
    ];

    private static Command[] PodServesA() =>
    [
        .. Pod(),
        new Command.Listen(Addr("10.244.0.2:80")) { Netns = "pod" },
        new Command.Connect("A", null, Addr("10.244.0.2:80")),
        new Command.Send("A", "hello"),
    ];

    private static string RunPrefix => $"{NetworkNamespace.Prefix}{Environment.ProcessId}-";

    /// <summary>Processes still alive whose command line names one of this process's namespaces (a tcpdump, say).</summary>
    private static List<string> ProcessesNamingOurNamespaces()
    {
        var found = new List<string>();
        foreach (var dir in Directory.GetDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out var pid) || pid == Environment.ProcessId) continue;
            string cmdline;
            try
            {
                cmdline = File.ReadAllText(Path.Combine(dir, "cmdline")).Replace('\0', ' ');
            }
            catch (IOException)
            {
                continue;
            }
            catch (UnauthorizedAccessException)
            {
                continue;
            }
            if (cmdline.Contains(RunPrefix, StringComparison.Ordinal)) found.Add($"{pid}: {cmdline}");
        }
        return found;
    }

    private KernelRun Replay(Command[] commands, string? pcap = null)
    {
        var scenario = Scenario.Of("pod.scenario", commands);
        output.WriteLine(scenario.ToScript());
        var run = KernelReplay.Run(scenario, new ReplayOptions(pcap));
        foreach (var l in run.Log) output.WriteLine(l);
        return run;
    }

    [KernelFact]
    public void PodBehindAVeth_ListensInItsNamespace_TheNodeConnects_AndThePodReadsHello()
    {
        var run = Replay(PodServesA());
        var a = run.Observation.Conn("A");
        Assert.Equal("established", a.Connect);
        Assert.StartsWith("10.244.0.1:", a.Local, StringComparison.Ordinal);
        Assert.StartsWith("10.244.0.1:", Assert.Single(a.Wire), StringComparison.Ordinal);
        Assert.Equal(["hello"], a.Delivered.ToArray());
        Assert.Equal("ESTABLISHED", a.Client.State);
        Assert.Equal("ESTABLISHED", a.Server!.State);
    }

    [KernelFact]
    public void AfterARun_NoNamespaceOfItRemains_AndTheLogNamesTheRealNames()
    {
        var run = Replay(PodServesA());
        var pod = run.ScenarioNamespaces["pod"];
        Assert.Equal(run.Namespace + "-pod", pod);
        Assert.StartsWith(RunPrefix, pod, StringComparison.Ordinal);
        Assert.Contains(run.Log, l => l.Contains($"initial namespace: {run.Namespace}", StringComparison.Ordinal));
        Assert.Contains(run.Log, l => l.Contains($"namespace pod: created as {pod}", StringComparison.Ordinal));
        Assert.Contains(run.Log, l => l.Contains($"ip -n {run.Namespace} link add veth0 type veth peer name eth0 netns {pod}", StringComparison.Ordinal));
        Assert.Contains(run.Log, l => l.Contains($"ip -n {pod} route add default via 10.244.0.1", StringComparison.Ordinal));
        Assert.DoesNotContain(NetworkNamespace.List(), n => n.StartsWith(run.Namespace, StringComparison.Ordinal));
        Assert.DoesNotContain(NetworkNamespace.List(), n => n.StartsWith(RunPrefix, StringComparison.Ordinal));
    }

    [KernelFact]
    public void ConntrackEntries_OfThePodsTable_CarryItsName()
    {
        // MASQUERADE in the pod makes the pod's namespace a conntrack user (the node's stays none); B connects from
        // inside the pod to a listener on the node.
        var masquerade = Run.Parse("iptables -t nat -A POSTROUTING -o eth0 -j MASQUERADE").Lines[0].Command with { Netns = "pod" };
        var run = Replay(
        [
            .. Pod(),
            masquerade,
            new Command.Listen(Addr("10.244.0.2:80")) { Netns = "pod" },
            new Command.Listen(Addr("10.244.0.1:8080")),
            new Command.Connect("A", null, Addr("10.244.0.2:80")),
            new Command.Connect("B", null, Addr("10.244.0.1:8080")) { Netns = "pod" },
            new Command.Send("B", "hi"),
        ]);
        var b = run.Observation.Conn("B");
        Assert.Equal("established", b.Connect);
        Assert.StartsWith("10.244.0.2:", b.Local, StringComparison.Ordinal);
        Assert.Equal(["hi"], b.Delivered.ToArray());
        Assert.Equal("established", run.Observation.Conn("A").Connect);
        var table = run.Observation.Conntrack;
        Assert.All(table, e => Assert.Equal("pod", e.Netns));
        Assert.Contains(table, e => e.Orig.StartsWith(b.Local + "->", StringComparison.Ordinal) && e.Orig.EndsWith("->10.244.0.1:8080", StringComparison.Ordinal));
        Assert.Contains(table, e => e.Orig.EndsWith("->10.244.0.2:80", StringComparison.Ordinal) && e.Orig.StartsWith("10.244.0.1:", StringComparison.Ordinal));
        Assert.Contains(run.Log, l => l.Contains($"ip netns exec {run.ScenarioNamespaces["pod"]} iptables -t nat -A POSTROUTING -o eth0 -j MASQUERADE: exit 0", StringComparison.Ordinal));
    }

    public static TheoryData<string> UnknownNamespaceCommands => ["exec", "ip -n", "veth peer", "link set netns", "before its ip netns add"];

    private static Command[] NamingAnUnknownNamespace(string which) => which switch
    {
        "exec" => [.. Pod(), new Command.Listen(Addr("10.244.0.2:80")) { Netns = "nope" }],
        "ip -n" => [.. Pod(), new Command.LinkSetState("lo", true) { Netns = "nope" }],
        "veth peer" => [new Command.NetnsAdd("pod"), new Command.LinkAddVeth("veth0", null, "eth0", "nope")],
        "link set netns" => [new Command.NetnsAdd("pod"), new Command.LinkAddVeth("veth0", null, "eth0", null), new Command.LinkSetNetns("eth0", "nope")],
        "before its ip netns add" => [new Command.Modprobe { Netns = "nope" }, new Command.NetnsAdd("nope")],
        _ => throw new ArgumentOutOfRangeException(nameof(which)),
    };

    [KernelTheory]
    [MemberData(nameof(UnknownNamespaceCommands))]
    public void ACommandNamingAnUnknownNamespace_FailsTheRun_AndEverythingIsCleanedUp(string which)
    {
        // Recording too, so that the pod's tcpdump must go as well.
        var pcap = Path.Combine(Path.GetTempPath(), $"ctm-{Guid.NewGuid():N}.pcap");
        try
        {
            var x = Assert.Throws<ReplayException>(() => Replay(NamingAnUnknownNamespace(which), pcap));
            output.WriteLine(x.Message);
            Assert.Contains("the namespace 'nope', which the scenario has not created", x.Message, StringComparison.Ordinal);
            Assert.DoesNotContain(NetworkNamespace.List(), n => n.StartsWith(RunPrefix, StringComparison.Ordinal));
            Assert.Empty(ProcessesNamingOurNamespaces());
        }
        finally
        {
            File.Delete(pcap);
            File.Delete(KernelReplay.PcapPathFor(pcap, "pod"));
        }
    }

    [KernelFact]
    public void ASecondNetnsAddOfOneName_FailsTheRun_AndEverythingIsCleanedUp()
    {
        var x = Assert.Throws<ReplayException>(() => Replay([new Command.NetnsAdd("pod"), new Command.NetnsAdd("pod")]));
        Assert.Contains("the namespace 'pod' exists already", x.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(NetworkNamespace.List(), n => n.StartsWith(RunPrefix, StringComparison.Ordinal));
    }

    [KernelFact]
    public void AKernelRefusal_InAScenarioNamespace_FailsTheRun_AndEverythingIsCleanedUp()
    {
        // IFNAMSIZ: a device name has at most 15 characters; the kernel says so, and the pod goes anyway.
        var x = Assert.Throws<ReplayException>(() => Replay([new Command.NetnsAdd("pod"), new Command.LinkAddVeth("eth0", null, "a-much-too-long-name", "pod") { Netns = "pod" }]));
        output.WriteLine(x.Message);
        Assert.Contains("the kernel refused 'ip -n ", x.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(NetworkNamespace.List(), n => n.StartsWith(RunPrefix, StringComparison.Ordinal));
    }

    [KernelFact(Pcap = true)]
    public void Pcap_RecordsEachScenarioNamespace_IntoItsOwnFile()
    {
        var pcap = Path.Combine(Path.GetTempPath(), $"ctm-{Guid.NewGuid():N}.pcap");
        var podPcap = KernelReplay.PcapPathFor(pcap, "pod");
        try
        {
            var run = Replay(PodServesA(), pcap);
            Assert.Contains(run.Log, l => l.Contains($"namespace pod: recording -i any into {podPcap}", StringComparison.Ordinal));
            Assert.Empty(ProcessesNamingOurNamespaces());
            Assert.True(File.Exists(pcap), "the initial namespace's lo is recorded as before");
            var read = Tool.Run(Tool.Find("tcpdump")!, ["-n", "-r", podPcap]);
            output.WriteLine(read.Stdout);
            // -i any: cooked headers. (They carry the device's index, which tcpdump -r names after the reading
            // machine's devices: not eth0.)
            Assert.Contains("link-type LINUX_SLL2", read.Stderr, StringComparison.Ordinal);
            Assert.Contains("10.244.0.2.80: Flags [S]", read.Stdout, StringComparison.Ordinal);
            Assert.Contains("length 6", read.Stdout, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(pcap);
            File.Delete(podPcap);
        }
    }

    [KernelFact]
    public void RemoveStale_RemovesTheScenarioNamespacesOfADeadRun()
    {
        // A run killed with SIGKILL leaves ctmodel-PID-N and ctmodel-PID-N-NAME; both name the dead PID.
        int dead;
        using (var p = Process.Start(new ProcessStartInfo(Tool.Find("true")!) { UseShellExecute = false })!)
        {
            p.WaitForExit();
            dead = p.Id;
        }
        Assert.False(Directory.Exists($"/proc/{dead}"));
        var ip = Tool.Find("ip")!;
        string[] names = [$"{NetworkNamespace.Prefix}{dead}-1", $"{NetworkNamespace.Prefix}{dead}-1-pod"];
        try
        {
            foreach (var n in names) Assert.True(Tool.Run(ip, ["netns", "add", n]).Ok);
            var removed = NetworkNamespace.RemoveStale();
            Assert.Subset(removed.ToHashSet(), names.ToHashSet());
            Assert.DoesNotContain(NetworkNamespace.List(), n => names.Contains(n));
        }
        finally
        {
            foreach (var n in names)
            {
                if (NetworkNamespace.List().Contains(n)) Tool.Run(ip, ["netns", "del", n]);
            }
        }
    }

    [Fact]
    public void PcapPathFor_PutsTheNamespacesFileBesideTheGivenOne()
    {
        Assert.Equal("/tmp/x/run-pod.pcap", KernelReplay.PcapPathFor("/tmp/x/run.pcap", "pod"));
        Assert.Equal("/tmp/x/run-pod.pcap", KernelReplay.PcapPathFor("/tmp/x/run", "pod"));
    }

    [Fact]
    public void ParseList_GivesEachEntryTheNamespaceItWasListedIn()
    {
        const string line = "tcp      6 431999 ESTABLISHED src=10.244.0.1 dst=10.244.0.2 sport=50000 dport=80 src=10.244.0.2 dst=10.244.0.1 sport=80 dport=50000 [ASSURED] mark=0 use=1";
        Assert.Equal(new CtObservation("tcp", "ESTABLISHED", "10.244.0.1:50000->10.244.0.2:80", "10.244.0.2:80->10.244.0.1:50000", true, "pod"), Assert.Single(ConntrackTool.ParseList(line, "pod")));
        Assert.Null(Assert.Single(ConntrackTool.ParseList(line)).Netns);
    }
}
