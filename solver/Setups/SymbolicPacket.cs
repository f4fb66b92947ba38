using ConntrackModel.Model.Addressing;
using ConntrackModel.Model.Conntrack;
using ConntrackModel.Model.Iptables;
using Microsoft.Z3;

namespace ConntrackModel.Solver.Setups;

/// <summary>
/// What a rule can ask of a packet at a hook, as Z3 terms: its tuple (<see cref="Proto"/> is <see cref="L4Proto"/>'s
/// number as the model stores it, not the IP protocol number), its mark (<c>skb-&gt;mark</c>), its conntrack state as
/// <c>--ctstate</c> sees it (<see cref="CtStates"/>' bits), and its entry: whether it has one (<c>nf_ct_get</c>), its mark
/// and its status bits. Devices are not terms: a compilation is for one pair of in and out devices, and a caller that
/// wants every device compiles once per device (a namespace has a handful).
/// </summary>
public sealed record SymbolicPacket(
    BitVecExpr Proto,
    BitVecExpr Saddr,
    BitVecExpr Daddr,
    BitVecExpr Sport,
    BitVecExpr Dport,
    BitVecExpr Mark,
    BitVecExpr State,
    BoolExpr HasCt,
    BitVecExpr CtMark,
    BitVecExpr CtStatus)
{
    public const uint ProtoBits = 8;
    public const uint AddrBits = 32;
    public const uint PortBits = 16;
    public const uint MarkBits = 32;

    /// <summary><see cref="CtStates"/> fits in 16 bits (its largest bit is 1024).</summary>
    public const uint StateBits = 16;

    /// <summary><see cref="Model.Conntrack.CtStatus"/> is a <c>ushort</c>.</summary>
    public const uint StatusBits = 16;

    /// <summary>Fresh constants named <c>NAME@tag</c>.</summary>
    public static SymbolicPacket Fresh(Context z, string tag)
    {
        ArgumentNullException.ThrowIfNull(z);
        return new(
            z.MkBVConst($"proto@{tag}", ProtoBits), z.MkBVConst($"saddr@{tag}", AddrBits), z.MkBVConst($"daddr@{tag}", AddrBits),
            z.MkBVConst($"sport@{tag}", PortBits), z.MkBVConst($"dport@{tag}", PortBits), z.MkBVConst($"mark@{tag}", MarkBits),
            z.MkBVConst($"ctstate@{tag}", StateBits), z.MkBoolConst($"hasct@{tag}"), z.MkBVConst($"ctmark@{tag}", MarkBits),
            z.MkBVConst($"ctstatus@{tag}", StatusBits));
    }

    /// <summary>A concrete packet as numerals: what a traversal of the model saw (<paramref name="hasCt"/>: it had an entry).</summary>
    public static SymbolicPacket Of(Context z, ConnTuple tuple, uint mark, CtStates state, bool hasCt, uint ctMark, CtStatus status)
    {
        ArgumentNullException.ThrowIfNull(z);
        return new(
            z.MkBV((int)tuple.Proto, ProtoBits), z.MkBV(tuple.Src.Ip.Value, AddrBits), z.MkBV(tuple.Dst.Ip.Value, AddrBits),
            z.MkBV(tuple.Src.Port, PortBits), z.MkBV(tuple.Dst.Port, PortBits), z.MkBV(mark, MarkBits),
            z.MkBV((int)state, StateBits), z.MkBool(hasCt), z.MkBV(ctMark, MarkBits), z.MkBV((int)status, StatusBits));
    }
}
