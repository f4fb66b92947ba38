using System.Text.Json;
using ConntrackModel.Cli;
using ConntrackModel.Cli.Output;

namespace ConntrackModel.Tests;

/// <summary>
/// <c>simulate --itf</c>: the trace follows the Informal Trace Format's rules (ADR-015): <c>#meta</c> with the format,
/// <c>vars</c> a list of names, <c>states</c> each with <c>#meta.index</c> counting from 0 and every variable; values
/// only booleans, strings, lists, records, and the tagged forms <c>#bigint</c> (a decimal string), <c>#set</c>,
/// <c>#map</c> (a list of pairs) and <c>#tup</c>; no null, no bare number outside <c>#meta</c>.
/// </summary>
public class ItfTests
{
    private static void Value(JsonElement v, string path)
    {
        switch (v.ValueKind)
        {
            case JsonValueKind.True or JsonValueKind.False or JsonValueKind.String:
                return;
            case JsonValueKind.Array:
                foreach (var x in v.EnumerateArray()) Value(x, path + "[]");
                return;
            case JsonValueKind.Object:
                var props = v.EnumerateObject().ToList();
                var tagged = props.Where(p => p.Name.StartsWith('#')).ToList();
                if (tagged.Count == 0)
                {
                    foreach (var p in props) Value(p.Value, path + "." + p.Name);
                    return;
                }
                Assert.True(props.Count == 1, $"{path}: a tagged value has exactly one field");
                var (tag, body) = (tagged[0].Name, tagged[0].Value);
                switch (tag)
                {
                    case "#bigint":
                        Assert.Matches("^-?[0-9]+$", body.GetString()!);
                        return;
                    case "#set" or "#tup":
                        Assert.Equal(JsonValueKind.Array, body.ValueKind);
                        foreach (var x in body.EnumerateArray()) Value(x, path + tag);
                        return;
                    case "#map":
                        Assert.Equal(JsonValueKind.Array, body.ValueKind);
                        foreach (var pair in body.EnumerateArray())
                        {
                            Assert.Equal(2, pair.GetArrayLength());
                            Value(pair[0], path + "#key");
                            Value(pair[1], path + "#value");
                        }
                        return;
                    default:
                        Assert.Fail($"{path}: unknown tag {tag}");
                        return;
                }
            default:
                Assert.Fail($"{path}: {v.ValueKind} is not an ITF value");
                return;
        }
    }

    [Theory]
    [InlineData("reference.scenario")]
    [InlineData("node-udp-late-start.scenario")]
    [InlineData("node-udp-stale-dnat.scenario")]
    public void Itf_FollowsTheFormat_OneStatePerWorld(string example)
    {
        var file = Path.Combine(AppContext.BaseDirectory, "examples", example);
        var itf = Path.Combine(Path.GetTempPath(), $"ctm-itf-{Environment.ProcessId}-{example}.itf.json");
        try
        {
            using var o = new StringWriter();
            using var e = new StringWriter();
            var code = Program.Run(["simulate", file, "--itf", itf], o, e);
            Assert.True(code is ExitCode.Ok or ExitCode.Violation, e.ToString());
            using var doc = JsonDocument.Parse(File.ReadAllText(itf));
            var root = doc.RootElement;
            Assert.Equal("ITF", root.GetProperty("#meta").GetProperty("format").GetString());
            var vars = root.GetProperty("vars").EnumerateArray().Select(v => v.GetString()!).ToList();
            Assert.Equal(Itf.Vars, vars);
            var states = root.GetProperty("states").EnumerateArray().ToList();
            var sim = Run.Sim(File.ReadAllText(file));
            Assert.Equal(sim.Steps.Count + 1, states.Count);
            for (var i = 0; i < states.Count; i++)
            {
                Assert.Equal(i, states[i].GetProperty("#meta").GetProperty("index").GetInt32());
                foreach (var v in vars) Value(states[i].GetProperty(v), $"states[{i}].{v}");
                Assert.Equal(vars.Count + 1, states[i].EnumerateObject().Count());
            }
            // The states say what the run did: the last command, its time, and where each invariant broke.
            Assert.Equal(sim.Steps[^1].Line.Command.ToScript(), states[^1].GetProperty("command").GetString());
            Assert.Equal(sim.Final.Now.ToString(System.Globalization.CultureInfo.InvariantCulture), states[^1].GetProperty("time_ms").GetProperty("#bigint").GetString());
            for (var k = 0; k < sim.Steps.Count; k++)
            {
                var broken = states[k + 1].GetProperty("violations").GetProperty("#set").EnumerateArray().Select(x => x.GetString()!).ToHashSet();
                Assert.Equal(sim.Steps[k].Violations.Select(v => v.Name).ToHashSet(), broken);
            }
        }
        finally
        {
            File.Delete(itf);
        }
    }

