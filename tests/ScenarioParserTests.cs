using ConntrackModel.Model.Addressing;
using ConntrackModel.Model.Iptables;
using ConntrackModel.Model.Nat;
using ConntrackModel.Model.Scenarios;

namespace ConntrackModel.Tests;

public class ScenarioParserTests
{
    [Fact]
    public void Parse_EveryCommand_GivesItsRecord()
    {
        var s = Run.Parse("""
            # comment line
            listen 127.0.0.1:8080
            connect A 127.0.0.1:40000 127.0.0.1:8080   # trailing comment
            connect B 127.0.0.1:8080
            send A hello
            send A.server "two words"
            close A
            abort B.server
            iptables -t nat -A POSTROUTING -p tcp -d 127.0.0.1 --dport 8080 -j SNAT --to-source 127.0.0.1:40000-40003 --random-fully
            iptables -t nat -I OUTPUT 1 -p tcp -d 127.0.0.2 --dport 80 -j DNAT --to-destination 127.0.0.1:8080
            iptables -t nat -D POSTROUTING 1
            iptables -t nat -D OUTPUT -p tcp -d 127.0.0.2 --dport 80 -j DNAT --to-destination 127.0.0.1:8080
            iptables -t nat -F
            iptables -t nat -A POSTROUTING -o lo -j MASQUERADE --to-ports 1024-2048 -p tcp
            modprobe nf_conntrack
            conntrack -F
            sysctl -w net.netfilter.nf_conntrack_tcp_loose=0
            sysctl -w net.ipv4.ip_local_port_range="40000 40010"
            sleep 3.5
            """);
        var c = s.Lines.Select(l => l.Command).ToList();
        Assert.Equal(18, c.Count);
        Assert.Equal(new Command.Listen(new SockAddr(IPv4Address.Loopback, 8080)), c[0]);
        Assert.Equal(3, s.Lines[1].Line);
        Assert.Equal(new Command.Connect("A", new SockAddr(IPv4Address.Loopback, 40000), new SockAddr(IPv4Address.Loopback, 8080)), c[1]);
        Assert.Equal(new Command.Connect("B", null, new SockAddr(IPv4Address.Loopback, 8080)), c[2]);
        Assert.Equal(new Command.Send("A", "hello"), c[3]);
        Assert.Equal(new Command.Send("A.server", "two words"), c[4]);
        Assert.Equal(new Command.Close("A"), c[5]);
        Assert.Equal(new Command.Abort("B.server"), c[6]);
        var snat = Assert.IsType<Command.IptablesAdd>(c[7]);
        var range = Assert.IsType<IptTarget.Snat>(snat.Rule.Target).Range;
        Assert.Equal((40000, 40003, true, true), (range.MinPort, range.MaxPort, range.ProtoSpecified, range.RandomFully));
        Assert.Equal(new PortRange(8080, 8080), snat.Rule.Match.DestinationPort);
        var dnat = Assert.IsType<Command.IptablesAdd>(c[8]);
        Assert.Equal((IptChain.Output, 1), (dnat.Rule.Chain, dnat.Position!.Value));
        Assert.Equal(new Command.IptablesDelete(IptChain.PostRouting, null, 1), c[9]);
        Assert.True(Assert.IsType<Command.IptablesDelete>(c[10]).Rule!.SameRule(dnat.Rule));
        Assert.Equal(new Command.IptablesFlush(null), c[11]);
        Assert.IsType<IptTarget.Masquerade>(Assert.IsType<Command.IptablesAdd>(c[12]).Rule.Target);
        Assert.IsType<Command.Modprobe>(c[13]);
        Assert.IsType<Command.ConntrackFlush>(c[14]);
        Assert.Equal(new Command.Sysctl("net.netfilter.nf_conntrack_tcp_loose", "0"), c[15]);
        Assert.Equal(new Command.Sysctl("net.ipv4.ip_local_port_range", "40000 40010"), c[16]);
        Assert.Equal(new Command.Sleep(3500), c[17]);
    }

