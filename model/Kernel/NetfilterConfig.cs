using System.Collections.Immutable;
using ConntrackModel.Model.Iptables;

namespace ConntrackModel.Model.Kernel;

/// <summary>
/// The namespace's netfilter configuration: its iptables tables (<see cref="XtTable"/>: nat and filter) and the
/// conntrack users (<c>nf_ct_netns_get</c> / <c>nf_ct_netns_put</c>): each rule whose target or match uses conntrack
/// is one (a NAT target, <c>-m conntrack</c>, <c>-m state</c>), <c>modprobe nf_conntrack</c> one more. Conntrack hooks
/// are registered while there is at least one user.
/// </summary>
public sealed record NetfilterConfig(XtTable Nat, XtTable Filter, bool Modprobed)
{
    public static NetfilterConfig Empty { get; } = new(new XtTable(IptTable.Nat), new XtTable(IptTable.Filter), false);

    /// <summary>The table <paramref name="table"/>.</summary>
    public XtTable Table(IptTable table) => table == IptTable.Nat ? Nat : Filter;

    /// <summary>The configuration with <paramref name="table"/> in place of the table of its kind.</summary>
    public NetfilterConfig With(XtTable table)
    {
        ArgumentNullException.ThrowIfNull(table);
        return table.Table == IptTable.Nat ? this with { Nat = table } : this with { Filter = table };
    }

    /// <summary>Every table's rules, nat's first (as <c>iptables-save</c> of each table, one after the other).</summary>
    public IEnumerable<IptRule> Rules => Nat.Rules.Concat(Filter.Rules);

    /// <summary>Do the nat table's base chains exist (then every new tracked connection gets a NAT decision)?</summary>
    public bool NatTableExists => Nat.Exists;

    /// <summary>Do the filter table's base chains exist (then its chains see packets at LOCAL_IN, FORWARD and LOCAL_OUT)?</summary>
    public bool Filtering => Filter.Exists;

    public int ConntrackUsers => (Modprobed ? 1 : 0) + Nat.RuleUsers + Filter.RuleUsers;

    /// <summary>Are the conntrack hooks (<c>ipv4_conntrack_ops</c>) registered in the namespace?</summary>
    public bool Tracking => ConntrackUsers > 0;

    /// <summary>The nat table's rules of a built-in chain.</summary>
    public ImmutableList<IptRule> Chain(IptChain chain) => Nat.Chain(chain);
}
