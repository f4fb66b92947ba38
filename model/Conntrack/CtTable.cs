using System.Collections.Immutable;
using ConntrackModel.Model.Addressing;
using ConntrackModel.Model.Collections;
using ConntrackModel.Model.Net;

namespace ConntrackModel.Model.Conntrack;

/// <summary>
/// The queries on a namespace's conntrack table, defined once for the immutable <see cref="CtTable"/> and for the
/// <see cref="CtTable.Builder"/> a step updates. Expired entries stay until something reaps them but every query
/// treats them as absent (<c>____nf_conntrack_find</c>, <c>nf_conntrack_tuple_taken</c>, the ctnetlink dump all
/// skip and reap them).
/// </summary>
public abstract class CtView
{
    private protected CtView()
    {
    }

    /// <summary>Number of entries still in the hash, expired or not.</summary>
    public abstract int Count { get; }

    /// <summary>Number of index keys; twice the entry count exactly when all tuples are distinct.</summary>
    public abstract int IndexCount { get; }

    private protected abstract bool TryIndex(ConnTuple tuple, out CtRef r);

    private protected abstract bool TryEntry(long id, out CtEntry entry);

    private protected abstract SourceIds SourcesOf(SockAddr src);

    public CtEntry? Get(long id) => TryEntry(id, out var e) ? e : null;

    /// <summary>
    /// <c>__nf_conntrack_find_get</c>: the live entry one of whose tuples equals <paramref name="tuple"/>, and which.
    /// </summary>
    public (CtEntry Entry, CtDirection Dir)? Find(ConnTuple tuple, long now, int netns = 0)
    {
        if (!TryIndex(NetKey.Of(netns, tuple), out var r) || !TryEntry(r.Id, out var e)) return null;
        return e.IsExpired(now) ? null : (e, r.Dir);
    }

    /// <summary>
    /// <c>nf_conntrack_tuple_taken</c>: does a live entry other than <paramref name="ignoredOrig"/>'s flow hold
    /// <paramref name="tuple"/> in either direction? State is irrelevant.
    /// </summary>
    public bool Taken(ConnTuple tuple, ConnTuple ignoredOrig, long now, int netns = 0)
    {
        var hit = Find(tuple, now, netns);
        if (hit is null) return false;
        // Same flow seen by another CPU: let the clash logic merge it (only possible with allow_clash protocols).
        return hit.Value.Entry.Orig != ignoredOrig;
    }

    /// <summary>
    /// The clash test of <c>__nf_conntrack_confirm</c>: any entry still in the hash whose tuple equals one of ours.
    /// <c>nf_ct_key_equal</c> does not test expiry, so an expired entry the GC has not reaped yet still clashes;
    /// the model reaps expired entries at the instant they expire (see Kernel docs), so only live ones count here.
    /// </summary>
    public bool Clashes(CtEntry ct, long now) => Find(ct.Orig, now, ct.Netns) is not null || Find(ct.Reply, now, ct.Netns) is not null;

    /// <summary>
    /// Live entries in the bysource hash whose original source is <paramref name="src"/>, oldest first
    /// (<c>find_appropriate_src</c>).
    /// </summary>
    public IEnumerable<CtEntry> BySource(SockAddr src, long now, int netns = 0, L4Proto proto = L4Proto.Tcp)
    {
        foreach (var id in SourcesOf(NetKey.Of(netns, src, proto)))
        {
            if (TryEntry(id, out var e) && !e.IsExpired(now)) yield return e;
        }
    }
}

/// <summary>
/// The confirmed entries of one namespace (<c>nf_conntrack_hash</c>, filtered by netns) plus the NAT
/// <c>bysource</c> hash. Both tuples of every entry are keys of one index, as in the kernel, so a lookup finds an
/// entry by either tuple. Expired entries stay until something reaps them but every query treats them as absent
/// (<see cref="CtView"/>). Immutable; compares by contents, not by reference. A step updates it through a
/// <see cref="Builder"/>, which copies each changed path of the hashes once per step.
/// </summary>
public sealed class CtTable : CtView, IEquatable<CtTable>
{
    private readonly PersistentDictionary<long, CtEntry> _entries;
    private readonly PersistentDictionary<ConnTuple, CtRef> _index;
    private readonly PersistentDictionary<SockAddr, SourceIds> _bySource;

