using ConntrackModel.Replay.Host;

namespace ConntrackModel.Tests.Replay;

/// <summary>
/// A fact that needs the real kernel: root, network namespaces, iptables, conntrack. Where any is missing it is
/// skipped, and the skip reason names what is missing (CI runs as root and runs these).
/// </summary>
public sealed class KernelFactAttribute : FactAttribute
{
    public KernelFactAttribute()
    {
        if (Missing is { } reason) Skip = reason;
    }

    internal static string? Missing
    {
        get
        {
            var missing = Requirements.Missing(pcap: true);
            return missing.Count == 0 ? null : "needs the real kernel: " + string.Join("; ", missing);
        }
    }
}

/// <summary>The theory counterpart of <see cref="KernelFactAttribute"/>.</summary>
public sealed class KernelTheoryAttribute : TheoryAttribute
{
    public KernelTheoryAttribute()
    {
        if (KernelFactAttribute.Missing is { } reason) Skip = reason;
    }
}
