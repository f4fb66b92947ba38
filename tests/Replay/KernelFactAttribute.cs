using ConntrackModel.Replay.Host;

namespace ConntrackModel.Tests.Replay;

/// <summary>
/// A fact that needs the real kernel: root, network namespaces, iptables, conntrack, sysctl, and tcpdump when
/// <see cref="Pcap"/> is set. Where any is missing it is skipped, and the skip reason names what is missing (CI runs
/// as root with every tool, and fails if anything is skipped).
/// </summary>
public sealed class KernelFactAttribute : FactAttribute
{
    /// <summary>The test records with tcpdump: only it is skipped where tcpdump is missing.</summary>
    public bool Pcap { get; set; }

    /// <summary>The test also runs the Z3 engine: skipped, with the reason, where libz3 or gcc is missing.</summary>
    public bool Z3 { get; set; }

    // Computed when xunit asks, after the named arguments are set.
    public override string? Skip
    {
        get => base.Skip ?? Missing(Pcap) ?? (Z3 ? Solver.Z3FactAttribute.Missing : null);
        set => base.Skip = value;
    }

    internal static string? Missing(bool pcap)
    {
        var missing = Requirements.Missing(pcap);
        return missing.Count == 0 ? null : "needs the real kernel: " + string.Join("; ", missing);
    }
}

/// <summary>The theory counterpart of <see cref="KernelFactAttribute"/> (no tcpdump needed).</summary>
public sealed class KernelTheoryAttribute : TheoryAttribute
{
    public override string? Skip
    {
        get => base.Skip ?? KernelFactAttribute.Missing(pcap: false);
        set => base.Skip = value;
    }
}