    [Fact]
    public void Check_PcapAndItf_GoIntoTheReportFolder_AndTheReportLinksThem()
    {
        var dir = Directory.CreateTempSubdirectory("ctm-portable-");
        try
        {
            using var o = new StringWriter();
            using var e = new StringWriter();
            Assert.Equal(ExitCode.Violation, Program.Run(["check", "--config", "late-start", "--seed", "1", "--quiet", "--out", dir.FullName, "--pcap", "--itf", "--sh"], o, e));
            var pcap = File.ReadAllBytes(Path.Combine(dir.FullName, "minimal.pcapng"));
            Assert.Equal(0x0A0D0D0Au, System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(pcap));
            using (var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir.FullName, "minimal.itf.json"))))
                Assert.Equal("ITF", doc.RootElement.GetProperty("#meta").GetProperty("format").GetString());
            var report = File.ReadAllText(Path.Combine(dir.FullName, "report.md"));
            Assert.Contains("[`minimal.pcapng`](minimal.pcapng)", report, StringComparison.Ordinal);
            Assert.Contains("[`minimal.itf.json`](minimal.itf.json)", report, StringComparison.Ordinal);
            Assert.Contains("[`minimal.sh`](minimal.sh)", report, StringComparison.Ordinal);
            Assert.StartsWith("#!/usr/bin/env bash", File.ReadAllText(Path.Combine(dir.FullName, "minimal.sh")), StringComparison.Ordinal);
            Assert.Contains("minimal.scenario, minimal.pcapng, minimal.itf.json, minimal.sh", o.ToString(), StringComparison.Ordinal);
            // A run without them leaves none from the earlier one behind.
            Assert.Equal(ExitCode.Violation, Program.Run(["check", "--config", "late-start", "--seed", "1", "--quiet", "--out", dir.FullName], new StringWriter(), new StringWriter()));
            Assert.False(File.Exists(Path.Combine(dir.FullName, "minimal.pcapng")));
            Assert.False(File.Exists(Path.Combine(dir.FullName, "minimal.itf.json")));
            Assert.False(File.Exists(Path.Combine(dir.FullName, "minimal.sh")));
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    /// <summary>The Z3 engine's counterexample, replayed in the model, goes to the same three files.</summary>
    [Solver.Z3Fact]
    public void CheckZ3_PcapItfAndScript_GoIntoTheReportFolder()
    {
        var dir = Directory.CreateTempSubdirectory("ctmodel-z3-itf-");
        try
        {
            using var o = new StringWriter();
            Assert.Equal(ExitCode.Violation, Program.Run(["check", "--engine", "z3", "--config", "late-start", "--out", dir.FullName, "--pcap", "--itf", "--sh"], o, new StringWriter()));
            Assert.Contains("minimal.scenario, minimal.pcapng, minimal.itf.json, minimal.sh", o.ToString(), StringComparison.Ordinal);
            var report = File.ReadAllText(Path.Combine(dir.FullName, "report.md"));
            foreach (var f in new[] { "minimal.pcapng", "minimal.itf.json", "minimal.sh" })
                Assert.Contains($"[`{f}`]({f})", report, StringComparison.Ordinal);
            using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir.FullName, "minimal.itf.json")));
            Assert.Contains("wire-tuple-uniqueness", doc.RootElement.GetProperty("states").EnumerateArray().Last().GetProperty("violations").GetRawText(), StringComparison.Ordinal);
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    /// <summary>Each rule in a state's <c>rules</c> names its table: INPUT of filter and INPUT of nat are different chains.</summary>
    [Fact]
    public void Rules_NameTheirTable()
    {
        using var ms = new MemoryStream();
        Itf.Write(Run.Parse("iptables -A INPUT -m conntrack --ctstate INVALID -j DROP\niptables -t nat -A POSTROUTING -p tcp -j MASQUERADE\niptables -t raw -A OUTPUT -j NOTRACK\n"), Model.Choices.ChoiceSource.First, ms);
        using var doc = JsonDocument.Parse(ms.ToArray());
        var last = doc.RootElement.GetProperty("states").EnumerateArray().Last();
        var rules = last.GetProperty("rules").GetProperty("#map")[0][1].EnumerateArray().Select(e => e.GetString()).ToList();
        Assert.Equal(["-t nat -A POSTROUTING -p tcp -j MASQUERADE", "-t filter -A INPUT -m conntrack --ctstate INVALID -j DROP", "-t raw -A OUTPUT -j NOTRACK"], rules);
    }
}