    public static CtTable Empty { get; } = new(
        PersistentDictionary<long, CtEntry>.Empty,
        PersistentDictionary<ConnTuple, CtRef>.Empty,
        PersistentDictionary<SockAddr, SourceIds>.Empty);

    private CtTable(PersistentDictionary<long, CtEntry> entries, PersistentDictionary<ConnTuple, CtRef> index,
        PersistentDictionary<SockAddr, SourceIds> bySource)
    {
        _entries = entries;
        _index = index;
        _bySource = bySource;
    }

    public override int Count => _entries.Count;

    public override int IndexCount => _index.Count;

    /// <summary>Every entry still in the hash, expired or not, in insertion (id) order. Sorts: O(n log n).</summary>
    public IEnumerable<CtEntry> All => _entries.Values.OrderBy(e => e.Id);

    public IEnumerable<CtEntry> Live(long now) => All.Where(e => !e.IsExpired(now));

    /// <summary>The live entries of one namespace, in insertion order.</summary>
    public IEnumerable<CtEntry> Live(long now, int netns) => Live(now).Where(e => e.Netns == netns);

    private protected override bool TryIndex(ConnTuple tuple, out CtRef r) => _index.TryGetValue(tuple, out r);

    private protected override bool TryEntry(long id, out CtEntry entry) => _entries.TryGetValue(id, out entry!);

    private protected override SourceIds SourcesOf(SockAddr src) => _bySource.GetValueOrDefault(src);

    public Builder ToBuilder() => new(this);

    /// <summary>
    /// What is wrong with the hashes, or null: every entry is found under both its tuples and nothing else is, and the
    /// bysource hash lists exactly the source-NATed entries of each original source, oldest first. For tests: the
    /// builders change these hashes in place, and a world handed out must never see such a change.
    /// </summary>
    internal string? Inconsistency()
    {
        foreach (var e in _entries.Values)
        {
            if (!_index.TryGetValue(NetKey.Of(e.Netns, e.Orig), out var o) || o != new CtRef(e.Id, CtDirection.Original)) return $"entry #{e.Id}: not indexed under its original tuple {e.Orig}";
            if (!_index.TryGetValue(NetKey.Of(e.Netns, e.Reply), out var r) || r != new CtRef(e.Id, CtDirection.Reply)) return $"entry #{e.Id}: not indexed under its reply tuple {e.Reply}";
        }
        if (_index.Count != 2 * _entries.Count) return $"{_index.Count} index keys for {_entries.Count} entries";
        var expected = _entries.Values.Where(e => e.Has(CtStatus.SrcNatDone)).GroupBy(e => NetKey.Of(e.Netns, e.Orig.Src, e.Orig.Proto))
            .ToDictionary(g => g.Key, g => string.Join(",", g.Select(e => e.Id).Order()));
        if (expected.Count != _bySource.Count) return $"bysource has {_bySource.Count} sources, the entries {expected.Count}";
        foreach (var (src, ids) in _bySource)
        {
            var listed = new List<long>();
            foreach (var id in ids) listed.Add(id);
            if (!expected.TryGetValue(src, out var want) || want != string.Join(",", listed)) return $"bysource {src}: [{string.Join(",", listed)}], entries [{want}]";
        }
        return null;
    }

    /// <summary>Inserts a confirmed entry (<see cref="Builder.Insert"/>).</summary>
    public CtTable Insert(CtEntry e, long now)
    {
        var b = ToBuilder();
        b.Insert(e, now);
        return b.ToImmutable();
    }

    /// <summary><c>nf_ct_delete</c> (<see cref="Builder.Remove"/>).</summary>
    public CtTable Remove(long id)
    {
        var b = ToBuilder();
        b.Remove(id);
        return b.ToImmutable();
    }

    public bool Equals(CtTable? other) => other is not null && _entries.Equals(other._entries);

    public override bool Equals(object? obj) => Equals(obj as CtTable);

    public override int GetHashCode() => _entries.GetHashCode();

