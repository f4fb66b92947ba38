using System.Diagnostics;
using System.Text;
using System.Text.Json;
using ConntrackModel.Cli;
using ConntrackModel.Cli.Output;
using ConntrackModel.Model.Choices;
using ConntrackModel.Model.Reporting;
using ConntrackModel.Model.Scenarios;
using ConntrackModel.Replay.Host;
using ConntrackModel.Tests.Replay;
using Xunit.Abstractions;

namespace ConntrackModel.Tests;

/// <summary>
/// <c>ctmodel export --sh</c>: every example's script is valid bash and shellcheck-clean, passes on the kernel (exit
/// 0; as root, else skipped with the reason), fails (exit 1, naming the field) when its expectation is edited to a
/// wrong one, and skips (exit 4) without root or a tool; the ports the kernel chooses are variables; and the script's
/// comparison (python, in the script) agrees with <see cref="Conformance.Compare"/> on the same observations.
/// </summary>
public class ReproducerTests(ITestOutputHelper output)
{
    private static string[] ExampleNames =>
        [.. Directory.GetFiles(Path.Combine(AppContext.BaseDirectory, "examples"), "*.scenario").Select(f => Path.GetFileName(f)).Order(StringComparer.Ordinal)];

    public static TheoryData<string> Examples => [.. ExampleNames];

    private static string Export(string example, string? name = null)
    {
        var scenario = ScenarioParser.Parse(example, Run.Example(example)).Scenario!;
        var path = Path.Combine(Path.GetTempPath(), $"ctx-test-{Environment.ProcessId}-{name ?? Path.GetFileNameWithoutExtension(example)}.sh");
        File.WriteAllText(path, Reproducer.Write(scenario, example, ChoiceSource.Seeded(1)));
        return path;
    }

