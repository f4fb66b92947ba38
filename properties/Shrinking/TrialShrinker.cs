using System.Collections.Immutable;
using System.Globalization;
using System.Text.RegularExpressions;
using ConntrackModel.Model.Choices;
using ConntrackModel.Model.Iptables;
using ConntrackModel.Model.Packets;
using ConntrackModel.Model.Scenarios;
using ConntrackModel.Properties.Configs;
using ConntrackModel.Properties.Generation;

namespace ConntrackModel.Properties.Shrinking;

/// <summary>
/// Shrink candidates for a failing trial, most aggressive first: cut everything after the first violation,
/// remove blocks, single commands and pairs (with the commands that name a removed connection), move a connect to
/// its connection's first use, remove one command while moving another (short trials), remove a connect while binding the later unbound connects of its namespace to the
/// ports they had, merge adjacent sleeps and repeated sends, turn a send, close or abort into a fresh connect, drop binds, rename connections toward A, B, ..., move ports toward the front of their pool, simplify
/// rules (ranges to single ports, no --random, no matches), shorten sleeps, and shrink choices toward the first
/// alternative. Every candidate is re-validated by replay (<see cref="IsValid"/>): FsCheck keeps the first one that
/// still fails and starts over from it, so the result is a local minimum: no single removal still fails.
/// </summary>
public static partial class TrialShrinker
{
    /// <summary>Pairs of commands are removed together only in trials at most this long.</summary>
    public const int PairLimit = 8;

    /// <summary>Ranges shorter than this shrink to each of their ports, longer ones to their ends.</summary>
    public const int ShortRange = 16;

