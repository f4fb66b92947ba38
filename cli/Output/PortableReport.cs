using ConntrackModel.Cli.Commands;
using ConntrackModel.Model.Choices;
using ConntrackModel.Properties.Checking;

namespace ConntrackModel.Cli.Output;

/// <summary>
/// <c>check --pcap --itf --sh</c>, either engine: the minimal counterexample as pcapng, as an ITF trace and as a
/// standalone reproducer script next to the report, which gains a section linking them; stale ones from an earlier
/// run go.
/// </summary>
public static class PortableReport
{
    /// <summary>Each flag with the file it writes, in the order the report lists them.</summary>
    public static IReadOnlyList<(string Flag, string File)> Files { get; } =
        [("--pcap", "minimal.pcapng"), ("--itf", "minimal.itf.json"), ("--sh", "minimal.sh")];

    /// <summary>The flags of <see cref="Files"/> the command line gave.</summary>
    public static IReadOnlySet<string> Asked(Options o)
    {
        ArgumentNullException.ThrowIfNull(o);
        return Files.Select(f => f.Flag).Where(o.Has).ToHashSet(StringComparer.Ordinal);
    }

    /// <summary>Writes the files <paramref name="asked"/> names (none without a counterexample); returns ", NAME, ..." for the summary line.</summary>
    public static string Write(IReadOnlySet<string> asked, string outDir, Counterexample? cx)
    {
        ArgumentNullException.ThrowIfNull(asked);
        ArgumentNullException.ThrowIfNull(outDir);
        var written = new List<string>();
        foreach (var (flag, name) in Files)
        {
            var path = Path.Combine(outDir, name);
            if (cx is null || !asked.Contains(flag))
            {
                if (File.Exists(path)) File.Delete(path);
                continue;
            }
            if (flag == "--sh")
            {
                Reproducer.WriteFile(path, Reproducer.Write(cx.Scenario, "minimal.scenario", ChoiceSource.First));
            }
            else
            {
                using var f = File.Create(path);
                if (flag == "--pcap") Pcapng.Write(cx.Simulation, f);
                else Itf.Write(cx.Scenario, ChoiceSource.First, f);
            }
            written.Add(name);
        }
        if (written.Count == 0) return "";
        var links = string.Join("\n", written.Select(n => n switch
        {
            "minimal.pcapng" => $"- [`{n}`]({n}): the model's packets, one interface per namespace and device (`tcpdump -r {n}`, Wireshark)",
            "minimal.itf.json" => $"- [`{n}`]({n}): the run as an ITF trace (Apalache, Quint and ITF viewers)",
            _ => $"- [`{n}`]({n}): a standalone bash script that runs the counterexample on any Linux machine's kernel and checks the model's prediction (`sudo bash {n}`; exit 0 agrees, 1 does not, 4 skipped)",
        }));
        File.AppendAllText(Path.Combine(outDir, "report.md"), $"\n## The counterexample elsewhere\n\n{links}\n");
        return ", " + string.Join(", ", written);
    }
}
