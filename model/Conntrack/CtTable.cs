using System.Collections.Immutable;
using ConntrackModel.Model.Addressing;

namespace ConntrackModel.Model.Conntrack;

/// <summary>
/// The confirmed entries of one namespace (<c>nf_conntrack_hash</c>, filtered by netns) plus the NAT
/// <c>bysource</c> hash. Both tuples of every entry are keys of one index, as in the kernel, so a lookup finds an
/// entry by either tuple. Expired entries stay until something reaps them but every query treats them as absent
/// (<c>____nf_conntrack_find</c>, <c>nf_conntrack_tuple_taken</c>, the ctnetlink dump all skip and reap them).
/// Compares by contents, not by reference.
/// </summary>
public sealed class CtTable : IEquatable<CtTable>
{
    private readonly ImmutableSortedDictionary<long, CtEntry> _entries;
    private readonly ImmutableDictionary<ConnTuple, CtRef> _index;
    private readonly ImmutableDictionary<SockAddr, ImmutableSortedSet<long>> _bySource;

    public static CtTable Empty { get; } = new(
        ImmutableSortedDictionary<long, CtEntry>.Empty,
        ImmutableDictionary<ConnTuple, CtRef>.Empty,
        ImmutableDictionary<SockAddr, ImmutableSortedSet<long>>.Empty);

    private CtTable(ImmutableSortedDictionary<long, CtEntry> entries, ImmutableDictionary<ConnTuple, CtRef> index,
        ImmutableDictionary<SockAddr, ImmutableSortedSet<long>> bySource)
    {
        _entries = entries;
        _index = index;
        _bySource = bySource;
    }

    /// <summary>Every entry still in the hash, expired or not, in insertion order.</summary>
    public IEnumerable<CtEntry> All => _entries.Values;

    /// <summary>Number of index keys; twice the entry count exactly when all tuples are distinct.</summary>
    public int IndexCount => _index.Count;

    public int Count => _entries.Count;

    public IEnumerable<CtEntry> Live(long now) => _entries.Values.Where(e => !e.IsExpired(now));

    public CtEntry? Get(long id) => _entries.GetValueOrDefault(id);

    /// <summary>
    /// <c>__nf_conntrack_find_get</c>: the live entry one of whose tuples equals <paramref name="tuple"/>, and which.
    /// </summary>
    public (CtEntry Entry, CtDirection Dir)? Find(ConnTuple tuple, long now)
    {
        if (!_index.TryGetValue(tuple, out var r)) return null;
        var e = _entries[r.Id];
        return e.IsExpired(now) ? null : (e, r.Dir);
    }

    /// <summary>
    /// <c>nf_conntrack_tuple_taken</c>: does a live entry other than <paramref name="ignoredOrig"/>'s flow hold
    /// <paramref name="tuple"/> in either direction? State is irrelevant.
    /// </summary>
    public bool Taken(ConnTuple tuple, ConnTuple ignoredOrig, long now)
    {
        var hit = Find(tuple, now);
        if (hit is null) return false;
        // Same flow seen by another CPU: let the clash logic merge it (only possible with allow_clash protocols).
        return hit.Value.Entry.Orig != ignoredOrig;
    }

    /// <summary>
    /// The clash test of <c>__nf_conntrack_confirm</c>: any entry still in the hash whose tuple equals one of ours.
    /// <c>nf_ct_key_equal</c> does not test expiry, so an expired entry the GC has not reaped yet still clashes;
    /// the model reaps expired entries at the instant they expire (see Kernel docs), so only live ones count here.
    /// </summary>
    public bool Clashes(CtEntry ct, long now) => Find(ct.Orig, now) is not null || Find(ct.Reply, now) is not null;

    /// <summary>Entries in the bysource hash whose original source is <paramref name="src"/> (<c>find_appropriate_src</c>).</summary>
    public IEnumerable<CtEntry> BySource(SockAddr src, long now) =>
        _bySource.TryGetValue(src, out var ids) ? ids.Select(id => _entries[id]).Where(e => !e.IsExpired(now)) : [];

    /// <summary>Inserts a confirmed entry, first reaping expired entries that still hold one of its tuples.</summary>
    public CtTable Insert(CtEntry e, long now)
    {
        ArgumentNullException.ThrowIfNull(e);
        var t = this;
        foreach (var tuple in new[] { e.Orig, e.Reply })
        {
            if (t._index.TryGetValue(tuple, out var r) && t._entries[r.Id].IsExpired(now)) t = t.Remove(r.Id);
        }
        var index = t._index.SetItem(e.Orig, new CtRef(e.Id, CtDirection.Original)).SetItem(e.Reply, new CtRef(e.Id, CtDirection.Reply));
        var bySource = e.Has(CtStatus.SrcNatDone)
            ? t._bySource.SetItem(e.Orig.Src, t._bySource.GetValueOrDefault(e.Orig.Src, ImmutableSortedSet<long>.Empty).Add(e.Id))
            : t._bySource;
        return new CtTable(t._entries.SetItem(e.Id, e), index, bySource);
    }

    /// <summary>Replaces an entry in place; its tuples never change once confirmed (<c>nf_nat_setup_info</c> returns early).</summary>
    public CtTable Update(CtEntry e)
    {
        ArgumentNullException.ThrowIfNull(e);
        return new CtTable(_entries.SetItem(e.Id, e), _index, _bySource);
    }

    /// <summary><c>nf_ct_delete</c>: unhashes the entry from both the conntrack and the bysource hash.</summary>
    public CtTable Remove(long id)
    {
        if (!_entries.TryGetValue(id, out var e)) return this;
        var index = _index;
        foreach (var (tuple, dir) in new[] { (e.Orig, CtDirection.Original), (e.Reply, CtDirection.Reply) })
        {
            if (index.TryGetValue(tuple, out var r) && r == new CtRef(id, dir)) index = index.Remove(tuple);
        }
        var bySource = _bySource;
        if (bySource.TryGetValue(e.Orig.Src, out var ids))
        {
            ids = ids.Remove(id);
            bySource = ids.IsEmpty ? bySource.Remove(e.Orig.Src) : bySource.SetItem(e.Orig.Src, ids);
        }
        return new CtTable(_entries.Remove(id), index, bySource);
    }

    /// <summary>Drops every entry whose timeout has passed (what the GC worker eventually does).</summary>
    public CtTable Reap(long now)
    {
        var t = this;
        foreach (var e in _entries.Values)
        {
            if (e.IsExpired(now)) t = t.Remove(e.Id);
        }
        return t;
    }

    public bool Equals(CtTable? other) =>
        other is not null && _entries.Count == other._entries.Count &&
        _entries.All(kv => other._entries.TryGetValue(kv.Key, out var e) && e.Equals(kv.Value));

    public override bool Equals(object? obj) => Equals(obj as CtTable);

    public override int GetHashCode()
    {
        var h = new HashCode();
        foreach (var e in _entries.Values) h.Add(e);
        return h.ToHashCode();
    }
}
