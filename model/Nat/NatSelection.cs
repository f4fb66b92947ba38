using System.Collections.Immutable;
using System.Globalization;
using ConntrackModel.Model.Addressing;
using ConntrackModel.Model.Choices;
using ConntrackModel.Model.Conntrack;

namespace ConntrackModel.Model.Nat;

/// <summary>
/// NAT tuple selection of net/netfilter/nf_nat_core.c: <c>get_unique_tuple</c>, <c>find_appropriate_src</c>,
/// <c>find_best_ips_proto</c>, <c>nf_nat_l4proto_unique_tuple</c> and the "is it used?" helpers
/// <c>nf_nat_used_tuple</c>, <c>nf_nat_used_tuple_new</c>, <c>nf_nat_used_tuple_harder</c>.
/// The only oracle for "in use" is the conntrack table: sockets are never consulted.
/// </summary>
public static class NatSelection
{
    /// <summary>NF_NAT_MAX_ATTEMPTS.</summary>
    public const int MaxAttempts = 128;

    /// <summary>NF_NAT_HARDER_THRESH: the last 32 probes may evict closing SNATed entries.</summary>
    public const int HarderThresh = MaxAttempts / 4;

    /// <summary><c>get_unique_tuple(tuple, orig_tuple, range, ct, maniptype)</c>.</summary>
    public static NatOutcome GetUniqueTuple(ConnTuple orig, NatRange range, CtEntry ct, Manip manip, CtView table, long now,
        ChoiceSource choices, ChoiceKey key)
    {
        ArgumentNullException.ThrowIfNull(range);
        ArgumentNullException.ThrowIfNull(ct);
        ArgumentNullException.ThrowIfNull(table);
        var made = ImmutableList<ChoiceMade>.Empty;

        // 1. SRC manip without random: keep the tuple if it is in range and free; else reuse the mapping an
        //    earlier connection from the same source got (bysource hash).
        if (manip == Manip.Src && !range.RandomAll)
        {
            if (InRange(orig, range))
            {
                // nf_nat_used_tuple_new: TCP has no allow_clash, so it is nf_nat_used_tuple. For UDP it may call a used
                // tuple free when the entry holding it is this flow's exact reverse (two peers sending to each other at
                // once, both entries new); the holder is then unconfirmed on another CPU, which a sequence of commands
                // never has, so for the model it is nf_nat_used_tuple too.
                if (!Used(orig, ct, table, now)) return new NatOutcome(orig, null, made);
            }
            else if (FindAppropriateSrc(orig, range, table, now, ct.Netns) is { } cand)
            {
                if (!Used(cand, ct, table, now)) return new NatOutcome(cand, null, made);
            }
        }

        // 2. Address.
        var t = FindBestIps(orig, range, manip, choices, key, ref made);

        // 3. Keep the port if it is in range (a single-port range is returned without any uniqueness check).
        if (!range.RandomAll)
        {
            if (range.ProtoSpecified)
            {
                if (PortInRange(t, manip, range) && (range.MinPort == range.MaxPort || !Used(t, ct, table, now)))
                    return new NatOutcome(t, null, made);
            }
            else if (!Used(t, ct, table, now))
            {
                return new NatOutcome(t, null, made);
            }
        }

        // 4. Search the port range.
        return UniqueL4(t, range, manip, ct, table, now, choices, key, made);
    }

    /// <summary><c>nf_in_range</c>: tests the source side, address then port.</summary>
    public static bool InRange(ConnTuple t, NatRange range)
    {
        ArgumentNullException.ThrowIfNull(range);
        if (range.MapIps && (t.Src.Ip.CompareTo(range.MinIp) < 0 || t.Src.Ip.CompareTo(range.MaxIp) > 0)) return false;
        return !range.ProtoSpecified || (t.Src.Port >= range.MinPort && t.Src.Port <= range.MaxPort);
    }

    /// <summary><c>nf_nat_used_tuple</c>: would the reply tuple of <paramref name="t"/> already be in the table?</summary>
    public static bool Used(ConnTuple t, CtEntry ct, CtView table, long now)
    {
        ArgumentNullException.ThrowIfNull(ct);
        ArgumentNullException.ThrowIfNull(table);
        return table.Taken(t.Invert(), ct.Orig, now, ct.Netns);
    }

    private static bool PortInRange(ConnTuple t, Manip manip, NatRange range)
    {
        var port = manip == Manip.Src ? t.Src.Port : t.Dst.Port;
        return port >= Math.Min(range.MinPort, range.MaxPort) && port <= Math.Max(range.MinPort, range.MaxPort);
    }

    /// <summary>
    /// <c>find_appropriate_src</c>: the newest bysource entry with the same original source whose mapping, applied
    /// to our destination, is in range.
    /// </summary>
    private static ConnTuple? FindAppropriateSrc(ConnTuple orig, NatRange range, CtView table, long now, int netns)
    {
        foreach (var e in table.BySource(orig.Src, now, netns, orig.Proto).Reverse())
        {
            var cand = new ConnTuple(e.Reply.Dst, orig.Dst, orig.Proto);
            if (InRange(cand, range)) return cand;
        }
        return null;
    }

