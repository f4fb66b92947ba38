namespace ConntrackModel.Model.Choices;

/// <summary>The nondeterministic decisions the kernel makes that the model leaves open.</summary>
public enum ChoiceKind
{
    /// <summary>Local port picked by <c>__inet_hash_connect</c> for a connect() without bind (its hashed start offset).</summary>
    EphemeralPort,

    /// <summary>Which of the distinct outcomes of <c>nf_nat_l4proto_unique_tuple</c>'s random start offset happens (ranges up to 128 ports).</summary>
    NatPortOutcome,

    /// <summary>The random u16 start offset of one search round of <c>nf_nat_l4proto_unique_tuple</c> (ranges over 128 ports).</summary>
    NatPortOffset,

    /// <summary>The address <c>find_best_ips_proto</c> hashes to within a multi-address range.</summary>
    NatAddress,

    /// <summary>
    /// Whether a new SYN's ISN is after a closing entry's (<c>nf_seq_has_advanced</c> in
    /// <c>nf_nat_used_tuple_harder</c>) when the two come from different client 4-tuples: secure_tcp_seq's secret key decides.
    /// </summary>
    SeqAdvanced,


    /// <summary>
    /// Which of the things that fall due at the same instant (socket timers, a connect's 3 s deadline, a sleep's end)
    /// happens first: timer-wheel timers fire late by up to their level's granularity, so the kernel fixes no order.
    /// </summary>
    Order,

    /// <summary>
    /// Whether a <c>-m statistic --mode random</c> match holds for this packet (<c>statistic_mt</c>:
    /// <c>(get_random_u32() &amp; 0x7FFFFFFF) &lt; probability</c>): 0 it matches, 1 it does not. Drawn only for
    /// probabilities strictly between 0 and 1, and only when the rule's other matches held. Last: seeded choices mix a
    /// kind's number into their draw, and the kinds before it keep theirs (and every seed its runs).
    /// </summary>
    Statistic,
}
