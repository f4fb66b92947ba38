using System.Collections.Immutable;

namespace ConntrackModel.Model.Net;

/// <summary>The kinds of device a scenario can make: the namespace's own loopback and one end of a veth pair.</summary>
public enum DeviceKind : byte
{
    Loopback,
    Veth,
}

/// <summary>The other end of a veth pair: the namespace it lives in (by index) and its name there.</summary>
public readonly record struct VethPeer(int Netns, string Device);

/// <summary>
/// A network device of one namespace: its name, kind, administrative state (<c>IFF_UP</c>), its addresses in the
/// order they were added (the first of a subnet is its primary, <c>__inet_insert_ifa</c>) and, for a veth, its peer.
/// A veth has carrier only while its peer is up too (<c>veth_open</c> / <c>veth_close</c>: netif_carrier_on/off).
/// </summary>
public sealed record NetDevice(string Name, DeviceKind Kind, bool Up, ImmutableArray<InAddr> Addresses, VethPeer? Peer)
{
    public static NetDevice Loopback(bool up) =>
        new("lo", DeviceKind.Loopback, up, up ? [new InAddr(Addressing.IPv4Address.Loopback, 8)] : [], null);

    public bool Equals(NetDevice? other) =>
        other is not null && Name == other.Name && Kind == other.Kind && Up == other.Up && Peer == other.Peer && Addresses.SequenceEqual(other.Addresses);

    public override int GetHashCode() => HashCode.Combine(Name, Kind, Up, Addresses.Length, Peer);
}
