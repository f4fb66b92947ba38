namespace ConntrackModel.Model.Choices;

/// <summary>Pseudo-random choices that depend only on the seed and the choice key.</summary>
public sealed record SeededChoices(ulong Seed) : ChoiceSource
{
    public override int Choose(ChoicePoint point)
    {
        ArgumentNullException.ThrowIfNull(point);
        if (point.Arity <= 1) return 0;
        var h = Seed ^ Fnv1a(point.Key) ^ ((ulong)point.Kind << 56);
        return (int)(SplitMix64(h) % (ulong)point.Arity);
    }

    public static ulong Fnv1a(string text) => Fnv1a(text.AsSpan());

    public static ulong Fnv1a(ReadOnlySpan<char> text)
    {
        var h = 14695981039346656037UL;
        foreach (var c in text)
        {
            h ^= c;
            h *= 1099511628211UL;
        }
        return h;
    }

    public static ulong SplitMix64(ulong x)
    {
        x += 0x9E3779B97F4A7C15UL;
        x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9UL;
        x = (x ^ (x >> 27)) * 0x94D049BB133111EBUL;
        return x ^ (x >> 31);
    }
}
