namespace ConntrackModel.Model.Nat;

/// <summary>The target (<c>-j</c>) of a nat rule.</summary>
public abstract record NatTarget
{
    private NatTarget()
    {
    }

    /// <summary>Whether adding the rule takes a conntrack reference (<c>nf_ct_netns_get</c> in the target's checkentry).</summary>
    public abstract bool UsesConntrack { get; }

    /// <summary>
    /// The hooks the target may run at (the <c>hooks</c> mask of its <c>xt_target</c> in xt_nat.c and
    /// xt_MASQUERADE.c): iptables checks it for a built-in chain, the kernel for every chain a hook reaches
    /// (<see cref="Kernel.NetfilterConfig.HookProblem"/>). Null: any hook.
    /// </summary>
    public virtual IReadOnlyList<NatChain>? Hooks => null;

    /// <summary>May the target run at <paramref name="hook"/>?</summary>
    public bool ValidAt(NatChain hook) => Hooks is not { } hooks || hooks.Contains(hook);

    /// <summary>SNAT's hooks (<c>xt_snat_target_v*</c>: NF_INET_POST_ROUTING, NF_INET_LOCAL_IN).</summary>
    public static IReadOnlyList<NatChain> SnatHooks { get; } = [NatChain.PostRouting, NatChain.Input];

    /// <summary>DNAT's hooks (<c>xt_dnat_target_v*</c>: NF_INET_PRE_ROUTING, NF_INET_LOCAL_OUT).</summary>
    public static IReadOnlyList<NatChain> DnatHooks { get; } = [NatChain.PreRouting, NatChain.Output];

    /// <summary>MASQUERADE's hook (<c>masquerade_tg_reg</c>: NF_INET_POST_ROUTING).</summary>
    public static IReadOnlyList<NatChain> MasqueradeHooks { get; } = [NatChain.PostRouting];

    /// <summary><c>-j SNAT --to-source</c> (xt_nat.c <c>xt_snat_target_v2</c>).</summary>
    public sealed record Snat(NatRange Range) : NatTarget
    {
        public override bool UsesConntrack => true;

        public override IReadOnlyList<NatChain> Hooks => SnatHooks;

        public override string ToString() => $"SNAT to:{Range}";
    }

    /// <summary><c>-j DNAT --to-destination</c> (xt_nat.c <c>xt_dnat_target_v2</c>).</summary>
    public sealed record Dnat(NatRange Range) : NatTarget
    {
        public override bool UsesConntrack => true;

        public override IReadOnlyList<NatChain> Hooks => DnatHooks;

        public override string ToString() => $"DNAT to:{Range}";
    }

    /// <summary><c>-j MASQUERADE [--to-ports]</c>; <paramref name="Range"/> carries only ports and flags.</summary>
    public sealed record Masquerade(NatRange Range) : NatTarget
    {
        public override bool UsesConntrack => true;

        public override IReadOnlyList<NatChain> Hooks => MasqueradeHooks;

        public override string ToString() => $"MASQUERADE{(Range.ProtoSpecified || Range.RandomAll ? " " + Range : "")}";
    }

    /// <summary><c>-j ACCEPT</c>: stop the nat table at this hook; the entry gets a null binding.</summary>
    public sealed record Accept : NatTarget
    {
        public override bool UsesConntrack => false;

        public override string ToString() => "ACCEPT";
    }

    /// <summary>
    /// <c>-j RETURN</c>: back to the rule after the jump that entered this chain; in a built-in chain, the chain's
    /// policy (ACCEPT in the nat table: a null binding). <c>NFT_RETURN</c> / <c>XT_RETURN</c>.
    /// </summary>
    public sealed record Return : NatTarget
    {
        public override bool UsesConntrack => false;

        public override string ToString() => "RETURN";
    }

    /// <summary>
    /// <c>-j MARK</c>: sets the packet's mark and goes on to the next rule (XT_CONTINUE). Every form is one
    /// <c>--set-xmark</c>: <c>mark = (mark &amp; ~Mask) ^ Value</c> (<c>mark_tg</c>; iptables writes <c>--set-mark V</c> as
    /// <c>V/0xffffffff</c>, <c>--or-mark V</c> as <c>V/V</c>, <c>--and-mark V</c> as <c>0/~V</c>, <c>--xor-mark V</c> as
    /// <c>V/0</c>, measured with iptables-save). The mark is the packet's, not the connection's: it lives until the packet
    /// leaves the namespace (a veth scrubs it).
    /// </summary>
    public sealed record Mark(uint Value, uint Mask) : NatTarget
    {
        public override bool UsesConntrack => false;

        public uint Apply(uint mark) => (mark & ~Mask) ^ Value;

        public override string ToString() => $"MARK set 0x{Value:x}/0x{Mask:x}";
    }

    /// <summary>
    /// <c>-j CHAIN</c>: traverse the user chain <paramref name="Chain"/>, then, if it ends or returns, go on after this
    /// rule (<c>NFT_JUMP</c>; <c>ipt_do_table</c>'s jump stack).
    /// </summary>
    public sealed record Jump(string Chain) : NatTarget
    {
        public override bool UsesConntrack => false;

        public override string ToString() => "jump " + Chain;
    }
}