    public static IEnumerable<Trial> Shrink(CheckConfig config, Trial trial)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(trial);
        var seen = new HashSet<string>(StringComparer.Ordinal) { Key(trial) };
        // One replay of the trial serves every candidate family that looks at its run.
        var candidates = Candidates(trial, trial.Replay());
        if (config.Node is { } node) candidates = candidates.Concat(EarlierOrigins(trial, node));
        if (config.Space is { ShrinkSetup: true } space) candidates = candidates.Concat(SetupCandidates(trial, space));
        foreach (var c in candidates)
        {
            if (seen.Add(Key(c)) && IsValid(config, c)) yield return c;
        }
    }

    /// <summary>
    /// On a node, a connect moves to an origin of a lower number (pod 2 to pod 1, a pod to node), a bound one with the
    /// same port on that origin's address: a collision that needed one pod's socket table to be free of a port finds
    /// another pod's so. Only toward lower numbers, so shrinking terminates.
    /// </summary>
    private static IEnumerable<Trial> EarlierOrigins(Trial t, NodeTopology node)
    {
        for (var i = 0; i < t.Body.Count; i++)
        {
            if (t.Body[i] is not Command.Connect c) continue;
            var k = NodeTopology.OriginOf(c.Netns);
            for (var j = 0; j < k && j <= node.Pods; j++)
            {
                var moved = c with { Netns = NodeTopology.Netns(j), Local = c.Local is { } l ? new Model.Addressing.SockAddr(NodeTopology.Address(j), l.Port) : null };
                yield return t.WithBody(t.Body.SetItem(i, moved));
            }
        }
    }

    /// <summary>
    /// <c>--shrink-setup</c>: the trial without one of the setup's own commands, or with one rule line fewer in one of its
    /// restores (in the setup or deferred into the body); the configuration's own additions (the expiry sysctls) stay.
    /// </summary>
    private static IEnumerable<Trial> SetupCandidates(Trial t, Setups.SetupSpace space)
    {
        var own = space.Lines.Select(l => l.Command).ToList();
        for (var i = 0; i < t.Setup.Count; i++)
        {
            if (!own.Any(c => Setups.SetupSpaces.ShrunkFrom(t.Setup[i], c))) continue;
            yield return t with { Setup = t.Setup.RemoveAt(i) };
        }
        for (var i = 0; i < t.Setup.Count; i++)
        {
            if (t.Setup[i] is not Command.IptablesRestore r) continue;
            for (var k = 0; k < r.Dump.Length; k++)
            {
                if (Setups.SetupSpaces.WithoutDumpLine(r, k) is { } smaller) yield return t with { Setup = t.Setup.SetItem(i, smaller) };
            }
        }
        for (var i = 0; i < t.Body.Count; i++)
        {
            if (t.Body[i] is not Command.IptablesRestore r) continue;
            for (var k = 0; k < r.Dump.Length; k++)
            {
                if (Setups.SetupSpaces.WithoutDumpLine(r, k) is { } smaller) yield return t.WithBody(t.Body.SetItem(i, smaller));
            }
        }
    }

    private static string Key(Trial t) => t.ToString();

    /// <summary>A candidate the configuration admits and the model runs without rejecting any command.</summary>
    public static bool IsValid(CheckConfig config, Trial t)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(t);
        return Admits(config, t) && t.Replay().Rejected is null;
    }

    /// <summary>
    /// Is the trial one the configuration generates at all: a body, for a configuration with tracking from the start a
    /// first command that starts tracking (the definition the generator and the Z3 encoding use too), rules only of the
    /// configuration's kinds (on a node, its one rule), and where connections open only before the rule, no connect
    /// after it?
    /// </summary>
    public static bool Admits(CheckConfig config, Trial t)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(t);
        if (t.Body.IsEmpty || (config.TrackingFromStart && !StartsTracking(t.Body[0]))) return false;
        // Around a user's setup: the setup stays as written, its deferred netfilter lines all there, in their order.
        if (config.Space is { } space)
        {
            var lines = t.Body.Where(Setups.SetupSpaces.IsNetfilterLine).ToList();
            // With --shrink-setup some may be gone, and a restore may have lost rule lines; their order stays.
            return space.ShrinkSetup
                ? Setups.SetupSpaces.IsSubsequence(lines, space.Deferred, Setups.SetupSpaces.ShrunkFrom)
                : lines.SequenceEqual(space.Deferred);
        }
        // Only the configuration's rules: stripping --random-fully must not turn node-random-fully into node-late.
        foreach (var add in t.Body.OfType<Command.IptablesAdd>())
        {
            if (RuleKinds.TryOf(add.Rule) is not { } addKind || !config.Rules.Contains(addKind)) return false;
            if (config.Node is { } node && !add.Rule.SameRule(((Command.IptablesAdd)ScenarioParser.ParseLine(node.Rule)).Rule)) return false;
        }
        foreach (var replace in t.Body.OfType<Command.IptablesReplace>())
        {
            if (RuleKinds.TryOf(replace.Rule) is not { } replaceKind || !config.Rules.Contains(replaceKind)) return false;
            if (config.Node is not null && !replace.Rule.SameRule(((Command.IptablesReplace)ScenarioParser.ParseLine(NodeTopology.ReplacementRule)).Rule)) return false;
        }
        if (!config.ConnectsBeforeRuleOnly) return true;
        var rule = t.Body.FindIndex(c => c is Command.IptablesAdd);
        return rule < 0 || t.Body.Skip(rule).All(c => c is not Command.Connect);
    }

    /// <summary>Does the command take a conntrack reference (a rule whose target uses conntrack, or modprobe)?</summary>
    public static bool StartsTracking(Command c) => c switch
    {
        Command.IptablesAdd a => XtTable.UsesConntrack(a.Rule),
        Command.Modprobe => true,
        _ => false,
    };

    /// <summary>The body without command <paramref name="i"/> and every command that names the connection it opened.</summary>
    public static ImmutableList<Command> RemoveAt(ImmutableList<Command> body, int i) => RemoveRange(body, i, 1);

    private static ImmutableList<Command> RemoveRange(ImmutableList<Command> body, int start, int count)
    {
        var removed = body.GetRange(start, count);
        var names = removed.OfType<Command.Connect>().Select(c => c.Name).ToHashSet(StringComparer.Ordinal);
        var kept = body.RemoveRange(start, count);
        return names.Count == 0 ? kept : kept.RemoveAll(c => ConnectionOf(c) is { } n && names.Contains(n));
    }

    private static string? ConnectionOf(Command c) => c switch
    {
        Command.Connect x => x.Name,
        Command.Send x => Segment.ConnectionOf(x.End),
        Command.Close x => Segment.ConnectionOf(x.End),
        Command.Abort x => Segment.ConnectionOf(x.End),
        _ => null,
    };

    private static IEnumerable<Trial> Candidates(Trial t, Model.Kernel.Simulation run)
    {
        var body = t.Body;
        var n = body.Count;

        // Everything after the first violating step is noise.
        var first = run.Violations.Select(v => v.Step).DefaultIfEmpty(int.MaxValue).Min() - t.Setup.Count;
        if (first >= 1 && first < n) yield return t.WithBody(body.GetRange(0, first));

        for (var size = n / 2; size >= 2; size /= 2)
        {
            for (var start = 0; start + size <= n; start += size) yield return t.WithBody(RemoveRange(body, start, size));
        }
        for (var i = n - 1; i >= 0; i--) yield return t.WithBody(RemoveAt(body, i));

        // A later command that starts tracking takes the first one's place: with tracking from the start the first
        // command may only be removed that way (a fresh-seed `flush` run stopped at six commands, the MASQUERADE rule
        // it began with no longer needed once the SNAT rule inserted after it came first).
        for (var i = 1; i < n; i++)
        {
            if (StartsTracking(body[i])) yield return t.WithBody(body.RemoveAt(i).SetItem(0, body[i]));
        }

        foreach (var c in ConnectsMovedToTheirUse(t)) yield return c;
        foreach (var c in RemovalsKeepingPorts(t, run)) yield return c;

        // Pairs: a command that only matters together with another (a bound port that steers NAT elsewhere and the
        // connect that needed it) goes in one step. Quadratic, so only once the trial is short.
        if (n <= PairLimit)
        {
            for (var i = n - 1; i >= 1; i--)
            {
                for (var j = i - 1; j >= 0; j--) yield return t.WithBody(RemoveAt(RemoveAt(body, i), j));
            }
        }

        foreach (var c in MovesWithARemoval(t)) yield return c;
        foreach (var c in SendsToConnects(t)) yield return c;
        foreach (var c in Merges(t)) yield return c;
        foreach (var c in RenameConnections(t)) yield return c;
        // A connect without bind is the simpler command: the kernel picks the port.
        for (var i = 0; i < n; i++)
        {
            if (body[i] is Command.Connect { Local: not null } bound) yield return t.WithBody(body.SetItem(i, bound with { Local = null }));
        }
        foreach (var c in MovePorts(t)) yield return c;
        foreach (var c in SimplifyRules(t)) yield return c;
        foreach (var c in ShortenSleeps(t)) yield return c;
        foreach (var c in ShrinkChoices(t, run)) yield return c;
    }

    /// <summary>
    /// A send, close or abort after tracking started can collide only because its connection's packet gets an
    /// entry (and a NAT mapping) there; a fresh connect to the same server does the same with one connection less
    /// involved earlier. These only ever become connects, never the reverse, so this cannot cycle.
    /// </summary>
    private static IEnumerable<Trial> SendsToConnects(Trial t)
    {
        var body = t.Body;
        var names = body.OfType<Command.Connect>().Select(c => c.Name).ToHashSet(StringComparer.Ordinal);
        var fresh = Enumerable.Range(0, names.Count + 1).Select(Pools.ConnectionName).First(n => !names.Contains(n));
        for (var i = 0; i < body.Count; i++)
        {
            var end = body[i] switch
            {
                Command.Send x => x.End,
                Command.Close x => x.End,
                Command.Abort x => x.End,
                _ => null,
            };
            if (end is null) continue;
            var conn = Segment.ConnectionOf(end);
            if (body.Take(i).OfType<Command.Connect>().FirstOrDefault(c => c.Name == conn) is { } opened)
                yield return t.WithBody(body.SetItem(i, opened with { Name = fresh, Local = null }));
        }
    }

    /// <summary>Trials at most this long also try every removal combined with moving one other command.</summary>
    public const int MoveLimit = 6;

    /// <summary>
    /// One command removed and another moved elsewhere, at once (short trials only): a node process whose connect
    /// must come after the flush rather than before it, once the command that needed it there is gone. Always one
    /// command shorter, so shrinking still terminates.
    /// </summary>
    private static IEnumerable<Trial> MovesWithARemoval(Trial t)
    {
        var n = t.Body.Count;
        if (n > MoveLimit) yield break;
        for (var j = n - 1; j >= 0; j--)
        {
            var kept = RemoveAt(t.Body, j);
            for (var i = 0; i < kept.Count; i++)
            {
                for (var p = 0; p < kept.Count; p++)
                {
                    if (p != i) yield return t.WithBody(kept.RemoveAt(i).Insert(p, kept[i]));
                }
            }
        }
    }

    /// <summary>
    /// A connection opened early and used later (a send after the rule, say) may as well be opened where it is first
    /// used: its connect moves there and its other commands go. On a node a pod connection opened before the rule and
    /// sent on after it shrinks so to the connect after the rule that collides the same way.
    /// </summary>
    private static IEnumerable<Trial> ConnectsMovedToTheirUse(Trial t)
    {
        var body = t.Body;
        for (var i = 0; i < body.Count; i++)
        {
            if (body[i] is not Command.Connect c) continue;
            var use = -1;
            for (var j = i + 1; j < body.Count && use < 0; j++)
            {
                if (ConnectionOf(body[j]) == c.Name) use = j;
            }
            if (use < 0) continue;
            // The first use becomes the connect; the connection's later commands stay after it.
            yield return t.WithBody(body.SetItem(use, c).RemoveAt(i));
        }
    }

    /// <summary>
    /// Removing a connect frees what it held (an ephemeral port, a NAT tuple), so later connections draw other ports
    /// and the collision they took part in may vanish. These candidates remove the connect and keep the rest of the run
    /// as it was: each later unbound connect of its namespace is bound to the local address it had, and each later
    /// connection's NAT decisions are pinned to give the wire address it had (<see cref="ChoiceMade.ValueFor"/>). A
    /// second form binds each later connect to the port its server saw (on a node, a pod pushed off its port by the
    /// removed connection and MASQUERADEd onto another keeps that one when it binds it).
    /// </summary>
    private static IEnumerable<Trial> RemovalsKeepingPorts(Trial t, Model.Kernel.Simulation run)
    {
        var body = t.Body;
        for (var i = body.Count - 1; i >= 0; i--)
        {
            if (body[i] is not Command.Connect removed) continue;
            var kept = RemoveAt(body, i);
            var local = kept.Select(x => x is Command.Connect { Local: null } later && later.Netns == removed.Netns &&
                run.Final.FindConnection(later.Name) is { Local.Port: > 0 } had && had.Local.Ip.Value != 0 ? later with { Local = had.Local } : x).ToImmutableList();
            yield return KeepWires(t.WithBody(local), run);
            var wire = kept.Select(x => x is Command.Connect later && FirstSynPort(run, later.Name) is { } port &&
                run.Final.FindConnection(later.Name) is { Local.Ip.Value: not 0 } had && port != had.Local.Port
                    ? later with { Local = had.Local.WithPort(port) } : x).ToImmutableList();
            if (!wire.SequenceEqual(kept)) yield return t.WithBody(wire);
        }
    }

    /// <summary>
    /// The source port of connection <paramref name="name"/>'s first SYN as it left the last namespace it crossed (the
    /// address the server saw it from): where a collision happened, the port it collided on.
    /// </summary>
    private static int? FirstSynPort(Model.Kernel.Simulation run, string name)
    {
        if (run.Final.Sockets.End(name + ".server") is not { } server) return null;
        return run.Events.OfType<Model.Kernel.KernelEvent.Captured>()
            .Where(c => c.Segment.Origin == name && c.Segment.Flags == Model.Packets.TcpFlags.Syn && c.Segment.Tuple.Src.Ip == server.Remote.Ip)
            .Select(c => (int?)c.Segment.Tuple.Src.Port).FirstOrDefault();
    }

    /// <summary>
    /// The trial with each connection's source NAT decisions pinned so the server sees it from the address it saw in
    /// <paramref name="original"/>; re-pinned until stable (a pin can change the alternatives a later decision lists).
    /// </summary>
    private static Trial KeepWires(Trial t, Model.Kernel.Simulation original)
    {
        for (var round = 0; round < 4; round++)
        {
            var pins = t.Choices;
            foreach (var ev in t.Replay().Events.OfType<Model.Kernel.KernelEvent.Choice>())
            {
                if (!ev.Made.Point.Key.StartsWith("nat:src:", StringComparison.Ordinal)) continue;
                if (original.Final.Sockets.End(ev.Owner + ".server") is not { } server) continue;
                if (ev.Made.ValueFor(server.Remote) is { } v) pins = pins.SetItem(ev.Made.Point.Key, v);
            }
            if (pins.SequenceEqual(t.Choices)) break;
            t = t with { Choices = pins };
        }
        return t;
    }

    private static IEnumerable<Trial> Merges(Trial t)
    {
        var body = t.Body;
        for (var i = 0; i + 1 < body.Count; i++)
        {
            switch (body[i], body[i + 1])
            {
                case (Command.Sleep a, Command.Sleep b):
                    yield return t.WithBody(body.RemoveAt(i + 1).SetItem(i, new Command.Sleep(a.Milliseconds + b.Milliseconds)));
                    break;
                case (Command.Send a, Command.Send b) when a.End == b.End:
                    yield return t.WithBody(body.RemoveAt(i + 1));
                    break;
            }
        }
    }

    // ------------------------------------------------------------------ renaming connections

    private static IEnumerable<Trial> RenameConnections(Trial t)
    {
        var names = t.Body.OfType<Command.Connect>().Select(c => c.Name).ToList();
        var used = names.ToHashSet(StringComparer.Ordinal);
        foreach (var from in names)
        {
            for (var k = 0; k < names.Count; k++)
            {
                var to = Pools.ConnectionName(k);
                if (string.CompareOrdinal(to, from) >= 0 || used.Contains(to)) continue;
                yield return Rename(t, from, to);
                break;
            }
        }
    }

    private static Trial Rename(Trial t, string from, string to)
    {
        string End(string e) => Segment.ConnectionOf(e) == from ? to + e[from.Length..] : e;
        var body = t.Body.Select(c => c switch
        {
            Command.Connect x when x.Name == from => x with { Name = to },
            Command.Send x => x with { End = End(x.End) },
            Command.Close x => x with { End = End(x.End) },
            Command.Abort x => x with { End = End(x.End) },
            _ => c,
        }).ToImmutableList();
        // Answers left over from a removed connection that had the new name go first.
        var choices = t.Choices.Where(kv => !NamesConnection(kv.Key, to))
            .ToImmutableSortedDictionary(kv => NamesConnection(kv.Key, from) ? ConnectionKey(from).Replace(kv.Key, to) : kv.Key, kv => kv.Value, StringComparer.Ordinal);
        return t with { Body = body, Choices = choices };
    }

    private static Regex ConnectionKey(string name) =>
        new("(?<=:)" + Regex.Escape(name) + @"(?=(\.server)?(#|$))", RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1));

    /// <summary>Does choice key <paramref name="key"/> belong to connection <paramref name="name"/> (e.g. ephemeral:B, nat:dst:B.server#1:port)?</summary>
    private static bool NamesConnection(string key, string name) => ConnectionKey(name).IsMatch(key);

    // ------------------------------------------------------------------ text-level simplifications

    /// <summary>
    /// Ports move toward the front of their pool: onto a smaller unused port, or, where a larger port is used before
    /// a smaller one, by swapping the two (each swap sorts the order of first use, so shrinking terminates).
    /// </summary>
    private static IEnumerable<Trial> MovePorts(Trial t)
    {
        var lines = t.Body.Select(c => c.ToScript()).ToList();
        var firstUse = new List<int>();
        foreach (var line in lines.Where(l => !l.StartsWith("sleep", StringComparison.Ordinal)))
        {
            foreach (var m in PortNumber().Matches(line).Cast<Match>())
            {
                var p = int.Parse(m.Value, CultureInfo.InvariantCulture);
                if (Pools.PoolOf(p) is not null && !firstUse.Contains(p)) firstUse.Add(p);
            }
        }
        var used = firstUse.ToHashSet();
        foreach (var p in firstUse.Order())
        {
            var q = Pools.PoolOf(p)!.FirstOrDefault(q => q < p && !used.Contains(q));
            if (q != 0 && Reparse(t, lines.Select(l => MapPorts(l, new Dictionary<int, int> { [p] = q }))) is { } c) yield return c;
        }
        for (var i = 0; i < firstUse.Count; i++)
        {
            for (var j = i + 1; j < firstUse.Count; j++)
            {
                var (big, small) = (firstUse[i], firstUse[j]);
                if (small < big && Pools.PoolOf(small) == Pools.PoolOf(big) &&
                    Reparse(t, lines.Select(l => MapPorts(l, new Dictionary<int, int> { [big] = small, [small] = big }))) is { } c)
                    yield return c;
            }
        }
    }

    private static string MapPorts(string line, Dictionary<int, int> map) =>
        line.StartsWith("sleep", StringComparison.Ordinal)
            ? line
            : PortNumber().Replace(line, m => map.TryGetValue(int.Parse(m.Value, CultureInfo.InvariantCulture), out var to) ? to.ToString(CultureInfo.InvariantCulture) : m.Value);

    private static IEnumerable<Trial> SimplifyRules(Trial t)
    {
        var lines = t.Body.Select(c => c.ToScript()).ToList();
        var specs = t.Body.OfType<Command.IptablesAdd>().Select(a => a.Rule.Spec).Distinct(StringComparer.Ordinal).ToList();
        foreach (var spec in specs)
        {
            foreach (var simpler in Simpler(spec))
            {
                if (Reparse(t, lines.Select(l => l.Replace(spec, simpler, StringComparison.Ordinal))) is { } c) yield return c;
            }
        }
        // -I CHAIN N becomes -A CHAIN.
        for (var i = 0; i < lines.Count; i++)
        {
            var m = InsertAt().Match(lines[i]);
            if (m.Success && Reparse(t, lines.Select((l, k) => k == i ? InsertAt().Replace(l, "-A $1") : l)) is { } c) yield return c;
        }
    }

    private static IEnumerable<string> Simpler(string spec)
    {
        foreach (var flag in new[] { " --random-fully", " --random", " --persistent" })
        {
            if (spec.Contains(flag, StringComparison.Ordinal)) yield return spec.Replace(flag, "", StringComparison.Ordinal);
        }
        var range = PortRange().Match(spec);
        if (range.Success)
        {
            // A range becomes one of its ports: the ends, and for short ranges every port (the collision may have
            // used one in the middle).
            var lo = int.Parse(range.Groups[1].Value, CultureInfo.InvariantCulture);
            var hi = int.Parse(range.Groups[2].Value, CultureInfo.InvariantCulture);
            var ports = hi - lo < ShortRange ? Enumerable.Range(lo, hi - lo + 1) : [lo, hi];
            foreach (var p in ports) yield return spec.Remove(range.Index, range.Length).Insert(range.Index, p.ToString(CultureInfo.InvariantCulture));
        }
        foreach (Match m in MatchOption().Matches(spec)) yield return spec.Remove(m.Index, m.Length);
    }

    private static Trial? Reparse(Trial t, IEnumerable<string> lines)
    {
        try
        {
            return t.WithBody(lines.Select(ScenarioParser.ParseLine).ToImmutableList());
        }
        catch (FormatException)
        {
            return null;
        }
    }

    private static IEnumerable<Trial> ShortenSleeps(Trial t)
    {
        for (var i = 0; i < t.Body.Count; i++)
        {
            if (t.Body[i] is not Command.Sleep s || s.Milliseconds <= 1) continue;
            foreach (var ms in Toward(s.Milliseconds, 1)) yield return t.WithBody(t.Body.SetItem(i, new Command.Sleep(ms)));
        }
    }

    private static IEnumerable<Trial> ShrinkChoices(Trial t, Model.Kernel.Simulation run)
    {
        // Answers no point asks for any more go first; then each answer toward the first alternative.
        var asked = TrialGen.Recorded(run).Keys.ToHashSet(StringComparer.Ordinal);
        var unused = t.Choices.Keys.Where(k => !asked.Contains(k)).ToList();
        if (unused.Count > 0) yield return t with { Choices = t.Choices.RemoveRange(unused) };
        // Answers of 0 say what the fallback says anyway.
        var zeros = t.Choices.Where(kv => kv.Value == 0).Select(kv => kv.Key).ToList();
        if (zeros.Count > 0) yield return t with { Choices = t.Choices.RemoveRange(zeros) };
        // Answers that agree (two connects that drew the same ephemeral port) move together.
        foreach (var group in t.Choices.Where(kv => kv.Value > 0).GroupBy(kv => kv.Value).Where(g => g.Count() > 1))
        {
            foreach (var v in Toward(group.Key, 0))
                yield return t with { Choices = t.Choices.SetItems(group.Select(kv => KeyValuePair.Create(kv.Key, (int)v))) };
        }
        foreach (var (key, value) in t.Choices)
        {
            if (value == 0) continue;
            yield return t with { Choices = t.Choices.Remove(key) };
            foreach (var v in Toward(value, 0)) yield return t with { Choices = t.Choices.SetItem(key, (int)v) };
        }
    }

    /// <summary>Values from <paramref name="floor"/> up to just below <paramref name="x"/>: the floor, halfway, then ever closer to x.</summary>
    private static IEnumerable<long> Toward(long x, long floor)
    {
        if (floor < x) yield return floor;
        var d = (x - floor) / 2;
        var last = floor;
        while (d > 0)
        {
            var v = x - d;
            if (v != last && v >= floor && v < x) yield return last = v;
            d /= 2;
        }
        if (x - 1 >= floor && x - 1 != last) yield return x - 1;
    }

    [GeneratedRegex(@"(?<=[: ])\d{2,5}(?=[\s:-]|$)", RegexOptions.CultureInvariant)]
    private static partial Regex PortNumber();

    [GeneratedRegex(@"(\d+)-(\d+)", RegexOptions.CultureInvariant)]
    private static partial Regex PortRange();

    [GeneratedRegex(@" (?:-d \S+|--dport \d+|-s \S+|--sport \d+)", RegexOptions.CultureInvariant)]
    private static partial Regex MatchOption();

    [GeneratedRegex(@"-I (\S+) \d+", RegexOptions.CultureInvariant)]
    private static partial Regex InsertAt();
}
