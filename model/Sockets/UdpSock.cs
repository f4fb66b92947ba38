using System.Collections.Immutable;
using ConntrackModel.Model.Addressing;

namespace ConntrackModel.Model.Sockets;

/// <summary>
/// A UDP socket (<c>struct udp_sock</c>): a client bound to <paramref name="Local"/> and connect(2)ed to
/// <paramref name="Remote"/> (named by its connection), or a server bound by <c>listen -u</c> and never connected
/// (named <c>(udp IP:PORT)</c>, <see cref="ServerName"/>). <paramref name="Error"/>: the pending <c>sk_err</c> a hard
/// ICMP error left (<c>__udp4_lib_err</c>); <paramref name="Received"/>: the labels the application read, in order;
/// <paramref name="Closed"/>: the application closed it (the socket is unhashed at once: UDP has no lingering state).
/// </summary>
public sealed record UdpSock(
    string Name,
    SockAddr Local,
    SockAddr? Remote,
    Errno? Error,
    ImmutableArray<string> Received,
    bool ExplicitBind,
    bool Closed)
{
    /// <summary>The namespace the socket lives in (<c>sock_net</c>), by index.</summary>
    public int Netns { get; init; }

    public bool IsServer => Remote is null;

    /// <summary>Where each datagram this socket sent was received, in order (the sender's record: the receiver may be anyone).</summary>
    public ImmutableArray<UdpArrival> Arrivals { get; init; } = [];

    /// <summary>The sends that failed, in order: the label and the error the call returned.</summary>
    public ImmutableArray<UdpSendError> SendErrors { get; init; } = [];

    /// <summary>How events and reports name the server socket bound to <paramref name="local"/>.</summary>
    public static string ServerName(SockAddr local) => $"(udp {local})";
}

/// <summary>A datagram's arrival: its label, the receiving namespace, the receiving socket's address and the source it saw.</summary>
public readonly record struct UdpArrival(string Label, int Netns, SockAddr At, SockAddr From);

/// <summary>A send that returned an error instead of transmitting.</summary>
public readonly record struct UdpSendError(string Label, Errno Error);

/// <summary>
/// What a UDP server socket knows of one connection: the socket its datagrams reached, the source address it saw
/// on the last of them (where <c>send NAME.server</c> answers with sendto()), every source address it saw for them in
/// order, and the labels it read.
/// </summary>
public sealed record UdpPeer(string Connection, string Server, SockAddr LastFrom, ImmutableArray<SockAddr> Seen, ImmutableArray<string> Received);

/// <summary>A server socket and a source address it saw: the key of the index that finds two flows one on the wire.</summary>
public readonly record struct UdpPeerKey(string Server, SockAddr From);
