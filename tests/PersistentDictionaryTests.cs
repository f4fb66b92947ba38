using ConntrackModel.Model.Collections;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Xunit;

namespace ConntrackModel.Tests;

/// <summary>
/// The persistent map against <see cref="Dictionary{TKey,TValue}"/> as the reference: random sequences of sets and
/// removes, applied persistently and through builders, must give the same contents, and no map once returned may
/// change afterwards (the builder's in-place updates must not leak into maps it handed out), and reads through a
/// builder must see its every change.
/// </summary>
public class PersistentDictionaryTests
{
    /// <summary>A key whose hash is only its low bits: forces deep tries and full 32-bit collisions.</summary>
    private readonly record struct Clashing(int Value)
    {
        public bool Equals(Clashing other) => Value == other.Value;

        public override int GetHashCode() => Value & 7;
    }

    /// <summary>One operation: set key to value, or remove key; <c>Freeze</c> ends the current builder's batch.</summary>
    public readonly record struct Op(bool Remove, int Key, int Value, bool Freeze);

    private static Arbitrary<Op[]> Ops(int keys) =>
        (from kind in Gen.Choose(0, 99)
         from key in Gen.Choose(0, keys - 1)
         from value in Gen.Choose(0, 3)
         select new Op(kind < 30, key, value, kind >= 90))
            .ArrayOf().ToArbitrary();

    private static void Same<TK>(Dictionary<TK, int> expected, PersistentDictionary<TK, int> actual) where TK : notnull
    {
        Assert.Equal(expected.Count, actual.Count);
        // Enumeration, not the stored count, must find every entry once.
        Assert.Equal(expected.Count, actual.Select(kv => kv.Key).Distinct().Count());
        foreach (var (k, v) in expected)
        {
            Assert.True(actual.TryGetValue(k, out var w), $"key {k} missing");
            Assert.Equal(v, w);
        }
    }

    private static bool Run<TK>(Op[] ops, Func<int, TK> key) where TK : notnull
    {
        var reference = new Dictionary<TK, int>();
        var persistent = PersistentDictionary<TK, int>.Empty;
        var builder = PersistentDictionary<TK, int>.Empty.ToBuilder();
        // Every map handed out, with the contents it had then: none may change later.
        var snapshots = new List<(PersistentDictionary<TK, int> Map, Dictionary<TK, int> Contents)>();
        foreach (var op in ops)
        {
            var k = key(op.Key);
            if (op.Remove)
            {
                reference.Remove(k);
                persistent = persistent.Remove(k);
                builder.Remove(k);
            }
            else
            {
                reference[k] = op.Value;
                persistent = persistent.SetItem(k, op.Value);
                builder.SetItem(k, op.Value);
            }
            Assert.Equal(reference.Count, builder.Count);
            // Reads through the builder see its changes: the key just changed, and a few hot keys.
            foreach (var probe in new[] { k, key(op.Value) })
            {
                var expected = reference.TryGetValue(probe, out var ev);
                Assert.Equal(expected, builder.TryGetValue(probe, out var av));
                if (expected) Assert.Equal(ev, av);
            }
            if (op.Freeze) snapshots.Add((builder.ToImmutable(), new Dictionary<TK, int>(reference)));
            snapshots.Add((persistent, new Dictionary<TK, int>(reference)));
        }
        var built = builder.ToImmutable();
        Same(reference, built);
        foreach (var (map, contents) in snapshots) Same(contents, map);
        Assert.True(built.Equals(persistent));
        Assert.Equal(built.GetHashCode(), persistent.GetHashCode());
        return true;
    }

    [Property(MaxTest = 300)]
    public Property Map_AgreesWithDictionary_FewKeys() => Prop.ForAll(Ops(40), ops => Run(ops, k => k));

    [Property(MaxTest = 300)]
    public Property Map_AgreesWithDictionary_WhenHashesCollide() => Prop.ForAll(Ops(40), ops => Run(ops, k => new Clashing(k)));

    [Property(MaxTest = 100)]
    public Property Map_AgreesWithDictionary_ManyKeys() => Prop.ForAll(Ops(5000), ops => Run(ops, k => "k" + k));

    [Fact]
    public void LargeMap_SetRemoveAll_IsEmptyAgain()
    {
        var b = PersistentDictionary<int, int>.Empty.ToBuilder();
        for (var i = 0; i < 100_000; i++) b.SetItem(i, i);
        var full = b.ToImmutable();
        Assert.Equal(100_000, full.Count);
        Assert.True(full.TryGetValue(77_777, out var v) && v == 77_777);
        var m = full;
        for (var i = 0; i < 100_000; i += 2) m = m.Remove(i);
        Assert.Equal(50_000, m.Count);
        Assert.False(m.ContainsKey(77_776));
        Assert.True(m.ContainsKey(77_777));
        for (var i = 1; i < 100_000; i += 2) b.Remove(i);
        for (var i = 0; i < 100_000; i += 2) b.Remove(i);
        Assert.True(b.ToImmutable().IsEmpty);
        // The map the builder handed out earlier is untouched by its later removals.
        Assert.Equal(100_000, full.Select(kv => kv.Key).Distinct().Count());
    }

    /// <summary>
    /// A builder's sub-trie arrays grow with room to spare and it inserts into that room in place: a map frozen midway
    /// shares those arrays, so every insertion after the freeze must copy them rather than write into them.
    /// </summary>
    [Fact]
    public void FrozenMaps_KeepTheirContents_WhileTheBuilderGrowsIntoSpareRoom()
    {
        var b = PersistentDictionary<int, int>.Empty.ToBuilder();
        var frozen = new List<PersistentDictionary<int, int>>();
        for (var i = 0; i < 20_000; i++)
        {
            b.SetItem(i, -i);
            if (i % 997 == 0) frozen.Add(b.ToImmutable());
        }
        for (var f = 0; f < frozen.Count; f++)
        {
            var size = f * 997 + 1;
            Assert.Equal(size, frozen[f].Count);
            Assert.Equal(size, frozen[f].Select(kv => kv.Key).Distinct().Count());
            Assert.All(frozen[f], kv => Assert.True(kv.Key < size && kv.Value == -kv.Key));
            Assert.False(frozen[f].ContainsKey(size));
        }
        Assert.Equal(Enumerable.Range(0, 20_000).Sum(i => (long)i), b.ToImmutable().Sum(kv => (long)kv.Key));
    }

    [Fact]
    public void SettingAnEqualValue_ReturnsTheSameMap()
    {
        var m = PersistentDictionary<string, int>.Empty.SetItem("a", 1);
        Assert.Same(m, m.SetItem("a", 1));
        Assert.Same(m, m.Remove("b"));
        Assert.NotSame(m, m.SetItem("a", 2));
    }
}
