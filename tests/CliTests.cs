using System.Text.Json;
using ConntrackModel.Cli;

namespace ConntrackModel.Tests;

/// <summary>The ctmodel tool driven in-process: output, exit codes, errors without stack traces.</summary>
public class CliTests
{
    private static (ExitCode Code, string Out, string Err) Ctmodel(params string[] args) => Run.Ctmodel(args);

    private static string ExamplePath(string name) => Path.Combine(AppContext.BaseDirectory, "examples", name);

    private static void WithScenario(string text, Action<string> test)
    {
        var path = Path.Combine(Path.GetTempPath(), $"ctm-{Guid.NewGuid():N}.scenario");
        File.WriteAllText(path, text);
        try
        {
            test(path);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Simulate_Reference_PrintsTraceTableOutcomeAndViolations_Exit1()
    {
        var (code, stdout, _) = Ctmodel("simulate", ExamplePath("reference.scenario"));
        Assert.Equal(ExitCode.Violation, code);
        Assert.Contains("IP 127.0.0.1.40000 > 127.0.0.1.8080: Flags [S], seq", stdout, StringComparison.Ordinal);
        Assert.Contains("IP 127.0.0.1.40000 > 127.0.0.1.8080: Flags [R], seq", stdout, StringComparison.Ordinal);
        Assert.Contains("ESTABLISHED src=127.0.0.1 dst=127.0.0.1 sport=50000 dport=8080 src=127.0.0.1 dst=127.0.0.1 sport=8080 dport=40000 [ASSURED]", stdout, StringComparison.Ordinal);
        Assert.Contains("server CLOSE (ECONNRESET)", stdout, StringComparison.Ordinal);
        Assert.Contains("reference.scenario:5: step 4 (connect B 127.0.0.1:50000 127.0.0.1:8080): no-foreign-reset", stdout, StringComparison.Ordinal);
    }

    [Fact]
    public void Simulate_Json_HasExactlyTheDocumentedShape()
    {
        var (code, stdout, _) = Ctmodel("simulate", ExamplePath("reference.scenario"), "--json");
        Assert.Equal(ExitCode.Violation, code);
        using var doc = JsonDocument.Parse(stdout);
        var root = doc.RootElement;
        Assert.Equal(["connections", "conntrack", "counters", "violations"], root.EnumerateObject().Select(p => p.Name));
        var a = root.GetProperty("connections")[0];
        Assert.Equal(["name", "connect", "local", "wire", "client", "server", "delivered", "received"], a.EnumerateObject().Select(p => p.Name));
        Assert.Equal(["state", "error"], a.GetProperty("client").EnumerateObject().Select(p => p.Name));
        Assert.Equal(JsonValueKind.Null, a.GetProperty("client").GetProperty("error").ValueKind);
        Assert.Equal("ECONNRESET", a.GetProperty("server").GetProperty("error").GetString());
        var ct = root.GetProperty("conntrack")[0];
        Assert.Equal(["proto", "state", "orig", "reply", "assured", "netns"], ct.EnumerateObject().Select(p => p.Name));
        Assert.Equal("127.0.0.1:8080->127.0.0.1:40000", ct.GetProperty("reply").GetString());
        Assert.Equal(["insert_failed", "drop"], root.GetProperty("counters").EnumerateObject().Select(p => p.Name));
        var v = root.GetProperty("violations")[0];
        Assert.Equal(["invariant", "step", "message"], v.EnumerateObject().Select(p => p.Name));
        Assert.Equal(4, v.GetProperty("step").GetInt32());
    }

    [Fact]
    public void Simulate_SafeScenario_Exit0()
    {
        var (code, stdout, _) = Ctmodel("simulate", ExamplePath("port-range.scenario"));
        Assert.Equal(ExitCode.Ok, code);
        Assert.Contains("no invariant violated", stdout, StringComparison.Ordinal);
    }

    [Fact]
    public void Simulate_ParseErrors_GoToStderrAsFileLineColumn_Exit2_NoStackTrace()
    {
        WithScenario("listen 127.0.0.1:8080\niptables -t nat -A POSTROUTING -m recent -j MASQUERADE\n", path =>
        {
            var (code, stdout, stderr) = Ctmodel("simulate", path);
            Assert.Equal(ExitCode.BadInput, code);
            Assert.Empty(stdout);
            Assert.StartsWith($"{path}:2:35: unsupported iptables match '-m recent'", stderr, StringComparison.Ordinal);
            Assert.DoesNotContain(" at ", stderr, StringComparison.Ordinal);
        });
    }

    [Fact]
    public void Simulate_RejectedCommand_NamesFileAndLine_Exit2()
    {
        WithScenario("listen 127.0.0.1:8080\n\nlisten 127.0.0.1:8080\n", path =>
        {
            var (code, _, stderr) = Ctmodel("simulate", path);
            Assert.Equal(ExitCode.BadInput, code);
            Assert.StartsWith($"{path}:3:1: error: listen 127.0.0.1:8080: Address already in use", stderr, StringComparison.Ordinal);
        });
    }

    [Theory]
    [InlineData(new[] { "simulate", "/nonexistent/x.scenario" }, "cannot read scenario")]
    [InlineData(new[] { "simulate" }, "expected exactly one scenario FILE")]
    [InlineData(new[] { "simulate", "a", "--seed", "x" }, "--seed expects a whole number")]
    [InlineData(new[] { "simulate", "a", "--bogus" }, "unknown option '--bogus'")]
    [InlineData(new[] { "frobnicate" }, "unknown command 'frobnicate'")]
    [InlineData(new[] { "bench", "--sizes", "0" }, "--sizes expects")]
    public void BadInvocation_SaysWhatIsWrong_Exit2(string[] args, string message)
    {
        var (code, _, stderr) = Ctmodel(args);
        Assert.Equal(ExitCode.BadInput, code);
        Assert.Contains(message, stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void Help_ListsTheCommands()
    {
        var (code, stdout, _) = Ctmodel("help");
        Assert.Equal(ExitCode.Ok, code);
        Assert.Contains("ctmodel simulate FILE", stdout, StringComparison.Ordinal);
    }

    [Fact]
    public void Bench_Loop_PrintsMediansAllocationAndGrowth()
    {
        var (code, stdout, _) = Ctmodel("bench", "--sizes", "20,40", "--repeat", "3", "--part", "loop");
        Assert.Equal(ExitCode.Ok, code);
        Assert.Contains("alloc B/cmd", stdout, StringComparison.Ordinal);
        Assert.Contains("GC pause ms", stdout, StringComparison.Ordinal);
        // Each size's row: connections, commands, the wall time's median [min-max], and five figures after it.
        var row = stdout.Split('\n').Single(l => l.TrimStart().StartsWith("40 ", StringComparison.Ordinal));
        Assert.Equal(5, row[(row.IndexOf(']', StringComparison.Ordinal) + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries).Length);
        Assert.Contains("growth 20 -> 40 connections", stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("simulate --json,", stdout, StringComparison.Ordinal);
    }

    /// <summary>The command timings start real child processes and read each child's own peak memory.</summary>
    [Fact]
    public void Bench_Commands_TimesEachCommandAsAChildProcess()
    {
        var (code, stdout, stderr) = Ctmodel("bench", "--sizes", "30", "--repeat", "1", "--part", "commands");
        Assert.True(code == ExitCode.Ok, stderr);
        var rows = stdout.Split('\n');
        foreach (var label in new[] { "simulate --json, 30 connections", "check --config late-start --seed 1", "check --config boot --tests 2000 --seed 1" })
        {
            var row = Assert.Single(rows, r => r.StartsWith(label, StringComparison.Ordinal));
            // median [min-max], then the child's peak RSS in MB (a number, not n/a, on Linux).
            Assert.Matches(@"\d+\.\d \[\d+\.\d-\d+\.\d\]\s+\d+\s", row);
        }
        Assert.DoesNotContain("step loop", stdout, StringComparison.Ordinal);
    }

    [Fact]
    public void Bench_BadPart_Exit2()
    {
        var (code, _, stderr) = Ctmodel("bench", "--part", "everything");
        Assert.Equal(ExitCode.BadInput, code);
        Assert.Contains("--part expects loop, commands, kernel or all", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void Bench_KernelPart_RunsTheSnatWorkloadOnly()
    {
        var (code, _, stderr) = Ctmodel("bench", "--part", "kernel", "--workload", "node");
        Assert.Equal(ExitCode.BadInput, code);
        Assert.Contains("--part kernel runs the snat workload only", stderr, StringComparison.Ordinal);
    }

    /// <summary>The kernel part prints a row per size with the kernel's rate, and the step loop's ratio when the loop ran too.</summary>
    [Replay.KernelFact]
    public void Bench_KernelPart_TimesTheScenarioOnTheKernel()
    {
        var (code, stdout, stderr) = Ctmodel("bench", "--part", "kernel", "--sizes", "200", "--repeat", "2");
        Assert.True(code == ExitCode.Ok, stderr);
        var row = Assert.Single(stdout.Split('\n'), r => r.TrimStart().StartsWith("200 ", StringComparison.Ordinal));
        // connections, commands (a connect and a send each), the wall time's median [min-max], commands/s, and no ratio.
        Assert.Matches(@"^\s+200\s+400\s+\d+\.\d \[\d+\.\d-\d+\.\d\]\s+[1-9]\d*\s+-$", row);
    }

    private static void InTempDir(Action<string> test)
    {
        var dir = Path.Combine(Path.GetTempPath(), $"ctm-check-{Guid.NewGuid():N}");
        try
        {
            test(dir);
        }
        finally
        {
            if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void Check_LateStart_WritesReportsAndARunnableMinimalScenario_Exit1()
    {
        InTempDir(dir =>
        {
            var (code, stdout, stderr) = Ctmodel("check", "--engine", "fscheck", "--config", "late-start", "--seed", "7", "--out", dir);
            Assert.Equal(ExitCode.Violation, code);
            Assert.Contains("check late-start: seed 7,", stdout, StringComparison.Ordinal);
            Assert.Contains("shrunk in ", stdout, StringComparison.Ordinal);
            Assert.Contains("to 4 commands (minimal: removing any one of the 4 commands: 4 make it pass, 0 leave a script the model or the configuration rejects, 0 still fail)", stdout, StringComparison.Ordinal);
            Assert.Contains("replay: ctmodel check --engine fscheck --config late-start --replay ", stdout, StringComparison.Ordinal);
            Assert.Contains("tests", stderr, StringComparison.Ordinal);
            Assert.Contains("shrink step 1", stderr, StringComparison.Ordinal);

            var md = File.ReadAllText(Path.Combine(dir, "report.md"));
            Assert.Contains("## The invariant: `wire-tuple-uniqueness`", md, StringComparison.Ordinal);
            Assert.Contains("```mermaid\nsequenceDiagram\n", md, StringComparison.Ordinal);
            Assert.Contains("participant CT as lo: NAT + conntrack", md, StringComparison.Ordinal);
            Assert.Contains("## Conntrack table around step 4", md, StringComparison.Ordinal);
            Assert.Contains("| command | tests | % |", md, StringComparison.Ordinal);

            using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "report.json")));
            var root = json.RootElement;
            Assert.Equal("violation", root.GetProperty("verdict").GetString());
            Assert.Equal("7", root.GetProperty("seed").GetString());
            Assert.Equal("wire-tuple-uniqueness", root.GetProperty("invariant").GetProperty("id").GetString());
            Assert.Equal(4, root.GetProperty("minimalLength").GetInt32());
            Assert.True(root.GetProperty("originalLength").GetInt32() >= 4);
            Assert.True(root.GetProperty("minimal").GetBoolean());
            Assert.Equal(4, root.GetProperty("removalsPassing").GetInt32());
            Assert.Equal(0, root.GetProperty("removalsRejected").GetInt32());
            Assert.Equal(0, root.GetProperty("removalsStillFailing").GetInt32());
            Assert.True(root.GetProperty("coverage").GetArrayLength() > 10);

            var (simCode, simOut, _) = Ctmodel("simulate", Path.Combine(dir, "minimal.scenario"));
            Assert.Equal(ExitCode.Violation, simCode);
            Assert.Contains("step 4 (connect B 127.0.0.1:8080): wire-tuple-uniqueness", simOut, StringComparison.Ordinal);
        });
    }

    [Fact]
    public void Check_Boot_FindsNothing_Exit0_AndLeavesNoMinimalScenario()
    {
        InTempDir(dir =>
        {
            Directory.CreateDirectory(dir);
            File.WriteAllText(Path.Combine(dir, "minimal.scenario"), "listen 127.0.0.1:8080\n");
            var (code, stdout, _) = Ctmodel("check", "--config", "boot", "--tests", "100", "--seed", "1", "--out", dir, "--quiet");
            Assert.Equal(ExitCode.Ok, code);
            Assert.Contains("no violation found in 100 tests", stdout, StringComparison.Ordinal);
            Assert.False(File.Exists(Path.Combine(dir, "minimal.scenario")));
            Assert.Contains("no violation found", File.ReadAllText(Path.Combine(dir, "report.md")), StringComparison.Ordinal);
        });
    }

    [Fact]
    public void Check_NodeLate_ReportDrawsTheTopologyAndNamesEachHop()
    {
        InTempDir(dir =>
        {
            var (code, _, _) = Ctmodel("check", "--config", "node-late", "--seed", "1", "--quiet", "--out", dir);
            Assert.Equal(ExitCode.Violation, code);
            var md = File.ReadAllText(Path.Combine(dir, "report.md"));
            Assert.Contains("## Topology\n\n```mermaid\nflowchart LR\n", md, StringComparison.Ordinal);
            Assert.Contains("subgraph ns2[\"pod1\"]", md, StringComparison.Ordinal);
            Assert.Contains("ns0_eth1 --- ns1_eth0", md, StringComparison.Ordinal);
            Assert.Contains("participant CT as network: NAT + conntrack", md, StringComparison.Ordinal);
            Assert.Contains("pod1 eth0: 10.244.0.2:", md, StringComparison.Ordinal);
            Assert.Contains("ip netns exec pod1 connect B", File.ReadAllText(Path.Combine(dir, "minimal.scenario")), StringComparison.Ordinal);
        });
    }

    [Fact]
    public void Check_List_NamesEveryConfiguration()
    {
        var (code, stdout, _) = Ctmodel("check", "--list");
        Assert.Equal(ExitCode.Ok, code);
        foreach (var name in new[] { "late-start", "flush", "expiry", "loose-off", "dnat", "boot", "all", "node-late", "node-flush", "node-midstream", "node-boot", "node-random-fully" })
            Assert.Contains($"\n  {name}", stdout, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("ctmodel: check: unknown configuration 'nope': expected one of late-start, flush", "check", "--config", "nope")]
    [InlineData("ctmodel: check: unknown engine 'spin': expected fscheck or z3", "check", "--engine", "spin")]
    [InlineData("ctmodel: check: configuration 'node-midstream' has no symbolic fragment", "check", "--engine", "z3", "--config", "node-midstream")]
    [InlineData("ctmodel: bench: --workload expects snat, node, udp or kube, got 'k8s'", "bench", "--workload", "k8s")]
    [InlineData("ctmodel: bench: --services belongs to --workload kube", "bench", "--services", "10")]
    [InlineData("ctmodel: prove: --config C or --setup FILE is required", "prove")]
    [InlineData("ctmodel: check: option --out expects a path", "check", "--engine", "z3", "--out", "")]
    [InlineData("ctmodel: docs: option --out expects a path", "docs", "--out", " ")]
    [InlineData("ctmodel: check: --list takes no other options", "check", "--list", "--config", "nope")]
    [InlineData("ctmodel: bench: give one of --check, --z3 and --advise", "bench", "--check", "--z3")]
    [InlineData("ctmodel: bench: --advise: no such file", "bench", "--advise", "/nonexistent/x.scenario")]
    [InlineData("ctmodel: bench: option --sizes does not apply to bench --advise", "bench", "--advise", "x", "--sizes", "10")]
    [InlineData("ctmodel: bench: option --repeat does not apply to bench --check", "bench", "--check", "--repeat", "2")]
    [InlineData("ctmodel: conform: option --seed applies to --random N only", "conform", "x.scenario", "--seed", "4")]
    [InlineData("ctmodel: conform: --record '/tmp' is a directory", "conform", "x.scenario", "--record", "/tmp")]
    [InlineData("ctmodel: check: --seed belongs to --engine fscheck", "check", "--engine", "z3", "--seed", "3")]
    [InlineData("ctmodel: check: --depth and --smt belong to --engine z3", "check", "--depth", "3")]
    [InlineData("ctmodel: prove: unknown configuration 'nope'", "prove", "--config", "nope")]
    [InlineData("ctmodel: check: option --tests expects a whole number from 1 to 1000000, got '0'", "check", "--tests", "0")]
    [InlineData("ctmodel: check: --replay expects SEED,GAMMA,SIZE", "check", "--replay", "12")]
    [InlineData("ctmodel: check: give either --seed or --replay, not both", "check", "--seed", "1", "--replay", "1,3,5")]
    public void Check_BadInput_Exit2WithAMessage(string message, params string[] args)
    {
        var (code, _, stderr) = Ctmodel(args);
        Assert.Equal(ExitCode.BadInput, code);
        Assert.StartsWith(message, stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", stderr, StringComparison.Ordinal);
    }

    [Solver.Z3Fact]
    public void CheckZ3_LateStart_WritesAReplayingMinimalScenario_Exit1()
    {
        InTempDir(dir =>
        {
            var (code, stdout, _) = Ctmodel("check", "--engine", "z3", "--config", "late-start", "--depth", "4", "--out", dir, "--smt");
            Assert.Equal(ExitCode.Violation, code);
            Assert.Contains("at minimal depth 3", stdout, StringComparison.Ordinal);
            Assert.Contains("(check-sat)", File.ReadAllText(Path.Combine(dir, "query.smt2")), StringComparison.Ordinal);
            using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "report.json")));
            Assert.Equal(3, json.RootElement.GetProperty("depth").GetInt32());
            Assert.Equal("wire-tuple-uniqueness", json.RootElement.GetProperty("invariant").GetProperty("id").GetString());
            Assert.Contains("```mermaid", File.ReadAllText(Path.Combine(dir, "report.md")), StringComparison.Ordinal);
            var (simCode, simOut, _) = Ctmodel("simulate", Path.Combine(dir, "minimal.scenario"), "--seed", "77");
            Assert.Equal(ExitCode.Violation, simCode);
            Assert.Contains("step 4 (connect B 127.0.0.1:8080)", simOut, StringComparison.Ordinal);
        });
    }

    [Solver.Z3Fact]
    public void Prove_Boot_WithInduction_SaysWhichStrengtheningWasNeeded_Exit0()
    {
        var (code, stdout, _) = Ctmodel("prove", "--config", "boot", "--depth", "6", "--induction");
        Assert.Equal(ExitCode.Ok, code);
        Assert.Contains("hold for every run of up to 6 steps", stdout, StringComparison.Ordinal);
        Assert.Contains("inductive alone: no", stdout, StringComparison.Ordinal);
        Assert.Contains("needed among them: every live connection has a conntrack entry", stdout, StringComparison.Ordinal);
    }

    [Fact]
    public void Simulate_Directory_SaysItIsADirectory_Exit2()
    {
        var (code, _, stderr) = Ctmodel("simulate", Path.GetTempPath());
        Assert.Equal(ExitCode.BadInput, code);
        Assert.Contains("is a directory: expected a scenario file", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void Replay_ScriptTheModelRefuses_IsRefusedBeforeTheKernel_Exit2()
    {
        WithScenario("listen 127.0.0.1:8080\nsend Z x\n", path =>
        {
            var (code, _, stderr) = Ctmodel("replay", path, "--kernel");
            Assert.Equal(ExitCode.BadInput, code);
            Assert.Contains($"{path}:2:1: error: send Z: no connection named Z", stderr, StringComparison.Ordinal);
        });
    }
}