    [Theory]
    [InlineData("lisen 127.0.0.1:8080", 1, 1, "unknown command 'lisen'")]
    [InlineData("choose ephemeral:A x", 1, 20, "expected VALUE as a non-negative integer, got 'x'")]
    [InlineData("choose port:A 1", 1, 8, "unknown choice key 'port:A'")]
    [InlineData("choose ephemeral:A", 1, 20, "missing argument: expected choose KEY VALUE")]
    [InlineData("choose ephemeral:A 1\nchoose ephemeral:A 2", 2, 8, "choice 'ephemeral:A' is already pinned")]
    [InlineData("listen 127.0.0.1", 1, 8, "expected IP:PORT")]
    [InlineData("listen 127.0.0.1:70000", 1, 8, "expected IP:PORT")]
    [InlineData("connect", 1, 9, "missing argument: expected connect [-u] NAME")]
    [InlineData("connect 1A 127.0.0.1:8080", 1, 9, "expected a connection NAME")]
    [InlineData("send A", 1, 8, "missing argument")]
    [InlineData("iptables -t security -A INPUT -j ACCEPT", 1, 13, "unsupported table 'security'")]
    [InlineData("iptables -t broute -A INPUT -j ACCEPT", 1, 13, "unsupported table 'broute'")]
    [InlineData("iptables -t nat -A POSTROUTING -m recent --rcheck -j MASQUERADE", 1, 35, "unsupported iptables match '-m recent'")]
    [InlineData("iptables -A INPUT -p tcp -j NFLOG", 1, 29, "unsupported target 'NFLOG'")]
    [InlineData("iptables -t nat -A POSTROUTING --foo -j MASQUERADE", 1, 32, "unsupported iptables option '--foo'")]
    [InlineData("iptables -t nat -A OUTPUT -j SNAT --to-source 127.0.0.1", 1, 30, "SNAT is only valid in POSTROUTING and INPUT")]
    [InlineData("iptables -t nat -A POSTROUTING -j SNAT --to-source 127.0.0.1:40000", 1, 61, "Need TCP")]
    [InlineData("iptables -t nat -A POSTROUTING -p sctp -j MASQUERADE", 1, 35, "unsupported protocol 'sctp'")]
    [InlineData("iptables -t nat -A POSTROUTING -j SNAT", 1, 35, "SNAT needs --to-source")]
    [InlineData("iptables -t nat -N -X", 1, 20, "chain name not allowed to start with `-'")]
    [InlineData("iptables -t nat -A POSTROUTING ! -j MASQUERADE", 1, 32, "cannot have ! before -j")]
    [InlineData("sysctl -w net.ipv4.tcp_syncookies=0", 1, 11, "unsupported sysctl key")]
    [InlineData("sysctl -w net.netfilter.nf_conntrack_tcp_loose=2", 1, 48, "expected 0 or 1")]
    [InlineData("sleep soon", 1, 7, "expected SECONDS")]
    [InlineData("send A \"unterminated", 1, 8, "unterminated quoted string")]
    [InlineData("modprobe nf_nat", 1, 10, "unsupported module 'nf_nat'")]
    [InlineData("conntrack -L", 1, 11, "unsupported conntrack option '-L'")]
    public void Parse_BadLine_ReportsLineColumnAndWhatWasExpected(string line, int expectedLine, int column, string message)
    {
        var r = ScenarioParser.Parse("bad.scenario", "# header\n" + line);
        Assert.False(r.Ok);
        var e = Assert.Single(r.Errors);
        Assert.Equal(expectedLine + 1, e.Line);
        Assert.Equal(column, e.Column);
        Assert.Contains(message, e.Message, StringComparison.Ordinal);
        Assert.StartsWith($"bad.scenario:{expectedLine + 1}:{column}: ", e.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_SeveralBadLines_ReportsEachOne()
    {
        var r = ScenarioParser.Parse("f", "listen x\nlisten 127.0.0.1:1\nfoo\n");
        Assert.Equal([1, 3], r.Errors.Select(e => e.Line));
    }

    [Fact]
    public void Scenario_ToScript_ParsesBackToTheSameCommands()
    {
        var s = Run.Parse(Run.Example("dnat.scenario") + "\n" + Run.Example("port-range.scenario") + "\nsleep 0.25\niptables -t nat -D POSTROUTING 1\n");
        var again = Run.Parse(s.ToScript());
        Assert.Equal(s.Lines.Select(l => l.Command), again.Lines.Select(l => l.Command));
    }

    [Fact]
    public void Parse_Choose_PinsTheChoiceAndOverridesTheSource()
    {
        var s = Run.Parse("""
            choose ephemeral:A 4
            listen 127.0.0.1:8080
            connect A 127.0.0.1:8080
            """);
        Assert.Equal(2, s.Lines.Count);
        Assert.Equal(4, s.Choices["ephemeral:A"]);
        // Offset 4 from 32768 whatever the seed: the scenario's pin wins.
        foreach (var seed in new ulong[] { 1, 2, 3 })
            Assert.Equal(32772, Model.Kernel.Simulation.Run(s, Model.Choices.ChoiceSource.Seeded(seed)).Final.FindConnection("A")!.Local.Port);
        Assert.StartsWith("choose ephemeral:A 4\n", s.ToScript(), StringComparison.Ordinal);
        Assert.Equal(s.Choices, Run.Parse(s.ToScript()).Choices);
    }
}
