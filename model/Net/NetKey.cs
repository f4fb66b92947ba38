using ConntrackModel.Model.Addressing;

namespace ConntrackModel.Model.Net;

/// <summary>
/// Hash keys qualified by their namespace: the kernel keeps one conntrack hash and one set of socket hashes for all
/// namespaces and compares the namespace with the key (<c>nf_ct_key_equal</c>: <c>net_eq(net, nf_ct_net(h))</c>;
/// <c>inet_match</c>: <c>net_eq(sock_net(sk), net)</c>). The model's tables do the same, with the namespace's index
/// packed into the upper bits of the (source) port, which a port leaves unused: a key is as small as the address or
/// tuple itself, and the initial namespace's keys are the plain values.
/// </summary>
public static class NetKey
{
    /// <summary>How many namespaces the packing holds (the index must fit the 15 bits above a port).</summary>
    public const int MaxNamespaces = 1 << 15;

    public static SockAddr Of(int netns, SockAddr addr) => netns == 0 ? addr : addr with { Port = addr.Port | (netns << 16) };

    /// <summary>
    /// An address qualified by namespace and protocol (the top bit marks UDP): the kernel's per-protocol hashes
    /// (<c>hash_by_src</c> includes <c>dst.protonum</c>; UDP sockets live in <c>udp_table</c>, apart from TCP's).
    /// </summary>
    public static SockAddr Of(int netns, SockAddr addr, L4Proto proto) =>
        proto == L4Proto.Tcp ? Of(netns, addr) : addr with { Port = addr.Port | (netns << 16) | int.MinValue };

    public static ConnTuple Of(int netns, ConnTuple tuple) => netns == 0 ? tuple : tuple with { Src = Of(netns, tuple.Src) };

    /// <summary>The namespace and address a packed key stands for.</summary>
    public static (int Netns, SockAddr Addr) Split(SockAddr key) => ((key.Port >> 16) & 0x7FFF, key with { Port = key.Port & 0xFFFF });
}
