namespace ConntrackModel.Model.Diagnostics;

/// <summary>The invariants the model checks after every step.</summary>
public enum InvariantId
{
    /// <summary>No two connections present the same 4-tuple to the receiving stack.</summary>
    WireTupleUniqueness,

    /// <summary>No end is reset by a packet that belongs to another connection.</summary>
    NoForeignReset,

    /// <summary>Sanity (the kernel guarantees it): no two conntrack entries share a tuple.</summary>
    CtTupleUniqueness,

    /// <summary>No application reads data (a datagram, a segment's payload) that another connection's socket sent to its own peer.</summary>
    NoForeignDelivery,

    /// <summary>Opt-in: no packet is translated by a DNAT binding whose rule has since been deleted or replaced.</summary>
    StaleNatBinding,
}
