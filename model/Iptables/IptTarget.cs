using ConntrackModel.Model.Nat;

namespace ConntrackModel.Model.Iptables;

/// <summary>The target (<c>-j</c>) of a rule.</summary>
public abstract record IptTarget
{
    private IptTarget()
    {
    }

    /// <summary>Whether adding the rule takes a conntrack reference (<c>nf_ct_netns_get</c> in the target's checkentry).</summary>
    public abstract bool UsesConntrack { get; }

    /// <summary>
    /// The hooks the target may run at (the <c>hooks</c> mask of its <c>xt_target</c> in xt_nat.c and
    /// xt_MASQUERADE.c): iptables checks it for a built-in chain, the kernel for every chain a hook reaches
    /// (<see cref="XtTable.HookProblem"/>). Null: any hook.
    /// </summary>
    public virtual IReadOnlyList<IptChain>? Hooks => null;

    /// <summary>May the target run at <paramref name="hook"/>?</summary>
    public bool ValidAt(IptChain hook) => Hooks is not { } hooks || hooks.Contains(hook);

    /// <summary>
    /// The one table the target may be in (the <c>table</c> of its <c>xt_target</c>: "nat" for the NAT targets, "filter"
    /// for REJECT; measured: either elsewhere is EINVAL, even in a chain nothing reaches); null: any table.
    /// </summary>
    public virtual IptTable? OnlyIn => null;

    /// <summary>May the target be in <paramref name="table"/>?</summary>
    public bool ValidIn(IptTable table) => OnlyIn is not { } only || only == table;

    /// <summary>REJECT's hooks (<c>reject_tg_reg</c>: NF_INET_LOCAL_IN, NF_INET_FORWARD, NF_INET_LOCAL_OUT).</summary>
    public static IReadOnlyList<IptChain> RejectHooks { get; } = [IptChain.Input, IptChain.Forward, IptChain.Output];

    /// <summary>SNAT's hooks (<c>xt_snat_target_v*</c>: NF_INET_POST_ROUTING, NF_INET_LOCAL_IN).</summary>
    public static IReadOnlyList<IptChain> SnatHooks { get; } = [IptChain.PostRouting, IptChain.Input];

    /// <summary>DNAT's hooks (<c>xt_dnat_target_v*</c>: NF_INET_PRE_ROUTING, NF_INET_LOCAL_OUT).</summary>
    public static IReadOnlyList<IptChain> DnatHooks { get; } = [IptChain.PreRouting, IptChain.Output];

    /// <summary>MASQUERADE's hook (<c>masquerade_tg_reg</c>: NF_INET_POST_ROUTING).</summary>
    public static IReadOnlyList<IptChain> MasqueradeHooks { get; } = [IptChain.PostRouting];

    /// <summary><c>-j SNAT --to-source</c> (xt_nat.c <c>xt_snat_target_v2</c>).</summary>
    public sealed record Snat(NatRange Range) : IptTarget
    {
        public override bool UsesConntrack => true;

        public override IptTable? OnlyIn => IptTable.Nat;

        public override IReadOnlyList<IptChain> Hooks => SnatHooks;

        public override string ToString() => $"SNAT to:{Range}";
    }

    /// <summary><c>-j DNAT --to-destination</c> (xt_nat.c <c>xt_dnat_target_v2</c>).</summary>
    public sealed record Dnat(NatRange Range) : IptTarget
    {
        public override bool UsesConntrack => true;

        public override IptTable? OnlyIn => IptTable.Nat;

        public override IReadOnlyList<IptChain> Hooks => DnatHooks;

        public override string ToString() => $"DNAT to:{Range}";
    }

    /// <summary><c>-j MASQUERADE [--to-ports]</c>; <paramref name="Range"/> carries only ports and flags.</summary>
    public sealed record Masquerade(NatRange Range) : IptTarget
    {
        public override bool UsesConntrack => true;

        public override IptTable? OnlyIn => IptTable.Nat;

        public override IReadOnlyList<IptChain> Hooks => MasqueradeHooks;

        public override string ToString() => $"MASQUERADE{(Range.ProtoSpecified || Range.RandomAll ? " " + Range.ToString().TrimStart() : "")}";
    }

    /// <summary><c>-j ACCEPT</c>: the table's traversal at this hook ends and the packet goes on (in the nat table the entry gets a null binding).</summary>
    public sealed record Accept : IptTarget
    {
        public override bool UsesConntrack => false;

        public override string ToString() => "ACCEPT";
    }

    /// <summary>
    /// <c>-j RETURN</c>: back to the rule after the jump that entered this chain; in a built-in chain, the chain's
    /// policy (ACCEPT in the nat table: a null binding). <c>NFT_RETURN</c> / <c>XT_RETURN</c>.
    /// </summary>
    public sealed record Return : IptTarget
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
    public sealed record Mark(uint Value, uint Mask) : IptTarget
    {
        public override bool UsesConntrack => false;

        public uint Apply(uint mark) => (mark & ~Mask) ^ Value;

        public override string ToString() => $"MARK set 0x{Value:x}/0x{Mask:x}";
    }

