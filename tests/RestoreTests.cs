using ConntrackModel.Model.Choices;
using ConntrackModel.Model.Iptables;
using ConntrackModel.Model.Kernel;
using ConntrackModel.Model.Nat;
using ConntrackModel.Model.Scenarios;
using ConntrackModel.Replay.Host;
using ConntrackModel.Tests.Replay;
using Xunit.Abstractions;

namespace ConntrackModel.Tests;

/// <summary>
/// <c>iptables-restore [--noflush] &lt;&lt;'EOF'</c>: the here-document is parsed as iptables-restore reads it, a block
/// replaces the nat table or (with --noflush) adds to it, and what it refuses it refuses in iptables-restore's words.
/// The kernel tests feed the same inputs to iptables-restore in a namespace of their own and compare the message, or
/// the chains and rule counts the table ends with.
/// </summary>
public class RestoreTests(ITestOutputHelper output)
{
    private static string Restore(string dump, bool noFlush = false) =>
        $"iptables-restore{(noFlush ? " --noflush" : "")} <<'EOF'\n{dump}EOF\n";

    private static XtTable Table(string script) => Run.Sim(script).Final.Namespaces[0].Netfilter.Nat;

    private const string Before = """
        iptables -t nat -N OLD
        iptables -t nat -A OLD -j RETURN
        iptables -t nat -A POSTROUTING -j OLD
        iptables -t nat -N KEEP
        iptables -t nat -A KEEP -j RETURN

        """;

    [Fact]
    public void Parse_AHereDocument_IsOneCommand_WrittenBackAsItWasGiven()
    {
        var script = "listen 127.0.0.1:8080\n" + Restore("*nat\n:POSTROUTING ACCEPT [0:0]\n:X - [0:0]\n# a comment\n\n-A X -j RETURN\n-A POSTROUTING -j X\nCOMMIT\n") + "connect A 127.0.0.1:8080\n";
        var s = Run.Parse(script);
        Assert.Equal(3, s.Lines.Count);
        var r = Assert.IsType<Command.IptablesRestore>(s.Lines[1].Command);
        Assert.Equal((2, 12), (s.Lines[1].Line, s.Lines[2].Line));
        var block = Assert.Single(r.Blocks);
        Assert.Equal((1, 8), (block.Line, block.CommitLine));
        Assert.Equal(["POSTROUTING", "X", "-", "-"], block.Items.Select(i => i.Declared ?? "-").ToArray());
        Assert.Equal(script, s.ToScript());
    }

    [Theory]
    [InlineData("iptables-restore <<'EOF'\n*nat\nCOMMIT\n", 1, 18, "the here-document has no end: expected a line 'EOF'")]
    [InlineData("iptables-restore <<'EOF'\n*security\nCOMMIT\nEOF", 2, 2, "unsupported table 'security': the model has the nat, filter, raw and mangle tables")]
    [InlineData("iptables-restore <<'EOF'\n*nat\n*nat\nCOMMIT\nEOF", 3, 1, "Bad argument `*nat'")]
    [InlineData("iptables-restore <<'EOF'\n-A POSTROUTING -j ACCEPT\nEOF", 2, 1, "iptables-restore: line 1 failed")]
    [InlineData("iptables-restore <<'EOF'\n*nat\n-A POSTROUTING -j ACCEPT\nEOF", 4, 1, "iptables-restore: COMMIT expected at line 3")]
    [InlineData("iptables-restore <<'EOF'\n*nat\n:POSTROUTING DROP [0:0]\nCOMMIT\nEOF", 3, 14, "The \"nat\" table is not intended for filtering, the use of DROP is therefore inhibited.")]
    [InlineData("iptables-restore <<'EOF'\n*nat\n-A POSTROUTING --bogus -j ACCEPT\nCOMMIT\nEOF", 3, 16, "unsupported iptables option '--bogus'")]
    [InlineData("iptables-restore --counters <<'EOF'\n*nat\nCOMMIT\nEOF", 1, 18, "unsupported iptables-restore option '--counters'")]
    [InlineData("iptables-restore rules.v4", 1, 18, "iptables-restore rules.v4: this scenario was not read from a file")]
    [InlineData("iptables-restore rules.v4 more", 1, 18, "expected iptables-restore [--noflush] FILE, or a here-document")]
    public void Parse_BadDumps_SayWhereAndWhy(string script, int line, int column, string message)
    {
        var r = ScenarioParser.Parse("t.scenario", script);
        Assert.False(r.Ok);
        var e = r.Errors[0];
        output.WriteLine(e.ToString());
        Assert.Equal((line, column), (e.Line, e.Column));
        Assert.Contains(message, e.Message, StringComparison.Ordinal);
    }

