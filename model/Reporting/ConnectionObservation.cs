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
    public bool Equals(ConnectionObservation? other) =>
        other is not null && Name == other.Name && Connect == other.Connect && Local == other.Local && Client == other.Client &&
        Server == other.Server && Wire.SequenceEqual(other.Wire) && Delivered.SequenceEqual(other.Delivered) && Received.SequenceEqual(other.Received);

    public override int GetHashCode() => HashCode.Combine(Name, Connect, Local, Client, Server);
}
