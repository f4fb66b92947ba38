using System.Collections.Immutable;

namespace ConntrackModel.Model.Iptables;

/// <summary>What runs at a netfilter hook, one kind per registered hook function the model has.</summary>
public enum HookStepKind
{
    /// <summary>The raw table (<c>iptable_raw_hook</c>), before conntrack: where NOTRACK marks a packet.</summary>
    Raw,

    /// <summary><c>nf_conntrack_in</c> (<c>ipv4_conntrack_in</c>, <c>ipv4_conntrack_local</c>): finds or makes the entry.</summary>
    Conntrack,

    /// <summary>The mangle table (<c>iptable_mangle_hook</c>): marks, before nat and filter.</summary>
    Mangle,

    /// <summary>The nat table, destination manip (<c>nf_nat_ipv4_pre_routing</c>, <c>nf_nat_ipv4_local_fn</c>, which re-routes after DNAT).</summary>
    NatDst,

    /// <summary>The filter table (<c>iptable_filter_hook</c>).</summary>
    Filter,

    /// <summary>The nat table, source manip (<c>nf_nat_ipv4_out</c>, <c>nf_nat_ipv4_local_in</c>).</summary>
    NatSrc,

    /// <summary><c>nf_confirm</c> (<c>ipv4_confirm</c>): a new entry goes into the table.</summary>
    Confirm,
}

/// <summary>One hook function: its kind and its priority (<c>enum nf_ip_hook_priorities</c>).</summary>
public readonly record struct HookStep(HookStepKind Kind, int Priority);

/// <summary>
/// The order in which the model runs the hook functions at each netfilter hook: by priority, lowest first, as
/// <c>nf_hook_slow</c> walks the hook's entries (<c>NF_IP_PRI_RAW</c> -300, <c>NF_IP_PRI_CONNTRACK</c> -200, <c>NF_IP_PRI_MANGLE</c> -150, <c>NF_IP_PRI_NAT_DST</c> -100,
/// <c>NF_IP_PRI_FILTER</c> 0, <c>NF_IP_PRI_NAT_SRC</c> 100, <c>NF_IP_PRI_CONNTRACK_CONFIRM</c> INT_MAX; the nat and filter
/// hooks of iptables-nft's base chains have the same priorities). The kernel's packet path
/// (<see cref="Kernel.LinuxKernel"/>) runs exactly these steps in this order: this table is their one definition. A
/// hook function is registered only while its owner exists: conntrack while the namespace tracks, a table's while its
/// base chains exist.
/// </summary>
public static class HookOrder
{
    private static readonly ImmutableArray<HookStep> PreRouting =
        [new(HookStepKind.Raw, -300), new(HookStepKind.Conntrack, -200), new(HookStepKind.Mangle, -150), new(HookStepKind.NatDst, -100)];

    private static readonly ImmutableArray<HookStep> LocalIn =
        [new(HookStepKind.Mangle, -150), new(HookStepKind.Filter, 0), new(HookStepKind.NatSrc, 100), new(HookStepKind.Confirm, int.MaxValue)];

    private static readonly ImmutableArray<HookStep> Forward = [new(HookStepKind.Mangle, -150), new(HookStepKind.Filter, 0)];

    private static readonly ImmutableArray<HookStep> LocalOut =
        [new(HookStepKind.Raw, -300), new(HookStepKind.Conntrack, -200), new(HookStepKind.Mangle, -150), new(HookStepKind.NatDst, -100), new(HookStepKind.Filter, 0)];

    private static readonly ImmutableArray<HookStep> PostRouting =
        [new(HookStepKind.Mangle, -150), new(HookStepKind.NatSrc, 100), new(HookStepKind.Confirm, int.MaxValue)];

    /// <summary>The hooks in the order a packet meets them (received: PRE_ROUTING, then LOCAL_IN or FORWARD; sent: LOCAL_OUT; out: POST_ROUTING).</summary>
    public static ImmutableArray<IptChain> Hooks { get; } = [IptChain.PreRouting, IptChain.Input, IptChain.Forward, IptChain.Output, IptChain.PostRouting];

    /// <summary>The steps at <paramref name="hook"/>, in the order they run.</summary>
    public static ImmutableArray<HookStep> At(IptChain hook) => hook switch
    {
        IptChain.PreRouting => PreRouting,
        IptChain.Input => LocalIn,
        IptChain.Forward => Forward,
        IptChain.Output => LocalOut,
        IptChain.PostRouting => PostRouting,
        _ => throw new ArgumentOutOfRangeException(nameof(hook)),
    };

    /// <summary>The kernel's name of a hook (<c>NF_INET_*</c>).</summary>
    public static string KernelName(IptChain hook) => hook switch
    {
        IptChain.PreRouting => "PRE_ROUTING",
        IptChain.Input => "LOCAL_IN",
        IptChain.Forward => "FORWARD",
        IptChain.Output => "LOCAL_OUT",
        IptChain.PostRouting => "POST_ROUTING",
        _ => throw new ArgumentOutOfRangeException(nameof(hook)),
    };
}
