using System.Buffers.Binary;
using System.Diagnostics;
using System.Text;
using ConntrackModel.Cli;
using ConntrackModel.Cli.Output;
using ConntrackModel.Model.Kernel;
using Xunit.Abstractions;

namespace ConntrackModel.Tests;

/// <summary>
/// <c>simulate --pcap</c>: the file is read back block by block (interfaces per namespace and device, one packet per
/// captured event, valid checksums, comments naming the sender), and by <c>tcpdump -r</c> (it needs no root; skipped,
/// with the reason, where tcpdump is not installed), which must print one line per packet with the trace's addresses.
/// </summary>
public class PcapTests(ITestOutputHelper output)
{
    public static TheoryData<string> Examples => ["reference.scenario", "node-udp-late-start.scenario", "node-udp-stale-dnat.scenario", "node-forward-unreachable.scenario"];

    private static readonly string[] TcpdumpArgs = ["-nn", "-S", "-r"];

    private sealed record Packet(int Interface, long Micros, byte[] Data, string Comment);

    /// <summary>A minimal pcapng reader: the interface names and the enhanced packets, checking every block's framing.</summary>
    private static (List<string> Interfaces, List<Packet> Packets) Read(byte[] file)
    {
        var interfaces = new List<string>();
        var packets = new List<Packet>();
        var at = 0;
        while (at < file.Length)
        {
            var type = BinaryPrimitives.ReadUInt32LittleEndian(file.AsSpan(at));
            var length = (int)BinaryPrimitives.ReadUInt32LittleEndian(file.AsSpan(at + 4));
            Assert.Equal(length, (int)BinaryPrimitives.ReadUInt32LittleEndian(file.AsSpan(at + length - 4)));
            Assert.Equal(0, length % 4);
            var body = file.AsSpan(at + 8, length - 12);
            switch (type)
            {
                case 0x0A0D0D0A:
                    Assert.Equal(0x1A2B3C4Du, BinaryPrimitives.ReadUInt32LittleEndian(body));
                    break;
                case 1:
                    Assert.Equal(228, BinaryPrimitives.ReadUInt16LittleEndian(body));
                    interfaces.Add(Options(body[8..]).Single(o => o.Code == 2).Value);
                    break;
                case 6:
                    var len = (int)BinaryPrimitives.ReadUInt32LittleEndian(body[12..]);
                    var micros = ((long)BinaryPrimitives.ReadUInt32LittleEndian(body[4..]) << 32) | BinaryPrimitives.ReadUInt32LittleEndian(body[8..]);
                    var data = body.Slice(20, len).ToArray();
                    var comment = Options(body[(20 + ((len + 3) & ~3))..]).Single(o => o.Code == 1).Value;
                    packets.Add(new Packet((int)BinaryPrimitives.ReadUInt32LittleEndian(body), micros, data, comment));
                    break;
                default:
                    Assert.Fail($"unexpected block type {type:x}");
                    break;
            }
            at += length;
        }
        return (interfaces, packets);
    }

    private static List<(int Code, string Value)> Options(ReadOnlySpan<byte> b)
    {
        var list = new List<(int, string)>();
        var i = 0;
        while (true)
        {
            var code = BinaryPrimitives.ReadUInt16LittleEndian(b[i..]);
            var len = BinaryPrimitives.ReadUInt16LittleEndian(b[(i + 2)..]);
            if (code == 0) return list;
            list.Add((code, Encoding.UTF8.GetString(b.Slice(i + 4, len))));
            i += 4 + ((len + 3) & ~3);
        }
    }

    [Theory]
    [MemberData(nameof(Examples))]
    public void Pcap_HoldsEveryCapturedPacket_OnItsNamespacesInterface_WithValidChecksums(string example)
    {
        var file = Path.Combine(AppContext.BaseDirectory, "examples", example);
        var pcap = Path.Combine(Path.GetTempPath(), $"ctm-pcap-{Environment.ProcessId}-{example}.pcapng");
        try
        {
            using var o = new StringWriter();
            using var e = new StringWriter();
            var code = Program.Run(["simulate", file, "--pcap", pcap], o, e);
            Assert.True(code is ExitCode.Ok or ExitCode.Violation, e.ToString());
            var captured = Run.Sim(File.ReadAllText(file)).Steps.SelectMany(s => s.Events).OfType<KernelEvent.Captured>().ToList();
            var (interfaces, packets) = Read(File.ReadAllBytes(pcap));
            Assert.Equal(captured.Select(c => $"{c.Netns ?? "init"}/{c.Device}").Distinct().ToArray(), interfaces.ToArray());
            Assert.Equal(captured.Count, packets.Count);
            for (var i = 0; i < packets.Count; i++)
            {
                var (c, p) = (captured[i], packets[i]);
                Assert.Equal($"{c.Netns ?? "init"}/{c.Device}", interfaces[p.Interface]);
                Assert.Equal(c.Time * 1000, p.Micros);
                Assert.StartsWith($"sent by {c.Segment.Origin}", p.Comment, StringComparison.Ordinal);
                Assert.Equal(0, Pcapng.Checksum(p.Data[..20], 0));
                Assert.Equal(c.Segment.Tuple.Src.Ip.Value, BinaryPrimitives.ReadUInt32BigEndian(p.Data.AsSpan(12)));
                Assert.Equal(c.Segment.Tuple.Dst.Ip.Value, BinaryPrimitives.ReadUInt32BigEndian(p.Data.AsSpan(16)));
                // The transport checksum verifies: ICMP over its message, TCP and UDP with the pseudo-header.
                var transport = p.Data[20..];
                var pseudo = p.Data[9] == 1 ? 0u : (BinaryPrimitives.ReadUInt16BigEndian(p.Data.AsSpan(12)) + (uint)BinaryPrimitives.ReadUInt16BigEndian(p.Data.AsSpan(14)) +
                    BinaryPrimitives.ReadUInt16BigEndian(p.Data.AsSpan(16)) + BinaryPrimitives.ReadUInt16BigEndian(p.Data.AsSpan(18)) + p.Data[9] + (uint)transport.Length);
                Assert.Equal(0, Pcapng.Checksum(transport, pseudo));
            }
            // The NAT decisions are named on the packet that follows them.
            if (example == "node-udp-late-start.scenario")
                Assert.Contains(packets, p => p.Comment.Contains("SNAT (MASQUERADE): 10.244.0.2:5353->192.168.1.20:53 becomes 192.168.1.10:5353", StringComparison.Ordinal));
        }
        finally
        {
            File.Delete(pcap);
        }
    }

