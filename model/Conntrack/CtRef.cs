namespace ConntrackModel.Model.Conntrack;

/// <summary>A hash node of the conntrack table: which entry, and which of its two tuples.</summary>
public readonly record struct CtRef(long Id, CtDirection Dir);
