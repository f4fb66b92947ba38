using System.Globalization;
using ConntrackModel.Model.Addressing;
using ConntrackModel.Model.Conntrack;
using ConntrackModel.Model.Iptables;
using ConntrackModel.Model.Nat;

namespace ConntrackModel.Model.Kernel;

/// <summary>What a <see cref="KernelEvent.Ct"/> note says, kept as values so the text is made only when read.</summary>
internal enum CtNoteKind
{
    /// <summary>"new entry #Id Tuple STATE", with " (mid-stream pickup)" when <see cref="CtNote.Flag"/> is set.</summary>
    NewEntry,

    /// <summary>"entry #Id FROM -> TO".</summary>
    StateChange,

    /// <summary>"entry #Id SNAT|DNAT (target or null binding): Tuple becomes Other"; <see cref="CtNote.Flag"/> set for SNAT.</summary>
    NatRewrite,

    /// <summary>"entry #Id target: tuple Tuple kept".</summary>
    NatKept,
}

/// <summary>The values of a conntrack note; <see cref="Format"/> writes the text the trace shows.</summary>
internal readonly record struct CtNote(CtNoteKind Kind, long Id, ConnTuple Tuple, ConnTuple Other = default, TcpCtState From = default,
    TcpCtState To = default, IptTarget? Target = null, bool Flag = false, string? Netns = null)
{
    /// <summary>A NAT note's traversal: the rule whose target made the binding (not in the text: reports map it to the user's line) and what the rules saw.</summary>
    public NatTraversal? Decision { get; init; }

    /// <summary>The rule whose target made a NAT note's binding, null for a null binding.</summary>
    public IptRule? Rule => Decision?.Binding;

    /// <summary>The text, prefixed with the namespace's name outside the initial namespace.</summary>
    public string Format() => Netns is null ? Body() : Netns + ": " + Body();

    private string Body() => Kind switch
    {
        CtNoteKind.NewEntry when Tuple.Proto == L4Proto.Udp => string.Create(CultureInfo.InvariantCulture, $"new entry #{Id} udp {Tuple}"),
        CtNoteKind.NewEntry => string.Create(CultureInfo.InvariantCulture, $"new entry #{Id} {Tuple} {CtEntry.StateName(To)}{(Flag ? " (mid-stream pickup)" : "")}"),
        CtNoteKind.StateChange => string.Create(CultureInfo.InvariantCulture, $"entry #{Id} {CtEntry.StateName(From)} -> {CtEntry.StateName(To)}"),
        CtNoteKind.NatRewrite => string.Create(CultureInfo.InvariantCulture, $"entry #{Id} {(Flag ? "SNAT" : "DNAT")} ({Target?.ToString() ?? "null binding"}): {Tuple} becomes {Other}"),
        CtNoteKind.NatKept => string.Create(CultureInfo.InvariantCulture, $"entry #{Id} {Target}: tuple {Tuple} kept"),
        _ => throw new InvalidOperationException($"unknown note kind {Kind}"),
    };
}

/// <summary>
/// What one traversal of a nat chain saw and left (<c>nf_nat_inet_fn</c>'s <c>nf_nat_rule_find</c> ... <c>ipt_do_table</c>):
/// the namespace, the hook, the devices <c>-i</c> and <c>-o</c> compared, the packet's tuple, mark and conntrack state,
/// the entry's mark and status; then the rule that ended the traversal (<see cref="Decided"/>: null at the chain's end;
/// an ACCEPT rule makes the null binding too), the rule whose target made the binding (<see cref="Binding"/>), and the
/// packet's and the entry's marks after it. Kept with a NAT note so that an encoding of the rules can be checked against
/// the model's own decisions.
/// </summary>
public sealed record NatTraversal(string? Netns, IptChain Hook, string? InDevice, string? OutDevice, ConnTuple Tuple, uint Mark, CtStates State,
    uint CtMark, CtStatus CtStatus, IptRule? Decided, IptRule? Binding, uint MarkOut, uint CtMarkOut);

/// <summary>A <see cref="NatTraversal"/> before the note is made: a value on the stack, so a decision without a note allocates nothing.</summary>
internal readonly record struct NatSeen(string? Netns, IptChain Hook, string? InDevice, string? OutDevice, ConnTuple Tuple, uint Mark, CtStates State,
    uint CtMark, CtStatus CtStatus, IptRule? Decided, uint MarkOut, uint CtMarkOut)
{
    public NatTraversal With(IptRule? binding) =>
        new(Netns, Hook, InDevice, OutDevice, Tuple, Mark, State, CtMark, CtStatus, Decided, binding, MarkOut, CtMarkOut);
}
