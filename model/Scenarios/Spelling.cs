namespace ConntrackModel.Model.Scenarios;

/// <summary>"Did you mean": the known name closest to a mistyped one, for scenario pins and the command line.</summary>
public static class Spelling
{
    /// <summary>
    /// The known name with the smallest edit distance to <paramref name="given"/>, if it is at most
    /// <paramref name="maxDistance"/>(name) (ties: ordinal order); with <paramref name="ignoreCase"/> a change of
    /// letter case costs nothing.
    /// </summary>
    public static string? Closest(string given, IEnumerable<string> known, Func<string, int> maxDistance, bool ignoreCase = false)
    {
        ArgumentNullException.ThrowIfNull(given);
        ArgumentNullException.ThrowIfNull(known);
        ArgumentNullException.ThrowIfNull(maxDistance);
        return known.Select(k => (Name: k, Distance: Distance(given, k, ignoreCase)))
            .Where(x => x.Distance <= maxDistance(x.Name))
            .OrderBy(x => x.Distance).ThenBy(x => x.Name, StringComparer.Ordinal).Select(x => x.Name).FirstOrDefault();
    }

    /// <summary>Levenshtein distance.</summary>
    public static int Distance(string a, string b, bool ignoreCase = false)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        var d = new int[b.Length + 1];
        for (var j = 0; j <= b.Length; j++) d[j] = j;
        for (var i = 1; i <= a.Length; i++)
        {
            var prev = d[0];
            d[0] = i;
            for (var j = 1; j <= b.Length; j++)
            {
                var same = ignoreCase ? char.ToUpperInvariant(a[i - 1]) == char.ToUpperInvariant(b[j - 1]) : a[i - 1] == b[j - 1];
                var next = Math.Min(Math.Min(d[j] + 1, d[j - 1] + 1), prev + (same ? 0 : 1));
                prev = d[j];
                d[j] = next;
            }
        }
        return d[b.Length];
    }
}
