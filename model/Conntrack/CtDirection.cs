namespace ConntrackModel.Model.Conntrack;

/// <summary><c>enum ip_conntrack_dir</c>: which of an entry's two tuples a packet matched.</summary>
// One byte, as struct ip_ct_tcp stores it (u_int8_t last_dir).
public enum CtDirection : byte
{
    Original = 0,
    Reply = 1,
}
