namespace ConntrackModel.Model.Conntrack;

/// <summary>What <c>nf_conntrack_tcp_packet</c> returned, as <c>nf_conntrack_in</c> acts on it.</summary>
public enum TrackVerdict
{
    /// <summary>NF_ACCEPT: the packet keeps its entry.</summary>
    Accept,

    /// <summary>-NF_ACCEPT: invalid; the packet continues without an entry (no NAT), <c>invalid</c> counts it.</summary>
    Invalid,

    /// <summary>-NF_REPEAT: the old entry was killed; look up again and create a fresh one.</summary>
    Repeat,

    /// <summary>NF_DROP.</summary>
    Drop,
}