    /// <summary>
    /// <c>iptables-restore FILE</c>: the file (read by the caller, relative to the scenario) makes the same command as a
    /// here-document of its text, and its errors are reported in the file's own lines.
    /// </summary>
    [Fact]
    public void Restore_File_IsTheSameCommandAsAHereDocument_AndErrorsPointIntoIt()
    {
        const string dump = "*nat\n:X - [0:0]\n-A X -j RETURN\n-A POSTROUTING -j X\nCOMMIT\n";
        (string, string?, string?) Read(string path) => path == "rules.v4" ? ("dir/rules.v4", dump, null) : ("dir/" + path, null, "no such file");
        var fromFile = ScenarioParser.Parse("t", "iptables-restore --noflush rules.v4\n", Read);
        var inline = ScenarioParser.Parse("t", Restore(dump, noFlush: true));
        Assert.True(fromFile.Ok, string.Join("\n", fromFile.Errors));
        var a = (Command.IptablesRestore)fromFile.Scenario!.Lines.Single().Command;
        var b = (Command.IptablesRestore)inline.Scenario!.Lines.Single().Command;
        Assert.Equal(b, a);
        Assert.Equal(b.Blocks.Single(), a.Blocks.Single());

        var missing = ScenarioParser.Parse("t", "iptables-restore nope.v4\n", Read);
        Assert.Equal("t:1:18: cannot read 'nope.v4': no such file", missing.Errors.Single().ToString());
        (string, string?, string?) Bad(string path) => ("dir/bad.v4", "*nat\n-A POSTROUTING --bogus -j ACCEPT\nCOMMIT\n", null);
        var bad = ScenarioParser.Parse("t", "iptables-restore bad.v4\n", Bad);
        Assert.Equal("dir/bad.v4:2:16: unsupported iptables option '--bogus'", bad.Errors.Single().ToString());
    }