    /// <summary>
    /// <c>find_best_ips_proto</c>: a jhash of the addresses picks one address of a multi-address range. The hash is
    /// deterministic in the kernel but its key is not observable, so the model leaves the pick open.
    /// </summary>
    private static ConnTuple FindBestIps(ConnTuple t, NatRange range, Manip manip, ChoiceSource choices, ChoiceKey key, ref ImmutableList<ChoiceMade> made)
    {
        if (!range.MapIps) return t;
        var ip = range.MinIp;
        if (range.MinIp != range.MaxIp)
        {
            var count = (long)range.MaxIp.Value - range.MinIp.Value + 1;
            var point = new ChoicePoint(ChoiceKind.NatAddress, key + ":addr", (int)Math.Min(count, int.MaxValue));
            var v = choices.Choose(point);
            ip = new IPv4Address(range.MinIp.Value + (uint)v);
            var alternatives = count <= 64
                ? Enumerable.Range(0, (int)count).Select(i => new IPv4Address(range.MinIp.Value + (uint)i).ToString()).ToImmutableArray()
                : [];
            made = made.Add(new ChoiceMade(point, v, alternatives));
        }
        return manip == Manip.Src ? t with { Src = t.Src with { Ip = ip } } : t with { Dst = t.Dst with { Ip = ip } };
    }

    /// <summary>
    /// The ports a source port may move to when the NAT range names none (<c>nf_nat_l4proto_unique_tuple</c> without
    /// NF_NAT_RANGE_PROTO_SPECIFIED): it keeps its class, 1-511 below 512, 600-1023 below 1024, else 1024-65535.
    /// </summary>
    public static (int Min, int Size) PortClass(int port) =>
        port < 512 ? (1, 511) : port < 1024 ? (600, 1023 - 600 + 1) : (1024, 65535 - 1024 + 1);

    /// <summary><c>nf_nat_l4proto_unique_tuple</c> for TCP.</summary>
    private static NatOutcome UniqueL4(ConnTuple t, NatRange range, Manip manip, CtEntry ct, CtView table, long now,
        ChoiceSource choices, ChoiceKey key, ImmutableList<ChoiceMade> made)
    {
        var seq = new SeqOracle(choices, key);
        int min, size;
        if (!range.ProtoSpecified)
        {
            // DNAT without ports never moves the port.
            if (manip == Manip.Dst) return new NatOutcome(t, null, made);
            var port = t.Src.Port;
            // The kernel keeps the port's class (ip_local_port_range is not used here).
            (min, size) = PortClass(port);
        }
        else
        {
            min = Math.Min(range.MinPort, range.MaxPort);
            size = Math.Max(range.MinPort, range.MaxPort) - min + 1;
        }
        var attempts = Math.Min(size, MaxAttempts);
        var random = range.RandomAll || manip != Manip.Dst;

        if (!random)
        {
            // DNAT/REDIRECT without --random: first free port from the start of the range (offset 0, since v6.8).
            var probe = Round(t, manip, min, size, 0, attempts, ct, table, now, seq);
            return Apply(t, manip, probe, made.AddRange(seq.Made));
        }

        if (size <= MaxAttempts)
        {
            // One round covers the range. Which start offset the random u16 gives only matters through the
            // outcome it leads to, so the choice is among the distinct outcomes. Offsets within `attempts` of
            // 65536 wrap mid-round (off is a u16) and are evaluated as such.
            var outcomes = new SortedDictionary<(int Port, long Evicted), ProbeResult>();
            IEnumerable<int> starts = Enumerable.Range(0, size).Concat(Enumerable.Range(65536 - attempts + 1, attempts - 1));
            foreach (var off in starts)
            {
                var r = Round(t, manip, min, size, off, attempts, ct, table, now, seq);
                outcomes.TryAdd((r.Port, r.Evicted ?? -1), r);
            }
            var list = outcomes.Values.ToList();
            var point = new ChoicePoint(ChoiceKind.NatPortOutcome, key + ":port", list.Count);
            var v = list.Count == 1 ? 0 : choices.Choose(point);
            var labels = list.Select(r => Label(t, manip, r)).ToImmutableArray();
            if (list.Count > 1) made = made.Add(new ChoiceMade(point, v, labels));
            return Apply(t, manip, list[v], made.AddRange(seq.Made));
        }

        // Large range: rounds of 128, 64, 32, 16 probes from random u16 offsets, as the kernel does.
        var round = 0;
        while (true)
        {
            var point = new ChoicePoint(ChoiceKind.NatPortOffset, string.Create(CultureInfo.InvariantCulture, $"{key}:off{round}"), 65536) { PortLow = min, PortCount = size };
            var off = choices.Choose(point);
            var span = string.Create(CultureInfo.InvariantCulture, $"{(manip == Manip.Src ? t.Src : t.Dst).Ip}:{min}-{min + size - 1}");
            var r = Round(t, manip, min, size, off, attempts, ct, table, now, seq);
            made = made.Add(new ChoiceMade(point, off, [], span, (manip == Manip.Src ? t.Src : t.Dst).WithPort(r.Port).ToString()));
            if (r.Free || attempts >= size || attempts < 16) return Apply(t, manip, r, made.AddRange(seq.Made));
            attempts /= 2;
            round++;
        }
    }

