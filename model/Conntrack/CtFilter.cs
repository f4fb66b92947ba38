using System.Globalization;
using System.Text;
using ConntrackModel.Model.Addressing;

namespace ConntrackModel.Model.Conntrack;

/// <summary>
/// The entry filter of <c>conntrack -D</c> (conntrack-tools' <c>filter_check</c> on a dump): protocol, the original
/// tuple's addresses and ports, the reply tuple's addresses. Null fields match anything; an empty filter deletes
/// every entry. Ports belong to the protocol, so conntrack refuses <c>--sport</c>/<c>--dport</c> without <c>-p</c>.
/// </summary>
public sealed record CtFilter(L4Proto? Proto, IPv4Address? OrigSrc, IPv4Address? OrigDst, int? SrcPort, int? DstPort, IPv4Address? ReplySrc, IPv4Address? ReplyDst)
{
    public static CtFilter All { get; } = new(null, null, null, null, null, null, null);

    public bool IsEmpty => this == All;

    public bool Matches(CtEntry e)
    {
        ArgumentNullException.ThrowIfNull(e);
        return (Proto is null || e.Proto == Proto) &&
            (OrigSrc is null || e.Orig.Src.Ip == OrigSrc) && (OrigDst is null || e.Orig.Dst.Ip == OrigDst) &&
            (SrcPort is null || e.Orig.Src.Port == SrcPort) && (DstPort is null || e.Orig.Dst.Port == DstPort) &&
            (ReplySrc is null || e.Reply.Src.Ip == ReplySrc) && (ReplyDst is null || e.Reply.Dst.Ip == ReplyDst);
    }

    /// <summary>The filter as conntrack's options, in a fixed order.</summary>
    public override string ToString()
    {
        var sb = new StringBuilder();
        void Add(string text) => sb.Append(sb.Length == 0 ? "" : " ").Append(text);
        if (Proto is { } p) Add("-p " + p.Name());
        if (OrigSrc is { } s) Add("-s " + s);
        if (OrigDst is { } d) Add("-d " + d);
        if (SrcPort is { } sp) Add(string.Create(CultureInfo.InvariantCulture, $"--sport {sp}"));
        if (DstPort is { } dp) Add(string.Create(CultureInfo.InvariantCulture, $"--dport {dp}"));
        if (ReplySrc is { } rs) Add("-r " + rs);
        if (ReplyDst is { } rd) Add("-q " + rd);
        return sb.ToString();
    }
}
