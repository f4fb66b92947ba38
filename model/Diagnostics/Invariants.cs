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

    /// <summary>The stable name used in reports and JSON.</summary>
    public static string Name(InvariantId id) => id switch
    {
        InvariantId.WireTupleUniqueness => "wire-tuple-uniqueness",
        InvariantId.NoForeignReset => "no-foreign-reset",
        InvariantId.CtTupleUniqueness => "ct-tuple-uniqueness",
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
    private static bool HeldByApp(SocketView sockets, string end) => sockets.End(end) is not { AppClosed: true };

    private static string Pair(string a, string b) => string.CompareOrdinal(a, b) < 0 ? a + "|" + b : b + "|" + a;

    /// <summary>Evaluates every invariant on the outcome of step <paramref name="step"/>.</summary>
    public static ImmutableList<Violation> Check(int step, World world, ImmutableArray<KernelEvent> events)
    {
        ArgumentNullException.ThrowIfNull(world);
        return Check(step, world.Sockets, world.Conntrack, events);
    }

    /// <summary>The same, on the tables a <see cref="LinuxKernel.Run"/> has after the step.</summary>
    public static ImmutableList<Violation> Check(int step, SocketView sockets, CtView conntrack, ImmutableArray<KernelEvent> events)
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
                case KernelEvent.Reset r when !Packets.Segment.SameConnection(r.End, r.By.Origin) && HeldByApp(sockets, r.End):
                    found = found.Add(new Violation(InvariantId.NoForeignReset, step, string.Create(CultureInfo.InvariantCulture,
                        $"{r.End} was reset by a RST of connection {r.By.Connection} ({r.By.Tuple.Src} > {r.By.Tuple.Dst} seq {r.By.Seq})")));
                    break;
            }
        }
        if (conntrack.IndexCount != 2 * conntrack.Count)
            found = found.Add(new Violation(InvariantId.CtTupleUniqueness, step, "two conntrack entries share a tuple"));
        return found;
    }
}
