namespace ConntrackModel.Model.Conntrack;

/// <summary><c>enum ip_conntrack_dir</c>: which of an entry's two tuples a packet matched.</summary>
public enum CtDirection
{
    Original = 0,
    Reply = 1,
}
