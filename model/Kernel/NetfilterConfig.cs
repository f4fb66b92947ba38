using System.Collections.Immutable;
using ConntrackModel.Model.Nat;

namespace ConntrackModel.Model.Kernel;

/// <summary>
/// The namespace's netfilter configuration: the nat table's rules, whether the nat table exists (its hooks then
/// give every new tracked connection a NAT decision, a null binding if no rule matched), and the conntrack users
/// (<c>nf_ct_netns_get</c> / <c>nf_ct_netns_put</c>): each NAT rule is one, <c>modprobe nf_conntrack</c> one more.
/// Conntrack hooks are registered while there is at least one user.
/// </summary>
public sealed record NetfilterConfig(ImmutableList<NatRule> Rules, bool NatTableExists, bool Modprobed)
{
    public static NetfilterConfig Empty { get; } = new([], false, false);

    public int ConntrackUsers => (Modprobed ? 1 : 0) + Rules.Count(r => r.Target.UsesConntrack);

    /// <summary>Are the conntrack hooks (<c>ipv4_conntrack_ops</c>) registered in the namespace?</summary>
    public bool Tracking => ConntrackUsers > 0;

    public IEnumerable<NatRule> Chain(NatChain chain) => Rules.Where(r => r.Chain == chain);

    public bool Equals(NetfilterConfig? other) =>
        other is not null && NatTableExists == other.NatTableExists && Modprobed == other.Modprobed && Rules.SequenceEqual(other.Rules);

    public override int GetHashCode() => HashCode.Combine(NatTableExists, Modprobed, Rules.Count);
}
