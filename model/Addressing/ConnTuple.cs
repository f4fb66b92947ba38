namespace ConntrackModel.Model.Addressing;

/// <summary>
/// A tuple as conntrack keys it (<c>struct nf_conntrack_tuple</c>): source and destination transport address and the
/// protocol (<c>dst.protonum</c>). Two tuples that differ only in protocol are different keys, as in the kernel.
/// </summary>
/// <remarks>
/// The protocol is kept in the bits of the destination port above 16, which a port never uses: a tuple is as small as
/// before UDP existed (two addresses), a TCP tuple's bits are unchanged, and the compiler's equality and hash compare
/// the protocol with the addresses. <see cref="Dst"/> reads the port without them.
/// </remarks>
public readonly record struct ConnTuple : ISpanFormattable
{
    private const int ProtoShift = 16;
    private const int PortMask = 0xFFFF;

    private readonly SockAddr _src;

    /// <summary>The destination with the protocol in its port's upper bits.</summary>
    private readonly SockAddr _dst;

    public ConnTuple(SockAddr src, SockAddr dst, L4Proto proto = L4Proto.Tcp)
    {
        _src = src;
        _dst = dst with { Port = (dst.Port & PortMask) | ((int)proto << ProtoShift) };
    }

    public SockAddr Src
    {
        get => _src;
        init => _src = value;
    }

    public SockAddr Dst
    {
        get => _dst with { Port = _dst.Port & PortMask };
        init => _dst = value with { Port = (value.Port & PortMask) | (_dst.Port & ~PortMask) };
    }

    public L4Proto Proto => (L4Proto)(_dst.Port >> ProtoShift);

    public void Deconstruct(out SockAddr src, out SockAddr dst)
    {
        src = Src;
        dst = Dst;
    }

    /// <summary>The tuple of a packet travelling the other way (<c>nf_ct_invert_tuple</c>).</summary>
    public ConnTuple Invert() => new(Dst, Src, Proto);

    public override string ToString() => this.Format();

    public string ToString(string? format, IFormatProvider? formatProvider) => ToString();

    public bool TryFormat(Span<char> destination, out int charsWritten, ReadOnlySpan<char> format, IFormatProvider? provider)
    {
        charsWritten = 0;
        return SpanFormat.Append(destination, ref charsWritten, Src) && SpanFormat.Append(destination, ref charsWritten, "->") &&
            SpanFormat.Append(destination, ref charsWritten, Dst);
    }
}
