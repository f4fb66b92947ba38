using System.Collections.Immutable;
using ConntrackModel.Model.Addressing;
using ConntrackModel.Model.Packets;

namespace ConntrackModel.Model.Sockets;

/// <summary>
/// One end of a TCP connection: a connecting client socket (<c>A</c>) or the socket <c>accept</c> returns for it
/// (<c>A.server</c>). Sequence state is the part of <c>struct tcp_sock</c> the modelled decisions need.
/// <paramref name="Unacked"/> holds sent segments that occupy sequence space and await an ACK (the retransmit
/// queue). <paramref name="Gone"/>: the kernel has destroyed the socket (it no longer receives anything); the
/// record stays so the outcome can be reported. <paramref name="Accepted"/>: the application holds the socket
/// (always for a client; for a server end once the handshake completed and accept() returned it).
/// </summary>
public sealed record TcpEnd(
    string Name,
    SockAddr Local,
    SockAddr Remote,
    TcpState State,
    uint Iss,
    uint SndUna,
    uint SndNxt,
    uint RcvNxt,
    Errno? Error,
    ImmutableArray<string> Received,
    ImmutableList<Segment> Unacked,
    bool ExplicitBind,
    bool AppClosed,
    bool Accepted,
    bool Gone,
    long? RetransmitAt,
    int Retransmits,
    long? TimeWaitUntil,
    long LastOowAckAt)
{
    /// <summary>No timer pending. The two timer fields are stored as plain longs with this value for "none": 8 bytes each instead of a nullable's 16, in every end a world keeps.</summary>
    private const long NoTime = long.MinValue;

    private readonly long _retransmitAt = RetransmitAt ?? NoTime;
    private readonly long _timeWaitUntil = TimeWaitUntil ?? NoTime;

    /// <summary>When the retransmission timer fires (<c>icsk_retransmit_timer</c>), if it is pending.</summary>
    public long? RetransmitAt
    {
        get => _retransmitAt == NoTime ? null : _retransmitAt;
        init => _retransmitAt = value ?? NoTime;
    }

    /// <summary>When TIME_WAIT (or the orphaned FIN_WAIT2 timeout) ends, if it is pending.</summary>
    public long? TimeWaitUntil
    {
        get => _timeWaitUntil == NoTime ? null : _timeWaitUntil;
        init => _timeWaitUntil = value ?? NoTime;
    }

    /// <summary>
    /// What the application has read, packed: null when nothing, the label itself when one, else the array. Most ends
    /// read one label or none, and a one-element array costs 32 bytes in every end a world keeps.
    /// </summary>
    private readonly object? _received = Pack(Received);

    /// <summary>The labels the application read, in order.</summary>
    public ImmutableArray<string> Received
    {
        get => _received switch
        {
            null => [],
            string one => [one],
            _ => System.Runtime.InteropServices.ImmutableCollectionsMarshal.AsImmutableArray((string[])_received),
        };
        init => _received = Pack(value);
    }

    /// <summary>How many labels the application read (without building <see cref="Received"/>).</summary>
    public int ReceivedCount => _received switch { null => 0, string => 1, _ => ((string[])_received).Length };

    private static object? Pack(ImmutableArray<string> labels) =>
        labels.IsDefaultOrEmpty ? null : labels.Length == 1 ? labels[0] : System.Runtime.InteropServices.ImmutableCollectionsMarshal.AsArray(labels);

    /// <summary>
    /// The error as one byte (0: none, else the errno + 1): a nullable struct field is aligned to 8 bytes in a class, so
    /// <c>Errno?</c> would cost the end 8 bytes, and the end would be 120 bytes instead of 112.
    /// </summary>
    private readonly byte _error = Encode(Error);

    /// <summary><c>sk_err</c>: the error the socket reports (the connection's fatal error), if any.</summary>
    public Errno? Error
    {
        get => Decode(_error);
        init => _error = Encode(value);
    }

    private static byte Encode(Errno? e) => e is { } v ? (byte)((byte)v + 1) : (byte)0;

    private static Errno? Decode(byte b) => b == 0 ? null : (Errno)(b - 1);

    /// <summary>The soft error as one byte (0: none, else the errno + 1): a nullable would cost the end 8 bytes of padding.</summary>
    private readonly byte _softError;

    /// <summary>
    /// <c>sk_err_soft</c>: an ICMP error the socket could not take as fatal (it arrived while the application held the
    /// socket, <c>tcp_v4_err</c> with <c>sock_owned_by_user</c>). SO_ERROR returns it when there is no <see cref="Error"/>.
    /// </summary>
    public Errno? SoftError
    {
        get => Decode(_softError);
        init => _softError = Encode(value);
    }

    /// <summary>The namespace the socket lives in (<c>sock_net</c>), by index.</summary>
    public int Netns { get; init; }

    public bool IsServer => Name.EndsWith(".server", StringComparison.Ordinal);

    public string Connection => Segment.ConnectionOf(Name);

    /// <summary>The (local, remote) pair the receive path demultiplexes on, written as an incoming tuple.</summary>
    public ConnTuple IncomingTuple => new(Remote, Local);

    /// <summary>
    /// A new end: nothing sent beyond <paramref name="sndNxt"/> (default: the ISS), nothing received, no timer but
    /// <paramref name="retransmitAt"/>; a client is accepted by definition, a server end once accept() returns it.
    /// </summary>
    public static TcpEnd Create(string name, SockAddr local, SockAddr remote, TcpState state, uint iss, bool explicitBind,
        uint? sndNxt = null, uint rcvNxt = 0, ImmutableList<Segment>? unacked = null, long? retransmitAt = null) =>
        new(name, local, remote, state, iss, iss, sndNxt ?? iss, rcvNxt, null, [], unacked ?? [], explicitBind, false,
            !name.EndsWith(".server", StringComparison.Ordinal), false, retransmitAt, 0, null, long.MinValue / 2);
}