    /// <summary>tcpdump reads the file: skipped, with the reason, where tcpdump is not installed (CI has it, and fails on a skip).</summary>
    [TcpdumpTheory]
    [MemberData(nameof(Examples))]
    public void Pcap_TcpdumpReadsIt_OneLinePerPacket_WithTheTracesAddresses(string example)
    {
        var file = Path.Combine(AppContext.BaseDirectory, "examples", example);
        var pcap = Path.Combine(Path.GetTempPath(), $"ctm-pcap-td-{Environment.ProcessId}-{example}.pcapng");
        try
        {
            Assert.True(Program.Run(["simulate", file, "--pcap", pcap], new StringWriter(), new StringWriter()) is ExitCode.Ok or ExitCode.Violation);
            TcpdumpReadsIt(pcap, Run.Sim(File.ReadAllText(file)).Steps.SelectMany(s => s.Events).OfType<KernelEvent.Captured>().ToList());
        }
        finally
        {
            File.Delete(pcap);
        }
    }

    [Fact]
    public void Pcap_AnUnwritablePath_IsBadInput_BeforeTheRun()
    {
        using var o = new StringWriter();
        using var e = new StringWriter();
        var code = Program.Run(["simulate", Path.Combine(AppContext.BaseDirectory, "examples", "reference.scenario"), "--pcap", "/nonexistent-ctmodel-dir/x.pcapng"], o, e);
        Assert.Equal(ExitCode.BadInput, code);
        Assert.Contains("simulate: --pcap /nonexistent-ctmodel-dir/x.pcapng: cannot write", e.ToString(), StringComparison.Ordinal);
        Assert.Equal("", o.ToString());
    }

    private void TcpdumpReadsIt(string pcap, List<KernelEvent.Captured> captured)
    {
        var psi = new ProcessStartInfo(TcpdumpTheoryAttribute.Tcpdump!) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in TcpdumpArgs) psi.ArgumentList.Add(a);
        psi.ArgumentList.Add(pcap);
        using var p = Process.Start(psi)!;
        var lines = p.StandardOutput.ReadToEnd().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        p.WaitForExit();
        Assert.Equal(0, p.ExitCode);
        Assert.Equal(captured.Count, lines.Length);
        for (var i = 0; i < lines.Length; i++)
        {
            var s = captured[i].Segment;
            var expected = s.Icmp is { } icmp
                ? $"IP {s.Tuple.Src.Ip} > {s.Tuple.Dst.Ip}: ICMP {icmp.ToTcpdump()}, length {IcmpErrorLength(s)}"
                : $"IP {s.Tuple.Src.ToTcpdump()} > {s.Tuple.Dst.ToTcpdump()}: ";
            Assert.Contains(expected, lines[i], StringComparison.Ordinal);
            if (s.IsUdp || s.Icmp is not null) continue;
            Assert.Contains($"Flags [{s.FlagString()}]", lines[i], StringComparison.Ordinal);
            // tcpdump prints a sequence number where the trace does (not on a bare ACK).
            if (s.ToTcpdump().Contains(", seq ", StringComparison.Ordinal)) Assert.Contains($"seq {s.Seq}", lines[i], StringComparison.Ordinal);
        }
        output.WriteLine($"tcpdump -r printed the {lines.Length} packets");
    }

    private static int IcmpErrorLength(Model.Packets.Segment s) => Model.Packets.IcmpError.Length(s.Icmp!.Inner, s.Icmp.InnerPayload);
}

/// <summary>A theory that runs <c>tcpdump -r</c>: skipped where tcpdump is not installed, the reason saying so.</summary>
public sealed class TcpdumpTheoryAttribute : TheoryAttribute
{
    private static readonly string[] Candidates = ["/usr/bin/tcpdump", "/usr/sbin/tcpdump"];

    /// <summary>The installed tcpdump, or null.</summary>
    public static string? Tcpdump { get; } = Candidates.FirstOrDefault(File.Exists);

    public override string? Skip
    {
        get => base.Skip ?? (Tcpdump is null ? "needs tcpdump (apt-get install tcpdump) to read the file back" : null);
        set => base.Skip = value;
    }
}
