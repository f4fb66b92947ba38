using System.Collections.Immutable;
using System.Globalization;
using ConntrackModel.Model.Conntrack;
using ConntrackModel.Model.Kernel;
using ConntrackModel.Model.Sockets;

namespace ConntrackModel.Model.Diagnostics;

/// <summary>The invariants as named predicates over a step's resulting world and its events.</summary>
public static class Invariants
{
    public static IReadOnlyList<InvariantId> All { get; } = Enum.GetValues<InvariantId>();

    /// <summary>The invariants checked only when a scenario asks for them (<c>invariant NAME</c>): they flag designed behaviour.</summary>
    public static IReadOnlySet<InvariantId> OptIn { get; } = new HashSet<InvariantId> { InvariantId.StaleNatBinding };

    /// <summary>The stable name used in reports and JSON.</summary>
    public static string Name(InvariantId id) => id switch
    {
        InvariantId.WireTupleUniqueness => "wire-tuple-uniqueness",
        InvariantId.NoForeignReset => "no-foreign-reset",
        InvariantId.CtTupleUniqueness => "ct-tuple-uniqueness",
        InvariantId.NoForeignDelivery => "no-foreign-delivery",
        InvariantId.StaleNatBinding => "stale-nat-binding",
        _ => throw new ArgumentOutOfRangeException(nameof(id)),
    };

    /// <summary>What the invariant means, in one sentence, for reports and the specification.</summary>
    public static string Meaning(InvariantId id) => id switch
    {
        InvariantId.WireTupleUniqueness =>
            "No two live connections present the same 5-tuple to the receiving stack: a segment sent by one connection never reaches a socket of another.",
        InvariantId.NoForeignReset =>
            "No socket end is reset by a packet that belongs to another connection (its RST, or a RST the stack sent in answer to it).",
        InvariantId.CtTupleUniqueness =>
            "Sanity check the kernel guarantees: every original and reply tuple in the conntrack table belongs to exactly one entry.",
        InvariantId.NoForeignDelivery =>
            "No application reads data that another connection's socket sent: a datagram, or a segment's payload, is queued only on a socket of its own connection.",
        InvariantId.StaleNatBinding =>
            "Opt-in (a scenario line 'invariant stale-nat-binding'): no packet is translated by a DNAT binding whose rule has since been deleted or replaced (no equal rule is left).",
        _ => throw new ArgumentOutOfRangeException(nameof(id)),
    };

    public static bool TryParse(string name, out InvariantId id)
    {
        foreach (var i in All)
        {
            if (Name(i) == name)
            {
                id = i;
                return true;
            }
        }
        id = default;
        return false;
    }

    /// <summary>
    /// A connection is live while an application holds one of its ends: a socket the application closed (e.g. a
    /// TIME_WAIT remnant, which legitimately accepts a new SYN on its 4-tuple) no longer counts.
    /// </summary>
    /// <remarks>
    /// A UDP flow is live while its client socket is open: a server's answer to a flow whose client has closed is not
    /// that flow's any more (a new socket bound to the same port may take it, as with any port reuse).
    /// </remarks>
    private static bool HeldByApp(SocketView sockets, string end) =>
        sockets.Udp(Packets.Segment.ConnectionOf(end)) is { } udp
            ? !udp.Closed && (end == udp.Name || sockets.Peer(udp.Name) is not { } peer || sockets.Udp(peer.Server) is not { Closed: true })
            : sockets.End(end) is not { AppClosed: true };

    private static string Pair(string a, string b) => string.CompareOrdinal(a, b) < 0 ? a + "|" + b : b + "|" + a;

    /// <summary>Evaluates every invariant on the outcome of step <paramref name="step"/>.</summary>
    public static ImmutableList<Violation> Check(int step, World world, ImmutableArray<KernelEvent> events, IReadOnlySet<InvariantId>? optedIn = null)
    {
        ArgumentNullException.ThrowIfNull(world);
        return Check(step, world.Sockets, world.Conntrack, events, optedIn);
    }

