using System.Collections.Immutable;

namespace ConntrackModel.Model.Reporting;

/// <summary>
/// A connection's outcome. <paramref name="Wire"/>: every source address the server end may see as its peer
/// (ranges written <c>IP:LOW-HIGH</c>); <paramref name="Delivered"/>: labels the server end received;
/// <paramref name="Received"/>: labels the client end received.
/// </summary>
public sealed record ConnectionObservation(
    string Name,
    string Connect,
    string Local,
    ImmutableArray<string> Wire,
    EndObservation Client,
    EndObservation? Server,
    ImmutableArray<string> Delivered,
    ImmutableArray<string> Received)
{
    /// <summary>The protocol: "tcp" (connect) or "udp" (connect -u).</summary>
    public string Proto { get; init; } = "tcp";

    /// <summary>UDP: where each of the connection's datagrams was received, in order (empty for TCP).</summary>
    public ImmutableArray<ArrivalObservation> Arrivals { get; init; } = [];

    /// <summary>UDP: the sends that returned an error instead of sending, label to errno name, in order.</summary>
    public ImmutableArray<KeyValuePair<string, string>> SendErrors { get; init; } = [];

    public bool Equals(ConnectionObservation? other) =>
        other is not null && Name == other.Name && Connect == other.Connect && Local == other.Local && Client == other.Client &&
        Server == other.Server && Wire.SequenceEqual(other.Wire) && Delivered.SequenceEqual(other.Delivered) && Received.SequenceEqual(other.Received) &&
        Proto == other.Proto && Arrivals.SequenceEqual(other.Arrivals) && SendErrors.SequenceEqual(other.SendErrors);

    public override int GetHashCode() => HashCode.Combine(Name, Connect, Local, Client, Server);
}

/// <summary>One datagram's arrival: its label, the namespace (null: the initial one), the receiving socket's address and the source it saw.</summary>
public sealed record ArrivalObservation(string Label, string? Netns, string At, string From);
