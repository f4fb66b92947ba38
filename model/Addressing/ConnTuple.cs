namespace ConntrackModel.Model.Addressing;

/// <summary>
/// A TCP tuple as conntrack keys it (<c>struct nf_conntrack_tuple</c> with protocol fixed to TCP):
/// source and destination transport address. Only TCP is modelled, so the protocol is implicit.
/// </summary>
public readonly record struct ConnTuple(SockAddr Src, SockAddr Dst) : ISpanFormattable
{
    /// <summary>The tuple of a packet travelling the other way (<c>nf_ct_invert_tuple</c>).</summary>
    public ConnTuple Invert() => new(Dst, Src);

    public override string ToString() => this.Format();

    public string ToString(string? format, IFormatProvider? formatProvider) => ToString();

    public bool TryFormat(Span<char> destination, out int charsWritten, ReadOnlySpan<char> format, IFormatProvider? provider)
    {
        charsWritten = 0;
        return SpanFormat.Append(destination, ref charsWritten, Src) && SpanFormat.Append(destination, ref charsWritten, "->") &&
            SpanFormat.Append(destination, ref charsWritten, Dst);
    }
}
