using System.Collections.Immutable;
using ConntrackModel.Model.Iptables;

namespace ConntrackModel.Model.Kernel;

/// <summary>
/// The namespace's netfilter configuration: its iptables tables (<see cref="XtTable"/>: nat, filter, raw and mangle) and the
/// conntrack users (<c>nf_ct_netns_get</c> / <c>nf_ct_netns_put</c>): each rule whose target or match uses conntrack
/// is one (a NAT target, <c>-m conntrack</c>, <c>-m state</c>), <c>modprobe nf_conntrack</c> one more. Conntrack hooks
/// are registered while there is at least one user.
/// </summary>
public sealed record NetfilterConfig(XtTable Nat, XtTable Filter, bool Modprobed)
{
    public static NetfilterConfig Empty { get; } = new(new XtTable(IptTable.Nat), new XtTable(IptTable.Filter), false);

    /// <summary>The raw table (<c>-j NOTRACK</c>, <c>-j CT --notrack</c>: packets conntrack leaves alone).</summary>
    public XtTable Raw { get; init; } = new(IptTable.Raw);

    /// <summary>The mangle table (marks set before nat and filter see the packet).</summary>
    public XtTable Mangle { get; init; } = new(IptTable.Mangle);

    /// <summary>The table <paramref name="table"/>.</summary>
    public XtTable Table(IptTable table) => table switch
    {
        IptTable.Nat => Nat,
        IptTable.Filter => Filter,
        IptTable.Raw => Raw,
        _ => Mangle,
    };

    /// <summary>The configuration with <paramref name="table"/> in place of the table of its kind.</summary>
    public NetfilterConfig With(XtTable table)
    {
        ArgumentNullException.ThrowIfNull(table);
        return table.Table switch
        {
            IptTable.Nat => this with { Nat = table },
            IptTable.Filter => this with { Filter = table },
            IptTable.Raw => this with { Raw = table },
            _ => this with { Mangle = table },
        };
    }

    /// <summary>Every table's rules, nat's first (as <c>iptables-save</c> of each table, one after the other).</summary>
    public IEnumerable<IptRule> Rules => Nat.Rules.Concat(Filter.Rules).Concat(Raw.Rules).Concat(Mangle.Rules);

    /// <summary>Do the nat table's base chains exist (then every new tracked connection gets a NAT decision)?</summary>
    public bool NatTableExists => Nat.Exists;

    /// <summary>Do the filter table's base chains exist (then its chains see packets at LOCAL_IN, FORWARD and LOCAL_OUT)?</summary>
    public bool Filtering => Filter.Exists;

    /// <summary>Do the raw table's base chains exist (then its chains see packets at PRE_ROUTING and LOCAL_OUT, before conntrack)?</summary>
    public bool Raws => Raw.Exists;

    /// <summary>Do the mangle table's base chains exist (then its chains see packets at every hook, at priority -150)?</summary>
    public bool Mangles => Mangle.Exists;

    public int ConntrackUsers => (Modprobed ? 1 : 0) + Nat.RuleUsers + Filter.RuleUsers + Raw.RuleUsers + Mangle.RuleUsers;

    /// <summary>Are the conntrack hooks (<c>ipv4_conntrack_ops</c>) registered in the namespace?</summary>
    public bool Tracking => ConntrackUsers > 0;

    /// <summary>The nat table's rules of a built-in chain.</summary>
    public ImmutableList<IptRule> Chain(IptChain chain) => Nat.Chain(chain);
}
