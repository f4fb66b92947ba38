using ConntrackModel.Model.Addressing;

namespace ConntrackModel.Properties.Generation;

/// <summary>
/// The small address pools generated commands draw from. Small on purpose: a rule's NAT port, a bound client
/// port and a server port must coincide for anything interesting to happen, and the shrinker moves ports toward
/// the front of their pool.
/// </summary>
public static class Pools
{
    public static IReadOnlyList<int> ServerPorts { get; } = [8080, 8081];

    /// <summary>Ports clients bind and SNAT rules map to.</summary>
    public static IReadOnlyList<int> ClientPorts { get; } = [40000, 40001, 40002, 50000];

    /// <summary>The address DNAT rules translate (nothing listens there).</summary>
    public static SockAddr Service { get; } = new(new IPv4Address(0x7F000002), 80);

    public static SockAddr Server(int port) => new(IPv4Address.Loopback, port);

    public static SockAddr Client(int port) => new(IPv4Address.Loopback, port);

    /// <summary>The pool a port belongs to, or null for a port the shrinker leaves alone.</summary>
    public static IReadOnlyList<int>? PoolOf(int port) =>
        ServerPorts.Contains(port) ? ServerPorts : ClientPorts.Contains(port) ? ClientPorts : null;

    /// <summary>Connection names in the order the generator hands them out.</summary>
    public static string ConnectionName(int i) => Model.Scenarios.Scenario.ConnectionName(i);
}
