using ConntrackModel.Cli;
using ConntrackModel.Model.Kernel;
using ConntrackModel.Model.Scenarios;
using Xunit;

namespace ConntrackModel.Tests;

/// <summary>
/// Issue 11's reproducers: what the kernel refuses is refused with its message, hostile input is bounded (errors
/// counted after the first 20, tokens echoed short, lines and files limited), pins that match nothing are reported.
/// The kernel's limits were measured on 6.18 in a throwaway namespace (see SysctlKeys and the parser).
/// </summary>
public class InputValidationTests
{
    private static (ExitCode Code, string Out, string Err) Simulate(string text, params string[] extra)
    {
        var path = Path.Combine(Path.GetTempPath(), $"ctm-{Guid.NewGuid():N}.scenario");
        File.WriteAllText(path, text);
        try
        {
            using var o = new StringWriter();
            using var e = new StringWriter();
            var code = Program.Run(["simulate", path, .. extra], o, e);
            return (code, o.ToString(), e.ToString().Replace(path, "F", StringComparison.Ordinal));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Theory]
    [InlineData("sysctl -w net.netfilter.nf_conntrack_tcp_timeout_established=8589935", "F:1:62: sysctl: setting key \"net.netfilter.nf_conntrack_tcp_timeout_established\": Invalid argument")]
    [InlineData("sysctl -w net.netfilter.nf_conntrack_tcp_max_retrans=256", "F:1:54: sysctl: setting key \"net.netfilter.nf_conntrack_tcp_max_retrans\": Invalid argument")]
    [InlineData("sysctl -w net.ipv4.ip_local_port_range=\"1023 2000\"", "F:1:40: sysctl: setting key \"net.ipv4.ip_local_port_range\": Invalid argument")]
    [InlineData("sysctl -w net.ipv4.ip_local_port_range=\"2000 1024\"", "F:1:40: sysctl: setting key \"net.ipv4.ip_local_port_range\": Invalid argument")]
    [InlineData("iptables -t nat -A POSTROUTING -p tcp -j SNAT --to-source 127.0.0.1:40010-40000", "F:1:75: iptables: Port range `40000' funky")]
    [InlineData("iptables -t nat -A POSTROUTING -p tcp -j MASQUERADE --to-ports 40010-40000", "iptables: Port range `40000' funky")]
    public void WhatTheKernelRefuses_IsRefusedWithItsMessage(string line, string expected)
    {
        var (code, _, err) = Simulate(line + "\n");
        Assert.Equal(ExitCode.BadInput, code);
        Assert.Contains(expected, err, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("sysctl -w net.netfilter.nf_conntrack_tcp_timeout_established=8589934")]
    [InlineData("sysctl -w net.netfilter.nf_conntrack_tcp_max_retrans=255")]
    [InlineData("sysctl -w net.ipv4.ip_local_port_range=\"1024 2000\"")]
    [InlineData("sysctl -w net.ipv4.ip_local_port_range=\"40000 40000\"")]
    public void TheKernelsLimits_AreAccepted(string line)
    {
        var (code, _, err) = Simulate(line + "\n");
        Assert.Equal(ExitCode.Ok, code);
        Assert.Equal("", err);
    }

    [Fact]
    public void ConnectWithoutRoute_IsUnreachable_SendsNothing_PicksNoPort()
    {
        var sim = Run.Sim("listen 127.0.0.1:8080\nconnect A 127.0.0.1:40000 10.0.0.1:8080\nconnect B 192.168.1.1:80\n");
        Assert.Null(sim.Rejected);
        Assert.All(sim.Final.Connections, c => Assert.Equal(ConnectResult.Unreachable, c.Result));
        Assert.Empty(sim.Events.OfType<KernelEvent.Captured>());
        Assert.Empty(sim.Events.OfType<KernelEvent.Choice>());
        var o = Run.Observe("listen 127.0.0.1:8080\nconnect A 127.0.0.1:40000 10.0.0.1:8080\nconnect B 192.168.1.1:80\n");
        Assert.Equal("unreachable", o.Conn("A").Connect);
        Assert.Equal("127.0.0.1:40000", o.Conn("A").Local);
        Assert.Equal("0.0.0.0:0", o.Conn("B").Local);
        // The bound port is free again for a connect that can route (kernel run: same outcome, conform agrees).
        Assert.Equal(ConnectResult.Established, Run.Sim("listen 127.0.0.1:8080\nconnect A 127.0.0.1:40000 10.0.0.1:8080\nconnect C 127.0.0.1:40000 127.0.0.1:8080\n").Final.FindConnection("C")!.Result);
    }

    [Fact]
    public void ConnectToTheUnspecifiedAddress_GoesToLoopback()
    {
        // Kernel run (conform agrees): the listener on 127.0.0.1:8080 accepts it, and both ends name 127.0.0.1.
        var o = Run.Observe("listen 127.0.0.1:8080\nconnect A 127.0.0.1:40000 0.0.0.0:8080\n");
        Assert.Equal("established", o.Conn("A").Connect);
        Assert.Equal("127.0.0.1:40000", Assert.Single(o.Conn("A").Wire));
    }

    [Fact]
    public void ManyBadLines_ReportTwentyAndCountTheRest()
    {
        var r = ScenarioParser.Parse("f", string.Concat(Enumerable.Repeat("bogus line\r\n", 100_000)));
        Assert.Equal(ScenarioParser.MaxErrors + 1, r.Errors.Count);
        Assert.Equal("f:21:1: 99980 more errors from here on not shown (only the first 20 are)", r.Errors[^1].ToString());
    }

    [Fact]
    public void HugeTokensAndControlCharacters_AreEchoedShortAndEscaped()
    {
        var token = new string('x', 10_000);
        var r = ScenarioParser.Parse("f", $"{token} 1\nlisten \0\u0007\n");
        var huge = r.Errors[0].ToString();
        Assert.True(huge.Length < 200, huge);
        Assert.Contains("(10000 characters)", huge, StringComparison.Ordinal);
        Assert.Contains("'\\u0000\\u0007'", r.Errors[1].ToString(), StringComparison.Ordinal);
        var longLine = ScenarioParser.Parse("f", "listen " + new string('1', ScenarioParser.MaxLineLength));
        Assert.Equal($"f:1:1: line is {ScenarioParser.MaxLineLength + 7} characters long: the limit is {ScenarioParser.MaxLineLength}", longLine.Errors.Single().ToString());
    }

    [Fact]
    public void AFileBeyondTheLimit_IsRefusedBeforeReading()
    {
        var path = Path.Combine(Path.GetTempPath(), $"ctm-{Guid.NewGuid():N}.scenario");
        using (var f = File.Create(path)) f.SetLength(Cli.Commands.SimulateCommand.MaxScenarioBytes + 1); // sparse: no disk used
        try
        {
            using var o = new StringWriter();
            using var e = new StringWriter();
            Assert.Equal(ExitCode.BadInput, Program.Run(["simulate", path], o, e));
            Assert.Contains("MiB: the limit is 256 MiB", e.ToString(), StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void ARejectedCommand_NamesLineAndColumn()
    {
        var (code, _, err) = Simulate("listen 127.0.0.1:8080\n   send Z hello\n");
        Assert.Equal(ExitCode.BadInput, code);
        Assert.StartsWith("F:2:4: error: send Z: no connection named Z", err, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("")]
    [InlineData("--json")]
    public void PinsThatMatchNothing_AreReportedWithTheKeyMeant(string mode)
    {
        var (code, _, err) = Simulate("listen 127.0.0.1:8080\nchoose ephemeral:b 5\nchoose nat:bogus 1\nchoose ephemeral:B 2\nconnect B 127.0.0.1:8080\n", mode.Length > 0 ? [mode] : []);
        Assert.Equal(ExitCode.Ok, code);
        var lines = err.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(2, lines.Length);
        Assert.Equal("F:2:8: warning: choice 'ephemeral:b' matched no choice point of this run, so it changed nothing; did you mean 'ephemeral:B'?", lines[0]);
        Assert.StartsWith("F:3:8: warning: choice 'nat:bogus' matched no choice point", lines[1], StringComparison.Ordinal);
    }

    [Fact]
    public void Docs_RefusesAnExampleTheModelRejects()
    {
        var dir = Directory.CreateTempSubdirectory("ctm-docs-");
        try
        {
            File.WriteAllText(Path.Combine(dir.FullName, "twice.scenario"), "# listens twice on one port, which bind() refuses\nlisten 127.0.0.1:8080\nlisten 127.0.0.1:8080\n");
            using var o = new StringWriter();
            using var e = new StringWriter();
            var code = Program.Run(["docs", "--examples", dir.FullName, "--out", Path.Combine(dir.FullName, "out")], o, e);
            Assert.Equal(ExitCode.BadInput, code);
            Assert.Contains("twice.scenario:3:1: error: listen 127.0.0.1:8080: Address already in use", e.ToString(), StringComparison.Ordinal);
            Assert.False(File.Exists(Path.Combine(dir.FullName, "out", "spec.md")));
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }
}
