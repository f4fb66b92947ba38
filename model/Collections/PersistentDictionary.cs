using System.Collections;
using System.Numerics;
using System.Runtime.CompilerServices;

namespace ConntrackModel.Model.Collections;

/// <summary>
/// A persistent hash map: a hash-array mapped trie (Bagwell; the compressed CHAMP layout of Steindorfer and Vinju)
/// with 32-way nodes, so a lookup among a million keys visits about four nodes, and an update copies only the
/// path to its key while every other node is shared with the map it came from. Immutable: every operation returns a
/// new map and leaves this one as it was; compares by contents.
/// </summary>
/// <remarks>
/// <para>
/// Why not <c>ImmutableDictionary</c>: that is a balanced binary tree of hash buckets, so at 100,000 keys a lookup
/// chases about 17 pointers and an update copies about 17 nodes. The kernel's step updates the socket and conntrack
/// tables some 25 times per connection; the binary trees made that the model's main cost.
/// </para>
/// <para>
/// <see cref="Builder"/> is the transient form (Clojure's transients, .NET's immutable builders): nodes it created
/// itself it updates in place, so the many updates of one step copy each path once. <see cref="Builder.ToImmutable"/>
/// hands those nodes over to the immutable map and the builder creates fresh ones from then on, so nothing a map
/// holds is ever changed again.
/// </para>
/// </remarks>
public sealed class PersistentDictionary<TKey, TValue> : IEquatable<PersistentDictionary<TKey, TValue>>, IReadOnlyCollection<KeyValuePair<TKey, TValue>>
    where TKey : notnull
{
    private const int Bits = 5;
    private const int Mask = (1 << Bits) - 1;

    /// <summary>Below this shift every 5-bit slice of the 32-bit hash is used: nodes deeper hold full collisions.</summary>
    private const int MaxShift = 30;

    /// <summary>
    /// Key equality; for a reference type the same object first, without the call through the shared comparer: names
    /// are mostly looked up with the very string that was stored (the scenario's, or the end's own).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool KeyEquals(TKey a, TKey b) =>
        (!typeof(TKey).IsValueType && ReferenceEquals(a, b)) || EqualityComparer<TKey>.Default.Equals(a, b);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool ValueEquals(TValue a, TValue b) => EqualityComparer<TValue>.Default.Equals(a, b);

    private readonly Node _root;

#pragma warning disable CA1000 // The empty map is a member of its own type, as ImmutableDictionary<TKey, TValue>.Empty is.
    public static PersistentDictionary<TKey, TValue> Empty { get; } = new(Node.Empty, 0);
#pragma warning restore CA1000

    private PersistentDictionary(Node root, int count)
    {
        _root = root;
        Count = count;
    }

    public int Count { get; }

    public bool IsEmpty => Count == 0;

    /// <summary>What one trie node costs in its parent's sub-trie array (the README's memory figures rest on it).</summary>
    internal static int NodeBytes => Unsafe.SizeOf<Node>();

    public bool TryGetValue(TKey key, out TValue value) => Node.TryGet(in _root, key, Hash(key), out value);

    public bool ContainsKey(TKey key) => TryGetValue(key, out _);

    public TValue? GetValueOrDefault(TKey key) => TryGetValue(key, out var v) ? v : default;

    public TValue GetValueOrDefault(TKey key, TValue fallback) => TryGetValue(key, out var v) ? v : fallback;

    /// <summary>The map with <paramref name="key"/> bound to <paramref name="value"/>; this map if it already was.</summary>
    public PersistentDictionary<TKey, TValue> SetItem(TKey key, TValue value)
    {
        var added = false;
        TValue previous = default!;
        return Node.Set(in _root, key, value, Hash(key), 0, null, ref added, ref previous, out var root)
            ? new PersistentDictionary<TKey, TValue>(root, added ? Count + 1 : Count)
            : this;
    }

    /// <summary>The map without <paramref name="key"/>; this map if it had none.</summary>
    public PersistentDictionary<TKey, TValue> Remove(TKey key)
    {
        var removed = false;
        return Node.Remove(in _root, key, Hash(key), 0, null, ref removed, out var root)
            ? new PersistentDictionary<TKey, TValue>(root, Count - 1)
            : this;
    }

    /// <summary>A transient copy to apply many updates to; this map is not affected.</summary>
    public Builder ToBuilder() => new(this);

    public IEnumerable<TKey> Keys => this.Select(kv => kv.Key);

    public IEnumerable<TValue> Values => this.Select(kv => kv.Value);

    /// <summary>Enumerates in trie order: deterministic for given hashes, but not sorted and not insertion order.</summary>
    public IEnumerator<KeyValuePair<TKey, TValue>> GetEnumerator() => Node.Enumerate(_root).GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    public bool Equals(PersistentDictionary<TKey, TValue>? other)
    {
        if (other is null || other.Count != Count) return false;
        if (other._root.SameAs(in _root)) return true;
        foreach (var (k, v) in this)
        {
            if (!other.TryGetValue(k, out var w) || !ValueEquals(v, w)) return false;
        }
        return true;
    }

    public override bool Equals(object? obj) => Equals(obj as PersistentDictionary<TKey, TValue>);

    /// <summary>Order-independent hash of the contents (each pair hashed, the results added).</summary>
    public override int GetHashCode()
    {
        var h = Count;
        foreach (var (k, v) in this) h += HashCode.Combine(EqualityComparer<TKey>.Default.GetHashCode(k), v is null ? 0 : EqualityComparer<TValue>.Default.GetHashCode(v));
        return h;
    }

    /// <summary>
    /// The key's hash, mixed (the murmur3 finaliser) so that the low bits the first levels use depend on every input
    /// bit: record-struct hashes of addresses and ports differ mostly in a few bits.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static uint Hash(TKey key)
    {
        var h = (uint)EqualityComparer<TKey>.Default.GetHashCode(key);
        h ^= h >> 16;
        h *= 0x85EBCA6B;
        h ^= h >> 13;
        h *= 0xC2B2AE35;
        h ^= h >> 16;
        return h;
    }

    /// <summary>
    /// A builder's right to change nodes in place, in four forms (one per combination of "a node's data array is still
    /// shared" and "its sub-trie array is"), made together: a node keeps one reference to the form that describes it,
    /// and is 32 bytes instead of the 40 that an owner reference and two flags would take.
    /// </summary>
    private sealed class Owner
    {
        private readonly Owner[] _forms;

        public bool DataShared { get; }

        public bool NodesShared { get; }

        private Owner(Owner[] forms, bool dataShared, bool nodesShared)
        {
            _forms = forms;
            DataShared = dataShared;
            NodesShared = nodesShared;
        }

        /// <summary>A new builder's token, in its "nothing shared" form.</summary>
        public static Owner New()
        {
            var forms = new Owner[4];
            for (var i = 0; i < 4; i++) forms[i] = new Owner(forms, (i & 1) != 0, (i & 2) != 0);
            return forms[0];
        }

        public bool SameBuilder(Owner other) => ReferenceEquals(_forms, other._forms);

        public Owner With(bool dataShared, bool nodesShared) => _forms[(dataShared ? 1 : 0) | (nodesShared ? 2 : 0)];
    }

    /// <summary>The transient form: see the type's remarks.</summary>
    public sealed class Builder
    {
        private readonly PersistentDictionary<TKey, TValue> _source;
        private Node _root;

        /// <summary>The token of the nodes this builder may change in place; made on the first update.</summary>
        private Owner? _owner;

        internal Builder(PersistentDictionary<TKey, TValue> map)
        {
            _source = map;
            _root = map._root;
            Count = map.Count;
        }

        public int Count { get; private set; }

        public bool TryGetValue(TKey key, out TValue value) => Node.TryGet(in _root, key, Hash(key), out value);

        public bool ContainsKey(TKey key) => TryGetValue(key, out _);

        public TValue? GetValueOrDefault(TKey key) => TryGetValue(key, out var v) ? v : default;

        public TValue GetValueOrDefault(TKey key, TValue fallback) => TryGetValue(key, out var v) ? v : fallback;

        public void SetItem(TKey key, TValue value) => Exchange(key, value, out _);

        /// <summary>
        /// Binds <paramref name="key"/> to <paramref name="value"/> and gives what it was bound to (false: it was not):
        /// one walk of the trie where <see cref="TryGetValue"/> and then <see cref="SetItem"/> take two.
        /// </summary>
        public bool Exchange(TKey key, TValue value, out TValue previous)
        {
            var added = false;
            previous = default!;
            if (Node.Set(in _root, key, value, Hash(key), 0, _owner ??= Owner.New(), ref added, ref previous, out var root)) _root = root;
            if (!added) return true;
            Count++;
            return false;
        }

        public void Remove(TKey key)
        {
            var removed = false;
            if (Node.Remove(in _root, key, Hash(key), 0, _owner ??= Owner.New(), ref removed, out var root)) _root = root;
            if (removed) Count--;
        }

        /// <summary>
        /// The map as it is now (the map the builder came from if nothing changed). Its nodes are frozen: later updates
        /// through this builder copy them.
        /// </summary>
        public PersistentDictionary<TKey, TValue> ToImmutable()
        {
            _owner = null;
            return _root.SameAs(in _source._root) ? _source : new PersistentDictionary<TKey, TValue>(_root, Count);
        }
    }

    /// <summary>
    /// A trie node: the entries stored here (<see cref="DataMap"/>) and the sub-tries (<see cref="NodeMap"/>), each
    /// indexed by the 5-bit hash slice at this depth and stored compactly (position = bits set below it). Below
    /// <see cref="MaxShift"/> a node is a collision list: all its keys have the same hash, and the maps are unused.
    /// </summary>
    /// <remarks>
    /// A node is a value kept inline in its parent's sub-trie array (the root in the map itself), not an object the
    /// array points to: a lookup that descends a level then reads one array element instead of an array element and
    /// the object it names, which at 100,000 keys is one cache miss fewer per level; and a node costs its 32 bytes in
    /// the parent's array instead of an 8-byte reference and a 48-byte object. A change to a node therefore changes
    /// its parent's array: operations return the changed node to their caller, which stores it in place when the
    /// builder owns that array and copies the array when not.
    /// </remarks>
    private struct Node(uint dataMap, uint nodeMap, KeyValuePair<TKey, TValue>[] data, Node[] nodes, Owner? owner,
        bool dataShared = false, bool nodesShared = false)
    {
        public static readonly Node Empty = new(0, 0, [], [], null);

        public uint DataMap = dataMap;
        public uint NodeMap = nodeMap;
        public KeyValuePair<TKey, TValue>[] Data = data;
        public Node[] Nodes = nodes;

        /// <summary>
        /// The builder that may still change this node's arrays in place (null once any map may hold it), in the form
        /// that says whether <see cref="Data"/> or <see cref="Nodes"/> is still the array of the frozen node this one
        /// was copied from: a builder's node shares the array it did not change, and copies it on its first write.
        /// </summary>
        private Owner? _owner = owner?.With(dataShared, nodesShared);

        /// <summary>The same node: same maps, same arrays, same owner form (so nothing to store in the parent).</summary>
        public readonly bool SameAs(in Node other) =>
            DataMap == other.DataMap && NodeMap == other.NodeMap && ReferenceEquals(Data, other.Data)
            && ReferenceEquals(Nodes, other.Nodes) && ReferenceEquals(_owner, other._owner);

        private readonly bool EditableBy(Owner? owner) => owner is not null && _owner is not null && _owner.SameBuilder(owner);

        private KeyValuePair<TKey, TValue>[] WritableData()
        {
            if (_owner!.DataShared)
            {
                Data = (KeyValuePair<TKey, TValue>[])Data.Clone();
                _owner = _owner.With(false, _owner.NodesShared);
            }
            return Data;
        }

        private Node[] WritableNodes()
        {
            if (_owner!.NodesShared)
            {
                Nodes = (Node[])Nodes.Clone();
                _owner = _owner.With(_owner.DataShared, false);
            }
            return Nodes;
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static int Index(uint map, uint bit) => BitOperations.PopCount(map & (bit - 1));

        public static bool TryGet(in Node root, TKey key, uint hash, out TValue value)
        {
            ref readonly var node = ref root;
            for (var shift = 0; ; shift += Bits)
            {
                if (shift > MaxShift)
                {
                    foreach (var kv in node.Data)
                    {
                        if (KeyEquals(kv.Key, key))
                        {
                            value = kv.Value;
                            return true;
                        }
                    }
                    value = default!;
                    return false;
                }
                var bit = 1u << (int)((hash >> shift) & Mask);
                if ((node.DataMap & bit) != 0)
                {
                    var kv = node.Data[Index(node.DataMap, bit)];
                    if (KeyEquals(kv.Key, key))
                    {
                        value = kv.Value;
                        return true;
                    }
                    value = default!;
                    return false;
                }
                if ((node.NodeMap & bit) == 0)
                {
                    value = default!;
                    return false;
                }
                node = ref node.Nodes[Index(node.NodeMap, bit)];
            }
        }

        /// <summary>
        /// Binds <paramref name="key"/> under <paramref name="node"/>. False: nothing to store in the parent (the
        /// binding was there, or the builder changed arrays it owns in place); true: <paramref name="result"/> replaces
        /// <paramref name="node"/>.
        /// </summary>
        public static bool Set(in Node node, TKey key, TValue value, uint hash, int shift, Owner? owner, ref bool added, ref TValue previous, out Node result)
        {
            if (shift > MaxShift) return SetCollision(node, key, value, owner, ref added, ref previous, out result);
            var bit = 1u << (int)((hash >> shift) & Mask);
            if ((node.DataMap & bit) != 0)
            {
                var i = Index(node.DataMap, bit);
                var here = node.Data[i];
                if (KeyEquals(here.Key, key))
                {
                    result = default;
                    previous = here.Value;
                    if (ValueEquals(here.Value, value)) return false;
                    var entry = new KeyValuePair<TKey, TValue>(key, value);
                    if (node.EditableBy(owner))
                    {
                        result = node;
                        result.WritableData()[i] = entry;
                        return !result.SameAs(in node);
                    }
                    var data = (KeyValuePair<TKey, TValue>[])node.Data.Clone();
                    data[i] = entry;
                    result = new Node(node.DataMap, node.NodeMap, data, node.Nodes, owner, nodesShared: true);
                    return true;
                }
                // Two keys share this slot: push both one level down.
                added = true;
                var sub = Pair(here, Hash(here.Key), new KeyValuePair<TKey, TValue>(key, value), hash, shift + Bits, owner);
                result = node.Reshaped(node.DataMap & ~bit, node.NodeMap | bit, RemoveAt(node.Data, i), node.WithSubTrie(Index(node.NodeMap, bit), sub, owner), owner);
                return true;
            }
            if ((node.NodeMap & bit) != 0)
            {
                var j = Index(node.NodeMap, bit);
                if (!Set(in node.Nodes[j], key, value, hash, shift + Bits, owner, ref added, ref previous, out var child))
                {
                    result = default;
                    return false;
                }
                return WithChild(in node, j, child, owner, out result);
            }
            added = true;
            var k = Index(node.DataMap, bit);
            result = node.Reshaped(node.DataMap | bit, node.NodeMap, InsertAt(node.Data, k, new KeyValuePair<TKey, TValue>(key, value)), null, owner);
            return true;
        }

        private static bool SetCollision(in Node node, TKey key, TValue value, Owner? owner, ref bool added, ref TValue previous, out Node result)
        {
            for (var i = 0; i < node.Data.Length; i++)
            {
                if (!KeyEquals(node.Data[i].Key, key)) continue;
                result = default;
                previous = node.Data[i].Value;
                if (ValueEquals(node.Data[i].Value, value)) return false;
                if (node.EditableBy(owner))
                {
                    result = node;
                    result.WritableData()[i] = new KeyValuePair<TKey, TValue>(key, value);
                    return !result.SameAs(in node);
                }
                var data = (KeyValuePair<TKey, TValue>[])node.Data.Clone();
                data[i] = new KeyValuePair<TKey, TValue>(key, value);
                result = new Node(0, 0, data, [], owner);
                return true;
            }
            added = true;
            result = new Node(0, 0, InsertAt(node.Data, node.Data.Length, new KeyValuePair<TKey, TValue>(key, value)), [], owner);
            return true;
        }

        /// <summary>A node holding two entries whose hashes agree below <paramref name="shift"/>.</summary>
        private static Node Pair(KeyValuePair<TKey, TValue> a, uint ha, KeyValuePair<TKey, TValue> b, uint hb, int shift, Owner? owner)
        {
            if (shift > MaxShift) return new Node(0, 0, [a, b], [], owner);
            var ba = 1u << (int)((ha >> shift) & Mask);
            var bb = 1u << (int)((hb >> shift) & Mask);
            if (ba == bb) return new Node(0, ba, [], [Pair(a, ha, b, hb, shift + Bits, owner)], owner);
            return ba < bb ? new Node(ba | bb, 0, [a, b], [], owner) : new Node(ba | bb, 0, [b, a], [], owner);
        }

        /// <summary>
        /// Unbinds <paramref name="key"/> under <paramref name="node"/>; true (and <paramref name="removed"/>) when it
        /// was bound, with <paramref name="result"/> to replace <paramref name="node"/>. A removal always replaces an
        /// array, so a node whose shape changed is always returned to its parent, which keeps the trie canonical.
        /// </summary>
        public static bool Remove(in Node node, TKey key, uint hash, int shift, Owner? owner, ref bool removed, out Node result)
        {
            result = default;
            if (shift > MaxShift)
            {
                for (var i = 0; i < node.Data.Length; i++)
                {
                    if (!KeyEquals(node.Data[i].Key, key)) continue;
                    removed = true;
                    result = new Node(0, 0, RemoveAt(node.Data, i), [], owner);
                    return true;
                }
                return false;
            }
            var bit = 1u << (int)((hash >> shift) & Mask);
            if ((node.DataMap & bit) != 0)
            {
                var i = Index(node.DataMap, bit);
                if (!KeyEquals(node.Data[i].Key, key)) return false;
                removed = true;
                result = node.Reshaped(node.DataMap & ~bit, node.NodeMap, RemoveAt(node.Data, i), null, owner);
                return true;
            }
            if ((node.NodeMap & bit) == 0) return false;
            var j = Index(node.NodeMap, bit);
            if (!Remove(in node.Nodes[j], key, hash, shift + Bits, owner, ref removed, out var child)) return false;
            if (child.NodeMap == 0 && child.Data.Length == 1)
            {
                // A sub-trie left with one entry moves up into this node, keeping the trie as shallow as its keys need.
                var k = Index(node.DataMap, bit);
                var nodes = RemoveAt(node.Nodes, j, node.SubTrieCount);
                result = node.Reshaped(node.DataMap | bit, node.NodeMap & ~bit, InsertAt(node.Data, k, child.Data[0]), nodes, owner);
                return true;
            }
            return WithChild(in node, j, child, owner, out result);
        }

        /// <summary>
        /// The node with new maps and arrays (<paramref name="nodes"/> null: the sub-tries unchanged), owned by the
        /// builder: an insertion allocates only the grown array.
        /// </summary>
        private readonly Node Reshaped(uint dataMap, uint nodeMap, KeyValuePair<TKey, TValue>[] data, Node[]? nodes, Owner? owner)
        {
            var nodesShared = nodes is null && (!EditableBy(owner) || _owner!.NodesShared);
            return new Node(dataMap, nodeMap, data, nodes ?? Nodes, owner, nodesShared: nodesShared);
        }

        /// <summary>
        /// The node with sub-trie <paramref name="j"/> replaced by <paramref name="child"/>: stored in place if the
        /// builder owns the sub-trie array (false: the node itself is unchanged), else in a copy (true).
        /// </summary>
        private static bool WithChild(in Node node, int j, in Node child, Owner? owner, out Node result)
        {
            if (node.EditableBy(owner))
            {
                result = node;
                result.WritableNodes()[j] = child;
                return !result.SameAs(in node);
            }
            var nodes = (Node[])node.Nodes.Clone();
            nodes[j] = child;
            result = new Node(node.DataMap, node.NodeMap, node.Data, nodes, owner, dataShared: true);
            return true;
        }

        public static IEnumerable<KeyValuePair<TKey, TValue>> Enumerate(Node root)
        {
            var stack = new Stack<Node>();
            stack.Push(root);
            while (stack.Count > 0)
            {
                var n = stack.Pop();
                foreach (var kv in n.Data) yield return kv;
                for (var i = n.SubTrieCount - 1; i >= 0; i--) stack.Push(n.Nodes[i]);
            }
        }

        private static T[] InsertAt<T>(T[] a, int i, T x)
        {
            var r = new T[a.Length + 1];
            Array.Copy(a, 0, r, 0, i);
            r[i] = x;
            Array.Copy(a, i, r, i + 1, a.Length - i);
            return r;
        }

        private static T[] RemoveAt<T>(T[] a, int i, int count = -1)
        {
            if (count < 0) count = a.Length;
            if (count == 1) return [];
            var r = new T[count - 1];
            Array.Copy(a, 0, r, 0, i);
            Array.Copy(a, i + 1, r, i, count - i - 1);
            return r;
        }

        /// <summary>
        /// How many sub-tries this node has: <see cref="Nodes"/> may be longer. A builder's sub-trie array grows with
        /// room to spare (to 2, 4, 8, 16, 32 slots), so that a node whose keys are pushed down one after another does not
        /// copy its 32-byte slots at every push.
        /// </summary>
        public readonly int SubTrieCount => BitOperations.PopCount(NodeMap);

        /// <summary>This node's sub-trie array with <paramref name="sub"/> inserted at <paramref name="j"/>: in place when the builder owns the array and it has room.</summary>
        private readonly Node[] WithSubTrie(int j, Node sub, Owner? owner)
        {
            var count = SubTrieCount;
            if (EditableBy(owner) && !_owner!.NodesShared && Nodes.Length > count)
            {
                Array.Copy(Nodes, j, Nodes, j + 1, count - j);
                Nodes[j] = sub;
                return Nodes;
            }
            var r = new Node[owner is null ? count + 1 : (int)BitOperations.RoundUpToPowerOf2((uint)count + 1)];
            Array.Copy(Nodes, 0, r, 0, j);
            r[j] = sub;
            Array.Copy(Nodes, j, r, j + 1, count - j);
            return r;
        }
    }
}
