using ConntrackModel.Model.Scenarios;
using ConntrackModel.Replay.Host;
using ConntrackModel.Replay.Kernel;

namespace ConntrackModel.Tests.Replay;

/// <summary>
/// The benchmark scenario on the real kernel (<c>bench --part kernel</c>): every connect and send is made and counted,
/// in a namespace the run creates and removes, and a scenario it cannot drive is refused, with the line, before it makes
/// a namespace (those cases need no root).
/// </summary>
[Collection(KernelCollection.Name)]
public class KernelWorkloadTests
{
    [KernelFact]
    public void SnatScenario_RunsEveryCommand_InANamespaceItRemoves()
    {
        var scenario = SnatWorkload.Scenario(300);
        var timing = KernelWorkload.Run(scenario);
        Assert.Equal(300, timing.Connections);
        Assert.Equal(600, timing.Commands);
        Assert.True(timing.Elapsed > TimeSpan.Zero);
        Assert.StartsWith(NetworkNamespace.Prefix, timing.Namespace, StringComparison.Ordinal);
        Assert.DoesNotContain(timing.Namespace, NetworkNamespace.List());
    }

    /// <summary>A rule that drops the SYN: connect gives up after <see cref="KernelWorkload.ConnectTimeout"/>, not after two minutes of retries.</summary>
    [KernelFact]
    public void DroppedHandshake_FailsAfterTheConnectTimeout()
    {
        var scenario = ScenarioParser.Parse("t", "listen 127.0.0.1:8080\niptables -A INPUT -p tcp --dport 8080 -j DROP\nconnect A 127.0.0.1:8080\n").Scenario!;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var e = Assert.Throws<ReplayException>(() => KernelWorkload.Run(scenario));
        Assert.Contains("line 3: connect A 127.0.0.1:8080: connect failed: errno 115 (EINPROGRESS: no handshake within 5 s)", e.Message, StringComparison.Ordinal);
        Assert.InRange(clock.Elapsed, KernelWorkload.ConnectTimeout, KernelWorkload.ConnectTimeout * 4);
    }

    [Theory]
    [InlineData("listen 127.0.0.1:8080\nconnect A 127.0.0.1:8080\nconnect A 127.0.0.1:8080\n", "line 3:")]
    [InlineData("listen 127.0.0.1:8080\nlisten 127.0.0.1:8080\n", "line 2:")]
    [InlineData("listen -u 127.0.0.1:8080\n", "line 1:")]
    [InlineData("listen 127.0.0.1:8080\nconnect A 127.0.0.1:8080\niptables -t nat -A POSTROUTING -j MASQUERADE\n", "line 3:")]
    [InlineData("listen 127.0.0.1:8080\nconnect A 127.0.0.1:8080\nclose A\n", "line 3:")]
    [InlineData("listen 127.0.0.1:8080\nconnect A 127.0.0.1:8080\nsend A.server x\n", "line 3:")]
    [InlineData("listen 127.0.0.1:8080\nconnect A 127.0.0.1:40000 127.0.0.1:8080\n", "line 2:")]
    [InlineData("listen 127.0.0.1:8080\nconnect A 127.0.0.1:8081\n", "line 2:")]
    [InlineData("listen 127.0.0.1:8080\nsend A x\nconnect A 127.0.0.1:8080\n", "line 2:")]
    public void CommandsItCannotDrive_AreRefusedWithTheirLine(string text, string where)
    {
        var parsed = ScenarioParser.Parse("t", text);
        Assert.True(parsed.Scenario is not null, string.Join("; ", parsed.Errors));
        var e = Assert.Throws<ReplayException>(() => KernelWorkload.Run(parsed.Scenario));
        Assert.StartsWith(where + " the kernel benchmark drives listen, iptables", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Descriptors_OnePerListenerAndConnection_AndSomeForTheRuntime()
    {
        // 12,000 connections: two listeners.
        Assert.Equal(2 + 12_000 + 256, KernelWorkload.Descriptors(SnatWorkload.Scenario(12_000)));
    }
}
