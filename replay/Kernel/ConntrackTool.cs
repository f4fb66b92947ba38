using System.Collections.Immutable;
using System.Globalization;
using ConntrackModel.Model.Reporting;

namespace ConntrackModel.Replay.Kernel;

/// <summary>Parses what <c>conntrack -L</c> and <c>conntrack -S</c> print (conntrack-tools 1.4).</summary>
public static class ConntrackTool
{
    /// <summary>
    /// TCP and UDP lines of <c>conntrack -L</c>, e.g. <c>tcp 6 431999 ESTABLISHED src=127.0.0.1 dst=127.0.0.1 sport=50000
    /// dport=8080 src=127.0.0.1 dst=127.0.0.1 sport=8080 dport=40000 [ASSURED] mark=0 use=1</c>. Each entry gets
    /// <paramref name="netns"/>, the scenario name of the namespace the listing was taken in (null: the initial one).
    /// </summary>
    public static ImmutableArray<CtObservation> ParseList(string text, string? netns = null)
    {
        ArgumentNullException.ThrowIfNull(text);
        var result = ImmutableArray.CreateBuilder<CtObservation>();
        foreach (var line in text.Split('\n'))
        {
            var t = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (t.Length < 4 || t[0] is not ("tcp" or "udp")) continue;
            // UDP lines have no state: "udp 17 29 src=...".
            var state = t[0] == "tcp" ? t[3] : null;
            var fields = t.Where(x => x.Contains('=', StringComparison.Ordinal)).Select(x => x.Split('=', 2)).ToList();
            string[] Values(string key) => [.. fields.Where(f => f[0] == key).Select(f => f[1])];
            var src = Values("src");
            var dst = Values("dst");
            var sport = Values("sport");
            var dport = Values("dport");
            if (src.Length < 2 || dst.Length < 2 || sport.Length < 2 || dport.Length < 2) continue;
            result.Add(new CtObservation(t[0], state,
                $"{src[0]}:{sport[0]}->{dst[0]}:{dport[0]}",
                $"{src[1]}:{sport[1]}->{dst[1]}:{dport[1]}",
                t.Contains("[ASSURED]"), netns)
            {
                // conntrack prints the mark in decimal (mark=%u).
                Mark = Values("mark") is [var mark, ..] && uint.TryParse(mark, NumberStyles.None, CultureInfo.InvariantCulture, out var m) ? m : 0,
            });
        }
        return result.ToImmutable();
    }

    /// <summary>Sums one counter of <c>conntrack -S</c> over its per-CPU lines.</summary>
    public static long Counter(string text, string name)
    {
        ArgumentNullException.ThrowIfNull(text);
        long sum = 0;
        foreach (var kv in text.Split([' ', '\n', '\t'], StringSplitOptions.RemoveEmptyEntries))
        {
            var p = kv.Split('=', 2);
            if (p.Length == 2 && p[0] == name && long.TryParse(p[1], NumberStyles.None, CultureInfo.InvariantCulture, out var v)) sum += v;
        }
        return sum;
    }
}