    private static string Label(ConnTuple t, Manip manip, ProbeResult r)
    {
        var addr = (manip == Manip.Src ? t.Src : t.Dst).WithPort(r.Port).ToString();
        return r.Evicted is { } id ? string.Create(CultureInfo.InvariantCulture, $"{addr} (evicts entry {id})") : r.Free ? addr : addr + " (in use: clash at confirm)";
    }

    private static NatOutcome Apply(ConnTuple t, Manip manip, ProbeResult r, ImmutableList<ChoiceMade> made)
    {
        var tuple = manip == Manip.Src ? t with { Src = t.Src.WithPort(r.Port) } : t with { Dst = t.Dst.WithPort(r.Port) };
        return new NatOutcome(tuple, r.Evicted, made);
    }

    private readonly record struct ProbeResult(int Port, bool Free, long? Evicted);

    /// <summary>One round of the probe loop: <c>key = min + off % range_size</c> with a u16 <c>off</c>.</summary>
    private static ProbeResult Round(ConnTuple t, Manip manip, int min, int size, int off, int attempts, CtEntry ct, CtView table, long now, SeqOracle seq)
    {
        var port = min;
        for (var i = 0; i < attempts; i++, off = (off + 1) & 0xFFFF)
        {
            port = min + (off % size);
            var cand = manip == Manip.Src ? t with { Src = t.Src.WithPort(port) } : t with { Dst = t.Dst.WithPort(port) };
            var (used, evict) = UsedHarder(cand, ct, attempts - i, table, now, seq);
            if (!used) return new ProbeResult(port, true, evict);
        }
        // Give up: the key keeps the last value tried; confirm will find the clash.
        return new ProbeResult(port, false, null);
    }

    /// <summary>
    /// <c>nf_nat_used_tuple_harder</c>: in the last <see cref="HarderThresh"/> probes a new TCP SYN may take over a
    /// reply tuple held by a closing (TIME_WAIT or later) entry that was itself SNATed, if its ISN is newer
    /// (<c>nf_seq_has_advanced</c>; for two different client 4-tuples that order is a choice, see SeqOracle).
    /// Returns whether the tuple is used, and the entry that would be evicted to free it.
    /// </summary>
    private static (bool Used, long? Evict) UsedHarder(ConnTuple t, CtEntry ct, int attemptsLeft, CtView table, long now, SeqOracle seq)
    {
        if (attemptsLeft > HarderThresh || ct.State != TcpCtState.SynSent) return (Used(t, ct, table, now), null);
        var hit = table.Find(t.Invert(), now, ct.Netns);
        if (hit is null) return (false, null);
        var (e, dir) = hit.Value;
        if (dir == CtDirection.Original) return (true, null);
        if (e.State < TcpCtState.TimeWait) return (true, null);
        if (!e.Has(CtStatus.SrcNat)) return (true, null);
        if (!seq.HasAdvanced(e, ct)) return (true, null);
        return (false, e.Id);
    }

    /// <summary>
    /// <c>nf_seq_has_advanced(old, new)</c>: is the new SYN's sequence number after the old entry's? Both come from
    /// <c>secure_tcp_seq</c>, a keyed hash of the client's own 4-tuple plus a clock, with a key drawn at boot. For
    /// the same client 4-tuple the hash is equal and the clock decides, so the model compares its sequence numbers;
    /// for different 4-tuples the order is as random as the key, so it is a choice (1 = advanced, evict).
    /// </summary>
    private sealed class SeqOracle(ChoiceSource choices, ChoiceKey key)
    {
        public ImmutableList<ChoiceMade> Made { get; private set; } = [];

        public bool HasAdvanced(CtEntry old, CtEntry @new)
        {
            if (old.Orig == @new.Orig) return TcpTracker.Before(old.Tcp.Original.TdEnd, @new.Tcp.Original.TdEnd);
            var point = new ChoicePoint(ChoiceKind.SeqAdvanced, string.Create(CultureInfo.InvariantCulture, $"{key}:adv{old.Id}"), 2);
            var v = choices.Choose(point);
            if (!Made.Any(m => m.Point == point))
                Made = Made.Add(new ChoiceMade(point, v, [$"ISN not after entry {old.Id}'s: tuple stays taken", $"ISN after entry {old.Id}'s: evict it"]));
            return v == 1;
        }
    }
}
