using System.Collections.Immutable;

namespace ConntrackModel.Model.Conntrack;

/// <summary>
/// The ids of the entries in one <c>bysource</c> bucket (one original source address), oldest first. Almost every
/// source has one entry, so the first id is stored inline and only the rest in an array. The default value is empty.
/// </summary>
internal readonly record struct SourceIds
{
    private readonly long _first;
    private readonly ImmutableArray<long> _more;

    private SourceIds(long first, ImmutableArray<long> more)
    {
        _first = first;
        _more = more;
        Count = 1 + (more.IsDefault ? 0 : more.Length);
    }

    public int Count { get; }

    public bool IsEmpty => Count == 0;

    public bool Contains(long id) => Count > 0 && (_first == id || (!_more.IsDefault && _more.Contains(id)));

    /// <summary>With <paramref name="id"/> appended (ids only grow, so the order stays the insertion order).</summary>
    public SourceIds Add(long id) => IsEmpty ? new SourceIds(id, default) : new SourceIds(_first, _more.IsDefault ? [id] : _more.Add(id));

    public SourceIds Remove(long id)
    {
        if (!Contains(id)) return this;
        if (_first != id) return new SourceIds(_first, _more.Length == 1 ? default : _more.Remove(id));
        if (_more.IsDefault) return default;
        return new SourceIds(_more[0], _more.Length == 1 ? default : _more.RemoveAt(0));
    }

    public Enumerator GetEnumerator() => new(this);

    public bool Equals(SourceIds other)
    {
        if (Count != other.Count) return false;
        var (a, b) = (GetEnumerator(), other.GetEnumerator());
        while (a.MoveNext() && b.MoveNext())
        {
            if (a.Current != b.Current) return false;
        }
        return true;
    }

    public override int GetHashCode() => HashCode.Combine(Count, _first);

    /// <summary>Allocation-free enumeration, oldest first.</summary>
    public struct Enumerator(SourceIds ids)
    {
        private int _i = -1;

        public readonly long Current => _i == 0 ? ids._first : ids._more[_i - 1];

        public bool MoveNext() => ++_i < ids.Count;
    }
}
