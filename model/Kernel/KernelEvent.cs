using ConntrackModel.Model.Choices;
using ConntrackModel.Model.Packets;

using ConntrackModel.Model.Iptables;

namespace ConntrackModel.Model.Kernel;

/// <summary>What happened during a step, in order. Times are ms since the scenario started.</summary>
public abstract record KernelEvent(long Time)
{
    /// <summary>
    /// A segment left namespace <paramref name="Netns"/> (null: the initial one) through <paramref name="Device"/>: what
    /// <c>tcpdump -i DEVICE</c> there shows, after POSTROUTING NAT.
    /// </summary>
    public sealed record Captured(long Time, Segment Segment, string? Netns = null, string Device = "lo") : KernelEvent(Time);

    /// <summary>A segment was dropped before it reached <c>lo</c> or a socket.</summary>
    public sealed record Dropped(long Time, Segment Segment, string Reason) : KernelEvent(Time);

    /// <summary>A LOG rule's line about <paramref name="Segment"/> (the kernel log's, with the fields the model has).</summary>
    public sealed record Logged(long Time, Segment Segment, string Line) : KernelEvent(Time);

    /// <summary>A segment reached socket end <paramref name="End"/> (after demultiplexing on the receive side).</summary>
    public sealed record Delivered(long Time, Segment Segment, string End, string Reaction) : KernelEvent(Time)
    {
        /// <summary>The label the receiving socket queued for its application (data accepted in order; a datagram), else null.</summary>
        public string? Queued { get; init; }

        /// <summary>
        /// UDP: a server socket received this datagram from a source address it already answers another live connection
        /// at (that connection's name), so the two flows are one on the wire.
        /// </summary>
        public string? SameWireAs { get; init; }
    }

    /// <summary>
    /// A packet was translated by entry <paramref name="EntryId"/>'s DNAT binding, chosen by a rule the namespace no
    /// longer has (<paramref name="Rule"/>: that rule as written).
    /// </summary>
    public sealed record StaleBinding(long Time, Segment Segment, long EntryId, string Rule, string? Netns) : KernelEvent(Time);

    /// <summary>End <paramref name="End"/> accepted a RST (or connection refusal) carried by <paramref name="By"/>.</summary>
    public sealed record Reset(long Time, string End, Segment By) : KernelEvent(Time);

    /// <summary>
    /// A conntrack or NAT decision worth showing next to the trace. The step's common notes (<see cref="CtNote"/>) are
    /// formatted when the text is first read: most runs (check's trials, simulate --json) never read it.
    /// </summary>
    public sealed record Ct : KernelEvent
    {
        private readonly CtNote _note;
        private string? _text;

        public Ct(long time, string text)
            : base(time)
        {
            ArgumentNullException.ThrowIfNull(text);
            _text = text;
        }

        internal Ct(long time, CtNote note)
            : base(time) => _note = note;

        public string Text => _text ??= _note.Format();

        /// <summary>For a NAT decision, the rule whose target made it (null for a null binding and every other note).</summary>
        public IptRule? NatRule => _note.Rule;

        /// <summary>For a NAT decision, what the nat chain's traversal saw and decided; null for other notes.</summary>
        public NatTraversal? NatDecision => _note.Decision;

        /// <summary>For a NAT decision, the entry it is about; 0 for other notes.</summary>
        public long NatEntry => _note.Kind is CtNoteKind.NatRewrite or CtNoteKind.NatKept ? _note.Id : 0;

        public bool Equals(Ct? other) => other is not null && Time == other.Time && Text == other.Text;

        public override int GetHashCode() => HashCode.Combine(Time, Text);
    }

    /// <summary>A nondeterministic decision.</summary>
    public sealed record Choice(long Time, ChoiceMade Made, string Owner) : KernelEvent(Time);

    /// <summary>A socket-level note (timer fired, connect gave up, data delivered).</summary>
    public sealed record Socket(long Time, string End, string Text) : KernelEvent(Time);
}
