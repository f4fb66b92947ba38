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
    /// <summary>The rule whose target made a NAT note's binding (not in the text: reports map it to the user's line).</summary>
    public IptRule? Rule { get; init; }

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