    /// <summary>Runs <paramref name="exe"/> with <paramref name="args"/> (no stdin; PATH replaced when given): exit code and all output.</summary>
    private (int Code, string Output) Exec(string exe, IEnumerable<string> args, string? path = null)
    {
        var psi = new ProcessStartInfo(exe) { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        if (path is not null) psi.Environment["PATH"] = path;
        using var p = Process.Start(psi)!;
        p.StandardInput.Close();
        var stderr = p.StandardError.ReadToEndAsync();
        var stdout = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        var text = stdout + stderr.Result;
        output.WriteLine($"{exe} {string.Join(' ', args)}: exit {p.ExitCode}\n{text}");
        return (p.ExitCode, text);
    }

    private (int Code, string Output) Bash(string script, string? path = null) => Exec("bash", [script], path);

    [Fact]
    public void Export_EveryExample_IsValidBash()
    {
        var n = 0;
        foreach (var example in ExampleNames)
        {
            var script = Export(example);
            try
            {
                var (code, text) = Exec("bash", ["-n", script]);
                Assert.True(code == 0, $"{example}: bash -n: {text}");
                n++;
            }
            finally
            {
                File.Delete(script);
            }
        }
        Assert.True(n >= 26, $"only {n} examples");
    }

    [ShellcheckFact]
    public void Export_EveryExample_IsShellcheckClean()
    {
        foreach (var example in ExampleNames)
        {
            var script = Export(example);
            try
            {
                var (code, text) = Exec(ShellcheckFactAttribute.Shellcheck!, ["--norc", "-s", "bash", script]);
                Assert.True(code == 0, $"{example}: shellcheck: {text}");
            }
            finally
            {
                File.Delete(script);
            }
        }
    }

    [KernelScriptTheory]
    [MemberData(nameof(Examples))]
    public void Script_OnTheKernel_AgreesWithTheModel(string example)
    {
        var script = Export(example);
        try
        {
            var (code, text) = Bash(script);
            Assert.True(code == Reproducer.Pass, $"{example}: exit {code}\n{text}");
            Assert.Contains("PASS: the kernel did what the model predicts", text, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(script);
        }
    }

    [KernelScriptTheory]
    [InlineData("reference.scenario")]
    public void Script_WrongExpectation_FailsNamingTheField(string example)
    {
        var script = Export(example, "wrong");
        try
        {
            var text = File.ReadAllText(script);
            // A's server end is reset in the model and on the kernel: the edited prediction says it is not.
            const string right = "\"server\": \"CLOSE (ECONNRESET)\"";
            Assert.Contains(right, text, StringComparison.Ordinal);
            File.WriteAllText(script, text.Replace(right, "\"server\": \"ESTABLISHED\"", StringComparison.Ordinal));
            var (code, outText) = Bash(script);
            Assert.Equal(Reproducer.Fail, code);
            Assert.Contains("A.server: model ESTABLISHED, kernel CLOSE (ECONNRESET)", outText, StringComparison.Ordinal);
            Assert.Contains("# log of the run:", outText, StringComparison.Ordinal);

            // An entry whose reply goes to another port than the one NAT gave.
            File.WriteAllText(script, text.Replace("127.0.0.1:8080->127.0.0.1:40000 [ASSURED]", "127.0.0.1:8080->127.0.0.1:40001 [ASSURED]", StringComparison.Ordinal));
            (code, outText) = Bash(script);
            Assert.Equal(Reproducer.Fail, code);
            Assert.Contains("conntrack: model tcp ESTABLISHED 127.0.0.1:50000->127.0.0.1:8080 | 127.0.0.1:8080->127.0.0.1:40001 [ASSURED], kernel (no such entry)", outText, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(script);
        }
        // The EXIT trap removed the namespaces of both runs.
        Assert.DoesNotContain(Directory.GetFiles("/var/run/netns"), f => Path.GetFileName(f).StartsWith("ctx-", StringComparison.Ordinal) &&
            int.TryParse(Path.GetFileName(f).Split('-')[1], out var pid) && !Alive(pid));
    }

    private static bool Alive(int pid) => Directory.Exists("/proc/" + pid);

    [Fact]
    public void Script_WithoutATool_Skips()
    {
        if (!OperatingSystem.IsLinux()) return;
        var script = Export("reference.scenario", "notool");
        var bin = Directory.CreateTempSubdirectory("ctx-path-");
        try
        {
            // Every tool but conntrack.
            foreach (var t in new[] { "ip", "iptables", "sysctl", "python3", "id" })
            {
                if (Tool.Find(t) is { } found) File.CreateSymbolicLink(Path.Combine(bin.FullName, t), found);
            }
            var (code, text) = Bash(script, bin.FullName);
            Assert.Equal(Reproducer.Skip, code);
            Assert.Contains("SKIP: 'conntrack' is missing", text, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(script);
            bin.Delete(recursive: true);
        }
    }

    [Fact]
    public void Script_WithoutRoot_Skips()
    {
        if (!OperatingSystem.IsLinux()) return;
        var script = Export("reference.scenario", "noroot");
        try
        {
            File.SetUnixFileMode(script, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
            // As root, run it as nobody (setpriv, util-linux); otherwise this process is not root already.
            var (code, text) = Environment.IsPrivilegedProcess
                ? Exec(Tool.Find("setpriv") ?? "/usr/bin/setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", "bash", script])
                : Bash(script);
            if (text.Contains("SKIP: '", StringComparison.Ordinal))
            {
                // A tool the script needs is not on this machine: that skip comes first (Script_WithoutATool_Skips tests it).
                Assert.Equal(Reproducer.Skip, code);
                return;
            }
            Assert.Equal(Reproducer.Skip, code);
            Assert.Contains("SKIP: needs root", text, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(script);
        }
    }

    [Fact]
    public void Expect_PortsTheKernelChooses_AreVariables_WrittenOnesLiteral()
    {
        static Reproducer.Expectation Expect(string example)
        {
            var scenario = ScenarioParser.Parse(example, Run.Example(example)).Scenario!;
            var sim = Model.Kernel.Simulation.Run(scenario, ChoiceSource.Seeded(1));
            var own = Observation.Of(sim, new Dictionary<string, System.Collections.Immutable.ImmutableArray<string>>());
            return Reproducer.Expect(scenario, own, own, null);
        }

        // Every address of the late-start story is written in the scenario: nothing is left to the kernel.
        var reference = Expect("reference.scenario");
        Assert.Empty(reference.Variables);
        Assert.Equal("127.0.0.1:40000", reference.Connections[0].Local);

        // A pod's ephemeral port: one variable, in the local address and in both namespaces' entries, with the NAT
        // keeping it (MASQUERADE keeps a free port) as the same variable.
        var dnat = Expect("node-pod-dnat.scenario");
        Assert.Equal("P.local", Assert.Single(dnat.Variables).Name);
        Assert.Equal("10.244.0.2:{P.local}", dnat.Connections[0].Local);
        Assert.Equal(["192.168.1.10:{P.local}"], dnat.Connections[0].Wire.ToArray());
        Assert.All(dnat.Conntrack, e => Assert.Equal(2, e.Split("{P.local}").Length - 1));
    }

    /// <summary>
    /// A counterexample that pins a port the kernel draws (Z3's late-start trace pins B's NAT offset onto A's port):
    /// the collision is the first outcome; the kernel's own draw, which usually misses, is the second, with a note.
    /// </summary>
    [Fact]
    public void Outcomes_APinnedDraw_AddsTheKernelsOwnDrawWithANote()
    {
        const string text = """
            choose nat:src:B#1:off0 63
            listen 127.0.0.1:8080
            connect A 127.0.0.1:36672 127.0.0.1:8080
            iptables -t nat -A POSTROUTING -p tcp -d 127.0.0.1 --dport 8080 -j SNAT --to-source 127.0.0.1:36609-36737
            connect B 127.0.0.1:8080
            """;
        var scenario = ScenarioParser.Parse("z3.scenario", text).Scenario!;
        var outcomes = Reproducer.Outcomes(scenario, "z3.scenario", ChoiceSource.First, 64);
        Assert.Equal(2, outcomes.Length);
        Assert.Null(outcomes[0].Note);
        Assert.Equal("CLOSE (ECONNRESET)", outcomes[0].Connections[0].Server);
        Assert.Contains("choose nat:src:B#1:off0 63", outcomes[1].Note, StringComparison.Ordinal);
        Assert.Equal("ESTABLISHED", outcomes[1].Connections[0].Server);
        // Timers due together: each order's outcome, none with a note (nothing is pinned).
        var due = ScenarioParser.Parse("due-together.scenario", Run.Example("due-together.scenario")).Scenario!;
        var dueOutcomes = Reproducer.Outcomes(due, "due-together.scenario", ChoiceSource.Seeded(1), 64);
        Assert.True(dueOutcomes.Length >= 2, $"{dueOutcomes.Length} outcomes");
        Assert.All(dueOutcomes, o => Assert.Null(o.Note));
    }

    /// <summary>Runs the script's python comparison on a prediction and a kernel observation; the difference fields.</summary>
    private static string[] PythonCompare(string expectedJson, string kernelJson)
    {
        var dir = Directory.CreateTempSubdirectory("ctx-py-");
        try
        {
            File.WriteAllText(Path.Combine(dir.FullName, "helper.py"), Reproducer.Helper());
            File.WriteAllText(Path.Combine(dir.FullName, "model.json"), expectedJson);
            File.WriteAllText(Path.Combine(dir.FullName, "kernel.json"), kernelJson);
            var psi = new ProcessStartInfo("python3") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = dir.FullName };
            psi.ArgumentList.Add("-c");
            psi.ArgumentList.Add("import json, helper; m = json.load(open('model.json')); k = json.load(open('kernel.json')); " +
                                 "print('\\n'.join(d[0] for d in helper.compare(m, k, k.get('stopped'))))");
            using var p = Process.Start(psi)!;
            var err = p.StandardError.ReadToEndAsync();
            var text = p.StandardOutput.ReadToEnd();
            p.WaitForExit();
            Assert.True(p.ExitCode == 0, err.Result);
            return text.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    /// <summary>An observation as the script's helper reports the kernel's.</summary>
    private static string KernelJson(Observation o)
    {
        return JsonSerializer.Serialize(new
        {
            connections = o.Connections.Select(c => new
            {
                name = c.Name, connect = c.Connect, local = c.Local, wire = c.Wire.Take(1).ToArray(), client = EndObservation.Text(c.Client), server = EndObservation.Text(c.Server),
                delivered = c.Delivered.ToArray(), received = c.Received.ToArray(),
            }),
            conntrack = o.Conntrack.Select(e => e.Text),
            insert_failed = o.InsertFailed,
            drop = o.Drop,
        });
    }

    private static Observation Obs(string local, string wire, string server = "ESTABLISHED", long drop = 0, string[]? delivered = null, params CtObservation[] ct) =>
        new([new ConnectionObservation("A", "established", local, [wire], new EndObservation("ESTABLISHED", null), new EndObservation(server, server == "CLOSE" ? "ECONNRESET" : null), [.. delivered ?? ["x"]], [])],
            [.. ct], 0, drop, []);

    private static CtObservation Entry(string orig, string reply, string? netns = null) => new("tcp", "ESTABLISHED", orig, reply, true, netns);

    private static readonly Scenario Written = ScenarioParser.Parse("t", "listen 127.0.0.1:8080\nconnect A 127.0.0.1:40000 127.0.0.1:8080\n").Scenario!;

    /// <summary>The script's comparison and <see cref="Conformance.Compare"/> name the same fields for the same pair.</summary>
    [Fact]
    public void PythonCompare_AgreesWithConformanceCompare()
    {
        var e1 = Entry("127.0.0.1:40000->127.0.0.1:8080", "127.0.0.1:8080->127.0.0.1:40000");
        var e2 = Entry("127.0.0.1:50000->127.0.0.1:8080", "127.0.0.1:8080->127.0.0.1:40001");
        var e3 = Entry("10.0.0.2:40000->10.0.0.1:80", "10.0.0.1:80->10.0.0.2:40000", "pod1");
        var cases = new (Observation Model, Observation Kernel)[]
        {
            (Obs("127.0.0.1:40000", "127.0.0.1:40000"), Obs("127.0.0.1:40000", "127.0.0.1:40000")),
            (Obs("127.0.0.1:40000", "127.0.0.1:1024-65535"), Obs("127.0.0.1:40000", "127.0.0.1:40000")),
            (Obs("127.0.0.1:40000", "127.0.0.1:1024-65535"), Obs("127.0.0.1:40000", "127.0.0.2:40000")),
            (Obs("127.0.0.1:40000", "127.0.0.1:40000", "CLOSE"), Obs("127.0.0.1:40000", "127.0.0.1:40000")),
            (Obs("127.0.0.1:40000", "127.0.0.1:40000", drop: 3), Obs("127.0.0.1:40000", "127.0.0.1:40000")),
            (Obs("127.0.0.1:40000", "127.0.0.1:40000", delivered: []), Obs("127.0.0.1:40000", "127.0.0.1:40000")),
            (Obs("127.0.0.1:40000", "127.0.0.1:40000", ct: [e1, e2]), Obs("127.0.0.1:40000", "127.0.0.1:40000", ct: [e2, e1])),
            (Obs("127.0.0.1:40000", "127.0.0.1:40000", ct: [e1, e2]), Obs("127.0.0.1:40000", "127.0.0.1:40000", ct: [e1])),
            (Obs("127.0.0.1:40000", "127.0.0.1:40000", ct: [e3]), Obs("127.0.0.1:40000", "127.0.0.1:40000", ct: [e3 with { Netns = null }])),
            (Obs("127.0.0.1:40000", "127.0.0.1:40000", ct: [e1]), Obs("127.0.0.1:40001", "127.0.0.1:40000", ct: [e1, e2])),
        };
        foreach (var (model, kernel) in cases)
        {
            // Every address of the cases is written in the scenario, so the prediction has no variables.
            var expected = Reproducer.Json(Reproducer.Expect(Written, model, model, null));
            var csharp = Conformance.Compare(model, kernel).Select(d => d.Field).ToArray();
            var python = PythonCompare(expected, KernelJson(kernel));
            Assert.Equal(csharp, python);
        }
    }

    /// <summary>A port the kernel chooses is free, but it must read the same wherever it appears.</summary>
    [Fact]
    public void PythonCompare_AVariableReadsTheSameEverywhere()
    {
        var scenario = ScenarioParser.Parse("t", "listen 127.0.0.1:8080\nconnect A 127.0.0.1:8080\n").Scenario!;
        var model = Obs("127.0.0.1:41000", "127.0.0.1:41000", ct: Entry("127.0.0.1:41000->127.0.0.1:8080", "127.0.0.1:8080->127.0.0.1:41000"));
        var expected = Reproducer.Expect(scenario, model, model, null);
        Assert.Equal("A.local", Assert.Single(expected.Variables).Name);
        var json = Reproducer.Json(expected);
        // The kernel drew another port, consistently: agreement.
        Assert.Empty(PythonCompare(json, KernelJson(Obs("127.0.0.1:52000", "127.0.0.1:52000", ct: Entry("127.0.0.1:52000->127.0.0.1:8080", "127.0.0.1:8080->127.0.0.1:52000")))));
        // The server saw another port than the socket has, or the entry names a third: differences.
        Assert.Equal(["A.wire"], PythonCompare(json, KernelJson(Obs("127.0.0.1:52000", "127.0.0.1:52001", ct: Entry("127.0.0.1:52000->127.0.0.1:8080", "127.0.0.1:8080->127.0.0.1:52000")))));
        Assert.Equal(["conntrack", "conntrack"], PythonCompare(json, KernelJson(Obs("127.0.0.1:52000", "127.0.0.1:52000", ct: Entry("127.0.0.1:52000->127.0.0.1:8080", "127.0.0.1:8080->127.0.0.1:52002")))));
    }

    [Fact]
    public void ExportCommand_WithoutAFormat_OrAnUnwritableOut_IsBadInput()
    {
        var file = Path.Combine(AppContext.BaseDirectory, "examples", "reference.scenario");
        var err = new StringWriter();
        Assert.Equal(ExitCode.BadInput, Program.Run(["export", file], new StringWriter(), err));
        Assert.Contains("export: say which format: --sh", err.ToString(), StringComparison.Ordinal);
        err = new StringWriter();
        Assert.Equal(ExitCode.BadInput, Program.Run(["export", file, "--sh", "--out", "/nonexistent-dir/x.sh"], new StringWriter(), err));
        Assert.Contains("export: --out /nonexistent-dir/x.sh: cannot write", err.ToString(), StringComparison.Ordinal);
        var stdout = new StringWriter();
        Assert.Equal(ExitCode.Ok, Program.Run(["export", file, "--sh"], stdout, new StringWriter()));
        Assert.StartsWith("#!/usr/bin/env bash\n", stdout.ToString(), StringComparison.Ordinal);
        Assert.EndsWith("main \"$@\"\n", stdout.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void ExportCommand_OutFile_IsExecutable()
    {
        if (!OperatingSystem.IsLinux()) return;
        var file = Path.Combine(AppContext.BaseDirectory, "examples", "reference.scenario");
        var path = Path.Combine(Path.GetTempPath(), $"ctx-out-{Environment.ProcessId}.sh");
        try
        {
            var err = new StringWriter();
            Assert.Equal(ExitCode.Ok, Program.Run(["export", file, "--sh", "--out", path], new StringWriter(), err));
            Assert.True((File.GetUnixFileMode(path) & UnixFileMode.UserExecute) != 0);
            Assert.Contains($"wrote {path}", err.ToString(), StringComparison.Ordinal);
            Assert.Equal(Encoding.UTF8.GetString(File.ReadAllBytes(path)), File.ReadAllText(path));
        }
        finally
        {
            File.Delete(path);
        }
    }
}

/// <summary>A theory that runs exported scripts on the kernel: root and the replay's tools, and python3 for the script's helper.</summary>
public sealed class KernelScriptTheoryAttribute : TheoryAttribute
{
    public override string? Skip
    {
        get => base.Skip ?? KernelFactAttribute.Missing(pcap: false) ?? (Tool.Find("python3") is null ? "needs python3 for the script's socket helper" : null);
        set => base.Skip = value;
    }
}

/// <summary>A fact that needs shellcheck; skipped, with the reason, where it is not installed (CI installs it).</summary>
public sealed class ShellcheckFactAttribute : FactAttribute
{
    public static string? Shellcheck => Tool.Find("shellcheck");

    public override string? Skip
    {
        get => base.Skip ?? (Shellcheck is null ? "needs shellcheck (apt-get install shellcheck)" : null);
        set => base.Skip = value;
    }
}
