namespace ConntrackModel.Model.Nat;

/// <summary><c>enum nf_nat_manip_type</c>: which side of the original tuple a NAT hook rewrites.</summary>
public enum Manip
{
    Src,
    Dst,
}