    [Fact]
    public void Simulate_RestoreFile_IsReadRelativeToTheScenario()
    {
        var dir = Directory.CreateTempSubdirectory("ctmodel-restore-");
        try
        {
            File.WriteAllText(Path.Combine(dir.FullName, "rules.v4"), "*nat\n:POSTROUTING ACCEPT [0:0]\n-A POSTROUTING -p tcp -d 127.0.0.1 --dport 8080 -j SNAT --to-source 127.0.0.1:40000\nCOMMIT\n");
            var scenario = Path.Combine(dir.FullName, "late.scenario");
            File.WriteAllText(scenario, "listen 127.0.0.1:8080\nconnect A 127.0.0.1:40000 127.0.0.1:8080\niptables-restore rules.v4\nconnect B 127.0.0.1:50000 127.0.0.1:8080\n");
            var stdout = new StringWriter();
            Assert.Equal(Cli.ExitCode.Violation, Cli.Program.Run(["simulate", scenario], stdout, new StringWriter()));
            Assert.Contains("no-foreign-reset", stdout.ToString(), StringComparison.Ordinal);
            File.Delete(Path.Combine(dir.FullName, "rules.v4"));
            var stderr = new StringWriter();
            Assert.Equal(Cli.ExitCode.BadInput, Cli.Program.Run(["simulate", scenario], new StringWriter(), stderr));
            Assert.Contains("late.scenario:3:18: cannot read 'rules.v4'", stderr.ToString(), StringComparison.Ordinal);
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    [Fact]
    public void Restore_WithoutNoflush_ReplacesTheWholeTable()
    {
        var nf = Table(Before + Restore("*nat\n:PREROUTING ACCEPT [0:0]\n:NEW - [0:0]\n-A POSTROUTING -j NEW\nCOMMIT\n"));
        Assert.Equal(["NEW"], nf.UserChains.ToArray());
        var rule = Assert.Single(nf.Rules);
        Assert.Equal((IptChain.PostRouting, (IptTarget)new IptTarget.Jump("NEW")), (rule.Chain, rule.Target));
    }

    /// <summary>
    /// Measured: a block without --noflush deletes the table's base chains too (only a declared built-in chain makes its
    /// base chain again), so a restore of user chains alone leaves no NAT hook: new connections get no null binding.
    /// </summary>
    [Fact]
    public void Restore_WithoutNoflush_RemovesTheHooks_UnlessABuiltinChainIsDeclared()
    {
        Assert.True(Table(Before).Exists);
        Assert.False(Table(Before + Restore("*nat\n:NEW - [0:0]\nCOMMIT\n")).Exists);
        Assert.True(Table(Before + Restore("*nat\n:PREROUTING ACCEPT [0:0]\n:NEW - [0:0]\nCOMMIT\n")).Exists);
        Assert.True(Table(Before + Restore("*nat\n:NEW - [0:0]\nCOMMIT\n", noFlush: true)).Exists);
    }

    [Fact]
    public void Restore_Noflush_FlushesADeclaredUserChain_NotABuiltinOne()
    {
        var nf = Table(Before + Restore("*nat\n:POSTROUTING ACCEPT [0:0]\n:KEEP - [0:0]\n:NEW - [0:0]\n-A KEEP -j ACCEPT\nCOMMIT\n", noFlush: true));
        Assert.Equal(["OLD", "KEEP", "NEW"], nf.UserChains.ToArray());
        Assert.Equal([typeof(IptTarget.Accept)], nf.UserChain("KEEP").Select(r => r.Target.GetType()).ToArray());
        Assert.Single(nf.Chain(IptChain.PostRouting));
        Assert.Single(nf.UserChain("OLD"));
    }

    [Fact]
    public void Restore_TwoBlocks_TheSecondReplacesTheFirst()
    {
        var nf = Table(Restore("*nat\n:A1 - [0:0]\nCOMMIT\n*nat\n:A2 - [0:0]\nCOMMIT\n"));
        Assert.Equal(["A2"], nf.UserChains.ToArray());
    }

    /// <summary>Inputs iptables-restore refuses when it runs them (after <see cref="Before"/>, with --noflush), and its message.</summary>
    public static TheoryData<string, string> Refused => new()
    {
        { "*nat\n-A Z -j RETURN\n:Z - [0:0]\nCOMMIT\n", "iptables-restore: line 2 failed: No chain/target/match by that name." },
        { "*nat\n:X - [0:0]\n-A X -j NOPE\nCOMMIT\n", "iptables-restore v1.8.9 (nf_tables): Chain 'NOPE' does not exist Error occurred at line: 4" },
        { "*nat\n:W - [0:0]\n-A PREROUTING -j W\n-A W -j MASQUERADE\nCOMMIT\n", "iptables-restore v1.8.9 (nf_tables): line 4: RULE_APPEND failed (Invalid argument): rule in chain W" },
        { "*nat\n:L1 - [0:0]\n:L2 - [0:0]\n-A L1 -j L2\n-A L2 -j L1\n-A OUTPUT -j L1\nCOMMIT\n", "iptables-restore v1.8.9 (nf_tables): line 6: RULE_APPEND failed (Too many links): rule in chain OUTPUT" },
        { "*nat\n:B - [0:0]\n-A OUTPUT -j B\n-X B\nCOMMIT\n", "iptables-restore v1.8.9 (nf_tables): line 4: CHAIN_DEL failed (Device or resource busy): chain B" },
        { "*nat\n-D POSTROUTING -j ACCEPT\nCOMMIT\n", "iptables-restore: line 2 failed: Bad rule (does a matching rule exist in that chain?)." },
    };

    [Theory]
    [MemberData(nameof(Refused))]
    public void Refused_TheModelSaysWhatIptablesRestoreSays(string dump, string message)
    {
        var sim = Simulation.Run(Run.Parse(Before + Restore(dump, noFlush: true)), ChoiceSource.First);
        Assert.Equal(6, sim.RejectedLine?.Line);
        Assert.StartsWith(message, sim.Rejected, StringComparison.Ordinal);
    }

    /// <summary>A message as one line: iptables-restore prints some over two, and a usage hint after them.</summary>
    private static string OneLine(string text) =>
        string.Join(' ', text.Split('\n').Select(l => l.Trim()).Where(l => l.Length > 0 && !l.StartsWith("Try `", StringComparison.Ordinal)))
            .Replace("(nf_tables):  ", "(nf_tables): ", StringComparison.Ordinal);

    private static ToolResult Feed(NetworkNamespace ns, string dump, bool noFlush)
    {
        var file = Path.GetTempFileName();
        try
        {
            File.WriteAllText(file, dump);
            return ns.Exec(noFlush ? ["iptables-restore", "--noflush", file] : ["iptables-restore", file]);
        }
        finally
        {
            File.Delete(file);
        }
    }

    private static void Prepare(NetworkNamespace ns)
    {
        foreach (var line in Before.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var r = ns.Exec(line.Split(' '));
            Assert.True(r.Ok, $"{line}: {r.Output}");
        }
    }

    [KernelFact]
    public void Refused_OnTheKernel_IptablesRestorePrintsTheSameMessage()
    {
        var n = 0;
        foreach (var row in Refused)
        {
            var (dump, message) = ((string)row[0], (string)row[1]);
            using var ns = NetworkNamespace.Create();
            Prepare(ns);
            var r = Feed(ns, dump, noFlush: true);
            output.WriteLine($"exit {r.ExitCode}: {r.Output}");
            Assert.False(r.Ok);
            Assert.StartsWith(OneLine(message), OneLine(r.Output), StringComparison.Ordinal);
            n++;
        }
        Assert.Equal(Refused.Count, n);
    }

    /// <summary>Accepted inputs: the kernel's table afterwards has the model's chains, each with the model's number of rules.</summary>
    [KernelFact]
    public void Accepted_OnTheKernel_TheTableHasTheModelsChainsAndRules()
    {
        var cases = new (string Dump, bool NoFlush)[]
        {
            ("*nat\n:PREROUTING ACCEPT [0:0]\n:NEW - [0:0]\n-A POSTROUTING -j NEW\nCOMMIT\n", false),
            ("*nat\n:POSTROUTING ACCEPT [0:0]\n:KEEP - [0:0]\n:NEW - [0:0]\n-A KEEP -j ACCEPT\nCOMMIT\n", true),
            ("*nat\n:A1 - [0:0]\nCOMMIT\n*nat\n:A2 - [0:0]\n-A A2 -j RETURN\nCOMMIT\n", false),
            // -R of a rule the same input added crashes iptables-restore 1.8.9 (SIGSEGV, measured): -R replaces an older rule here.
            ("*nat\n-N Q\n-A Q -j RETURN\n-I Q 1 -p tcp -j RETURN\n-R KEEP 1 -p udp -j RETURN\n-D POSTROUTING 1\n-F OLD\n-X OLD\nCOMMIT\n", true),
        };
        foreach (var (dump, noFlush) in cases)
        {
            var model = Table(Before + Restore(dump, noFlush));
            using var ns = NetworkNamespace.Create();
            Prepare(ns);
            var r = Feed(ns, dump, noFlush);
            Assert.True(r.Ok, r.Output);
            var save = ns.Exec(["iptables-save", "-t", "nat"]);
            output.WriteLine(save.Stdout);
            var lines = save.Stdout.Split('\n');
            var chains = lines.Where(l => l.StartsWith(':')).Select(l => l[1..].Split(' ')[0])
                .Where(c => IptTable.Nat.Builtin(c) is null).Order(StringComparer.Ordinal).ToArray();
            Assert.Equal(model.UserChains.Order(StringComparer.Ordinal).ToArray(), chains);
            foreach (var chain in chains.Concat(["PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"]))
                Assert.True(model.ChainNamed(chain).Count == lines.Count(l => l.StartsWith($"-A {chain} ", StringComparison.Ordinal)), $"{chain} in {dump}");
        }
    }
}