    /// <summary>The table being changed by one step: the same queries, and the updates in place.</summary>
    public sealed class Builder : CtView
    {
        private readonly PersistentDictionary<long, CtEntry>.Builder _entries;
        private readonly PersistentDictionary<ConnTuple, CtRef>.Builder _index;
        private readonly PersistentDictionary<SockAddr, SourceIds>.Builder _bySource;

        private readonly CtTable _source;

        internal Builder(CtTable t)
        {
            _source = t;
            _entries = t._entries.ToBuilder();
            _index = t._index.ToBuilder();
            _bySource = t._bySource.ToBuilder();
        }

        public override int Count => _entries.Count;

        public override int IndexCount => _index.Count;

        private protected override bool TryIndex(ConnTuple tuple, out CtRef r) => _index.TryGetValue(tuple, out r);

        private protected override bool TryEntry(long id, out CtEntry entry) => _entries.TryGetValue(id, out entry!);

        private protected override SourceIds SourcesOf(SockAddr src) => _bySource.GetValueOrDefault(src);

        /// <summary>Inserts a confirmed entry, first reaping expired entries that still hold one of its tuples.</summary>
        public void Insert(CtEntry e, long now)
        {
            ArgumentNullException.ThrowIfNull(e);
            ConnTuple orig = NetKey.Of(e.Netns, e.Orig), reply = NetKey.Of(e.Netns, e.Reply);
            // One walk per tuple: bind it, then reap the expired entry it was bound to. Remove leaves the new bindings
            // alone (they name another id), so this is the same as reaping first. An id is inserted once (confirm takes
            // a fresh one), so a binding to the new id itself is only the other tuple of a self-connect, never reaped.
            var hadOrig = _index.Exchange(orig, new CtRef(e.Id, CtDirection.Original), out var oldOrig);
            var hadReply = _index.Exchange(reply, new CtRef(e.Id, CtDirection.Reply), out var oldReply);
            if (hadOrig) ReapExpired(oldOrig.Id, e.Id, now);
            if (hadReply) ReapExpired(oldReply.Id, e.Id, now);
            // Ids only grow, so appending keeps each source's list in insertion order.
            var src = NetKey.Of(e.Netns, e.Orig.Src, e.Orig.Proto);
            if (e.Has(CtStatus.SrcNatDone)) _bySource.SetItem(src, SourcesOf(src).Add(e.Id));
            _entries.SetItem(e.Id, e);
        }

        private void ReapExpired(long id, long inserted, long now)
        {
            if (id != inserted && Get(id) is { } old && old.IsExpired(now)) Remove(id);
        }

        /// <summary>Replaces an entry in place; its tuples never change once confirmed (<c>nf_nat_setup_info</c> returns early).</summary>
        public void Update(CtEntry e)
        {
            ArgumentNullException.ThrowIfNull(e);
            _entries.SetItem(e.Id, e);
        }

        /// <summary><c>nf_ct_delete</c>: unhashes the entry from both the conntrack and the bysource hash.</summary>
        public void Remove(long id)
        {
            if (!_entries.TryGetValue(id, out var e)) return;
            ConnTuple orig = NetKey.Of(e.Netns, e.Orig), reply = NetKey.Of(e.Netns, e.Reply);
            if (_index.TryGetValue(orig, out var r) && r == new CtRef(id, CtDirection.Original)) _index.Remove(orig);
            if (_index.TryGetValue(reply, out r) && r == new CtRef(id, CtDirection.Reply)) _index.Remove(reply);
            var src = NetKey.Of(e.Netns, e.Orig.Src, e.Orig.Proto);
            var ids = SourcesOf(src);
            if (ids.Contains(id))
            {
                ids = ids.Remove(id);
                if (ids.IsEmpty) _bySource.Remove(src);
                else _bySource.SetItem(src, ids);
            }
            _entries.Remove(id);
        }

        /// <summary>The table as it is now; the one the builder came from if nothing changed.</summary>
        public CtTable ToImmutable()
        {
            var (entries, index, bySource) = (_entries.ToImmutable(), _index.ToImmutable(), _bySource.ToImmutable());
            return ReferenceEquals(entries, _source._entries) && ReferenceEquals(index, _source._index) && ReferenceEquals(bySource, _source._bySource)
                ? _source
                : new CtTable(entries, index, bySource);
        }
    }
}