    /// <summary>
    /// <c>-j CONNMARK</c> (<c>connmark_tg_shift</c>, any table and hook): on a packet with an entry, SET makes the entry's
    /// mark <c>(ctmark &amp; ~CtMask) ^ CtMark</c>, SAVE <c>(ctmark &amp; ~CtMask) ^ (mark &amp; NfMask)</c>, RESTORE makes the
    /// packet's mark <c>(mark &amp; ~NfMask) ^ (ctmark &amp; CtMask)</c>; without an entry it does nothing; the traversal goes
    /// on (XT_CONTINUE). iptables writes --set-mark, --and-mark, --or-mark and --xor-mark as one --set-xmark, as for
    /// MARK, and --mask as both masks (libxt_CONNMARK, measured with iptables-save). Adding one starts tracking
    /// (<c>connmark_tg_check</c>). The shifts of revision 2 are not modelled.
    /// </summary>
    public sealed record ConnMark(ConnMarkMode Mode, uint CtMark, uint CtMask, uint NfMask) : IptTarget
    {
        public override bool UsesConntrack => true;

        /// <summary>The entry's mark after SET or SAVE.</summary>
        public uint NewCtMark(uint ctMark, uint mark) => Mode switch
        {
            ConnMarkMode.Set => (ctMark & ~CtMask) ^ CtMark,
            ConnMarkMode.Save => (ctMark & ~CtMask) ^ (mark & NfMask),
            _ => ctMark,
        };

        /// <summary>The packet's mark after RESTORE.</summary>
        public uint NewMark(uint ctMark, uint mark) => Mode == ConnMarkMode.Restore ? (mark & ~NfMask) ^ (ctMark & CtMask) : mark;

        public override string ToString() => Mode switch
        {
            ConnMarkMode.Set => $"CONNMARK set 0x{CtMark:x}/0x{CtMask:x}",
            ConnMarkMode.Save => $"CONNMARK save nfmask 0x{NfMask:x} ctmask 0x{CtMask:x}",
            _ => $"CONNMARK restore ctmask 0x{CtMask:x} nfmask 0x{NfMask:x}",
        };
    }

    /// <summary>
    /// <c>-j LOG [--log-prefix P]</c> (<c>log_tg</c>, any table and hook): a line about the packet, and the traversal goes
    /// on. The kernel writes it to its log only from the initial namespace unless <c>net.netfilter.nf_log_all_netns</c>
    /// is 1 (<c>nf_log_allowed</c>); the model writes it to the trace always, with a subset of its fields.
    /// </summary>
    public sealed record Log(string Prefix) : IptTarget
    {
        public override bool UsesConntrack => false;

        public override string ToString() => $"LOG prefix \"{Prefix}\"";
    }

    /// <summary>
    /// <c>-j CHAIN</c>: traverse the user chain <paramref name="Chain"/>, then, if it ends or returns, go on after this
    /// rule (<c>NFT_JUMP</c>; <c>ipt_do_table</c>'s jump stack).
    /// </summary>
    public sealed record Jump(string Chain) : IptTarget
    {
        public override bool UsesConntrack => false;

        public override string ToString() => "jump " + Chain;
    }

    /// <summary><c>-j DROP</c> (<c>NF_DROP</c>): the packet goes no further, and nothing is sent back. iptables refuses it in the nat table.</summary>
    public sealed record Drop : IptTarget
    {
        public override bool UsesConntrack => false;

        public override string ToString() => "DROP";
    }

    /// <summary>
    /// <c>-j REJECT [--reject-with TYPE]</c> (<c>reject_tg</c>): the packet is dropped and an answer sent to its source,
    /// an ICMP destination unreachable (<c>nf_send_unreach</c> → <c>icmp_send</c>, rate limited like any) or, for TCP, a
    /// RST (<c>nf_send_reset</c>).
    /// </summary>
    public sealed record Reject(RejectWith With) : IptTarget
    {
        public override bool UsesConntrack => false;

        public override IptTable? OnlyIn => IptTable.Filter;

        public override IReadOnlyList<IptChain> Hooks => RejectHooks;

        public override string ToString() => "REJECT " + With;
    }

    /// <summary>
    /// <c>-j NOTRACK</c> or <c>-j CT --notrack</c> (xt_CT, the raw table only): the packet gets the untracked mark, so
    /// conntrack leaves it alone (<c>nf_conntrack_in</c> returns at once for IP_CT_UNTRACKED), NAT does not see it, and
    /// <c>--ctstate</c> calls it UNTRACKED; the traversal goes on (XT_CONTINUE). Measured: adding one starts no tracking.
    /// </summary>
    public sealed record NoTrack : IptTarget
    {
        public override bool UsesConntrack => false;

        public override IptTable? OnlyIn => IptTable.Raw;

        public override string ToString() => "NOTRACK";
    }
}

/// <summary>What CONNMARK does (<c>XT_CONNMARK_SET</c>, <c>_SAVE</c>, <c>_RESTORE</c>).</summary>
public enum ConnMarkMode
{
    Set,
    Save,
    Restore,
}

/// <summary>What REJECT answers with (<c>enum ipt_reject_with</c>; the ones the model sends).</summary>
public enum RejectWith
{
    IcmpPortUnreachable,
    IcmpNetUnreachable,
    IcmpHostUnreachable,
    TcpReset,
    IcmpProtoUnreachable,
    IcmpNetProhibited,
    IcmpHostProhibited,
    IcmpAdminProhibited,
}
