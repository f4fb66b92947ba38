using System.Text.Json;
using ConntrackModel.Cli;

namespace ConntrackModel.Tests;

/// <summary>The ctmodel tool driven in-process: output, exit codes, errors without stack traces.</summary>
public class CliTests
{
    private static (ExitCode Code, string Out, string Err) Ctmodel(params string[] args)
    {
        using var o = new StringWriter();
        using var e = new StringWriter();
        var code = Program.Run(args, o, e);
        return (code, o.ToString(), e.ToString());
    }

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
        Assert.Equal(["proto", "state", "orig", "reply", "assured"], ct.EnumerateObject().Select(p => p.Name));
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
        WithScenario("listen 127.0.0.1:8080\niptables -t nat -A POSTROUTING -m conntrack -j MASQUERADE\n", path =>
        {
            var (code, stdout, stderr) = Ctmodel("simulate", path);
            Assert.Equal(ExitCode.BadInput, code);
            Assert.Empty(stdout);
            Assert.StartsWith($"{path}:2:35: unsupported iptables match '-m conntrack'", stderr, StringComparison.Ordinal);
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
            Assert.StartsWith($"{path}:3: error: listen 127.0.0.1:8080: Address already in use", stderr, StringComparison.Ordinal);
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
    public void Bench_SmallSizes_PrintsMediansAndGrowth()
    {
        var (code, stdout, _) = Ctmodel("bench", "--sizes", "20,40", "--repeat", "3");
        Assert.Equal(ExitCode.Ok, code);
        Assert.Contains("growth 20 -> 40 connections", stdout, StringComparison.Ordinal);
    }
}
