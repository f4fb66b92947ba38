namespace ConntrackModel.Cli.Commands;

/// <summary>The benchmarks' one way to summarise repeated measurements (nearest-rank percentiles).</summary>
internal static class Percentiles
{
    /// <summary>The <paramref name="p"/>-th percentile (0..1) of <paramref name="sorted"/> values in ascending order.</summary>
    public static double Of(IReadOnlyList<double> sorted, double p) => sorted[(int)Math.Min(sorted.Count - 1, Math.Floor(p * sorted.Count))];

    public static double Median(IEnumerable<double> values) => Of([.. values.Order()], 0.5);
}
