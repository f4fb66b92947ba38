using ConntrackModel.Model.Kernel;

namespace ConntrackModel.Model.Conntrack;

/// <summary>
/// The UDP tracker, <c>nf_conntrack_udp_packet</c> (net/netfilter/nf_conntrack_proto_udp.c). UDP has no handshake:
/// any datagram may create an entry (<c>init_conntrack</c> needs no protocol approval), and the entry's only state
/// is its timeout, its stream timestamp and the SEEN_REPLY and ASSURED bits.
/// </summary>
public static class UdpTracker
{
    /// <summary>How long after its first packet an entry must still see traffic to count as a stream: <c>2 * HZ</c>.</summary>
    public const long StreamDelayMs = 2000;

    /// <summary>
    /// One datagram for <paramref name="ct"/> (before <c>nf_conntrack_in</c> sets SEEN_REPLY for a reply, which it
    /// does after the handler). Unconfirmed: <c>stream_ts = jiffies + 2 * HZ</c>. Once a reply has been seen: the
    /// timeout is refreshed to <c>udp_timeout</c>, or to <c>udp_timeout_stream</c> when the entry is still active
    /// after <c>stream_ts</c>, which also sets ASSURED. Before any reply: refreshed to <c>udp_timeout</c>.
    /// </summary>
    public static CtEntry Packet(CtEntry ct, Sysctls sysctls, long now)
    {
        ArgumentNullException.ThrowIfNull(ct);
        ArgumentNullException.ThrowIfNull(sysctls);
        if (!ct.Has(CtStatus.Confirmed)) ct = ct with { UdpStreamTs = now + StreamDelayMs };
        if (!ct.Has(CtStatus.SeenReply)) return ct with { ExpiresAt = now + sysctls.UdpTimeoutSeconds * 1000L };
        // time_after(jiffies, stream_ts): strictly later.
        if (now > ct.UdpStreamTs)
        {
            var status = ct.Has(CtStatus.Assured) ? ct.Status : ct.Status | CtStatus.Assured;
            return ct with { ExpiresAt = now + sysctls.UdpTimeoutStreamSeconds * 1000L, Status = status };
        }
        return ct with { ExpiresAt = now + sysctls.UdpTimeoutSeconds * 1000L };
    }
}