    /// <summary>
    /// The same, on the tables a <see cref="LinuxKernel.Run"/> has after the step. <paramref name="optedIn"/>: the
    /// <see cref="OptIn"/> invariants the scenario asked for.
    /// </summary>
    public static ImmutableList<Violation> Check(int step, SocketView sockets, CtView conntrack, ImmutableArray<KernelEvent> events, IReadOnlySet<InvariantId>? optedIn = null)
    {
        ArgumentNullException.ThrowIfNull(sockets);
        ArgumentNullException.ThrowIfNull(conntrack);
        // Almost every step violates nothing: only then is anything allocated.
        var found = ImmutableList<Violation>.Empty;
        HashSet<string>? seen = null;
        foreach (var ev in events)
        {
            switch (ev)
            {
                case KernelEvent.Delivered d when !d.End.StartsWith('(') && !Packets.Segment.SameConnection(d.End, d.Segment.Origin) && HeldByApp(sockets, d.End) && HeldByApp(sockets, d.Segment.Origin):
                    var msg = string.Create(CultureInfo.InvariantCulture,
                        $"a segment of connection {d.Segment.Connection} ({d.Segment.Tuple.Src} > {d.Segment.Tuple.Dst} [{d.Segment.FlagString()}]) reached {d.End}: both connections use {d.Segment.Tuple.Src}->{d.Segment.Tuple.Dst} on the wire; {d.End} reacted: {d.Reaction}");
                    seen ??= new HashSet<string>(StringComparer.Ordinal);
                    if (seen.Add(Pair(Packets.Segment.ConnectionOf(d.End), d.Segment.Connection))) found = found.Add(new Violation(InvariantId.WireTupleUniqueness, step, msg));
                    break;
                case KernelEvent.Delivered d when d.SameWireAs is { } other && HeldByApp(sockets, other) && HeldByApp(sockets, d.Segment.Origin):
                    seen ??= new HashSet<string>(StringComparer.Ordinal);
                    if (seen.Add(Pair(other, d.Segment.Connection)))
                        found = found.Add(new Violation(InvariantId.WireTupleUniqueness, step, string.Create(CultureInfo.InvariantCulture,
                            $"a datagram of connection {d.Segment.Connection} reached {d.End} from {d.Segment.Tuple.Src}, the address it answers connection {other} at: both flows use {d.Segment.Tuple.Src}->{d.Segment.Tuple.Dst} on the wire")));
                    break;
                case KernelEvent.StaleBinding b when optedIn is not null && optedIn.Contains(InvariantId.StaleNatBinding):
                    // One report per entry and step (the packet and the ICMP error it draws are one story).
                    seen ??= new HashSet<string>(StringComparer.Ordinal);
                    if (!seen.Add(string.Create(CultureInfo.InvariantCulture, $"stale#{b.EntryId}"))) break;
                    found = found.Add(new Violation(InvariantId.StaleNatBinding, step, string.Create(CultureInfo.InvariantCulture,
                        $"{(b.Netns is null ? "" : b.Netns + ": ")}{b.Segment.Tuple.Src} > {b.Segment.Tuple.Dst} was translated by entry #{b.EntryId}, whose binding the rule '{b.Rule}' chose; that rule is gone")));
                    break;
                case KernelEvent.Reset r when !Packets.Segment.SameConnection(r.End, r.By.Origin) && HeldByApp(sockets, r.End):
                    found = found.Add(new Violation(InvariantId.NoForeignReset, step, string.Create(CultureInfo.InvariantCulture,
                        $"{r.End} was reset by a RST of connection {r.By.Connection} ({r.By.Tuple.Src} > {r.By.Tuple.Dst} seq {r.By.Seq})")));
                    break;
            }
        }
        foreach (var ev in events)
        {
            if (ev is KernelEvent.Delivered { Queued: { } label } d && !d.End.StartsWith('(') && !Packets.Segment.SameConnection(d.End, d.Segment.Origin) &&
                HeldByApp(sockets, d.End) && HeldByApp(sockets, d.Segment.Origin))
            {
                found = found.Add(new Violation(InvariantId.NoForeignDelivery, step, string.Create(CultureInfo.InvariantCulture,
                    $"{d.End} read \"{label}\", which {d.Segment.Origin} sent ({d.Segment.Tuple.Src} > {d.Segment.Tuple.Dst})")));
            }
        }
        if (conntrack.IndexCount != 2 * conntrack.Count)
            found = found.Add(new Violation(InvariantId.CtTupleUniqueness, step, "two conntrack entries share a tuple"));
        return found;
    }
}
