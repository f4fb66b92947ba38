using ConntrackModel.Model.Addressing;
using ConntrackModel.Model.Nat;

namespace ConntrackModel.Model.Net;

/// <summary>
/// A route a scenario added (<c>ip route add PREFIX/LEN [via GW] [dev DEV]</c>) to the main table. Connected
/// routes (from addresses on up devices) are not stored: <see cref="Fib"/> derives them, as <c>fib_add_ifaddr</c>
/// adds and <c>fib_del_ifaddr</c> / <c>fib_sync_down_dev</c> remove them.
/// </summary>
public sealed record FibRoute(Cidr Destination, IPv4Address? Gateway, string Device)
{
    /// <summary>As <c>ip route</c> prints it.</summary>
    public override string ToString()
    {
        var dst = Destination.PrefixLength == 0 ? "default" : $"{Destination.Network}/{Destination.PrefixLength}";
        return Gateway is { } gw ? $"{dst} via {gw} dev {Device}" : $"{dst} dev {Device} scope link";
    }
}
