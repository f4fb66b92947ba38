using System.Collections.Immutable;
using ConntrackModel.Model.Addressing;
using ConntrackModel.Model.Nat;

namespace ConntrackModel.Model.Net;

/// <summary>
/// A route lookup's answer (<c>struct fib_result</c> reduced to what the model uses): local delivery, or the output
/// device with its gateway, and the preferred source address (<c>FIB_RES_PREFSRC</c>).
/// </summary>
public readonly record struct FibResult(bool Local, string Device, IPv4Address? Gateway, IPv4Address PrefSrc)
{
    /// <summary><c>rt_nexthop</c>: the gateway, or the destination itself on a connected route.</summary>
    public IPv4Address NextHop(IPv4Address dst) => Gateway ?? dst;
}

/// <summary>
/// Routing in one namespace: the local table (<c>fib_add_ifaddr</c>: every address is local whatever its device's
/// state, and a loopback device's whole prefix is), the main table (connected prefixes of up devices and the routes a
/// scenario added), longest prefix first (<c>fib_table_lookup</c>), and source address selection
/// (<c>inet_select_addr</c>). Pure functions of a <see cref="Netns"/>.
/// </summary>
public static class Fib
{
    /// <summary>Is <paramref name="ip"/> an address of the namespace (<c>inet_addr_type</c> == RTN_LOCAL)?</summary>
    public static bool IsLocal(Netns ns, IPv4Address ip)
    {
        ArgumentNullException.ThrowIfNull(ns);
        foreach (var d in ns.Devices)
        {
            foreach (var a in d.Addresses)
            {
                if (a.Local == ip) return true;
                // fib_add_ifaddr: on a loopback device the prefix route is RTN_LOCAL, so 127.0.0.2 is local too.
                if (d.Kind == DeviceKind.Loopback && a.Subnet.Contains(ip)) return true;
            }
        }
        return false;
    }

    /// <summary>
    /// Is <paramref name="ip"/> local on <paramref name="device"/>: is the local table's route for it through that
    /// device (<c>__inet_dev_addr_type</c> with a device: <c>fib_add_ifaddr</c> puts an address's local route, and a
    /// loopback prefix's, on the device that holds it)?
    /// </summary>
    public static bool IsLocalOn(Netns ns, IPv4Address ip, string device)
    {
        ArgumentNullException.ThrowIfNull(ns);
        foreach (var d in ns.Devices)
        {
            foreach (var a in d.Addresses)
            {
                if (a.Local == ip || (d.Kind == DeviceKind.Loopback && a.Subnet.Contains(ip))) return d.Name == device;
            }
        }
        return false;
    }

    /// <summary>
    /// <c>ip_route_output_key_hash_rcu</c> / <c>ip_route_input_slow</c>: local delivery through <c>lo</c> (source: the
    /// local route's prefsrc, the address itself, 127.0.0.1 for the loopback prefix), else the main table's longest
    /// match; null if there is none (ENETUNREACH).
    /// </summary>
    public static FibResult? Lookup(Netns ns, IPv4Address dst)
    {
        ArgumentNullException.ThrowIfNull(ns);
        if (IsLocal(ns, dst))
        {
            var src = dst;
            foreach (var d in ns.Devices)
            {
                if (d.Kind != DeviceKind.Loopback) continue;
                foreach (var a in d.Addresses)
                {
                    if (a.Subnet.Contains(dst)) src = a.Local;
                }
            }
            return new FibResult(true, "lo", null, src);
        }
        FibResult? best = null;
        var bestLen = -1;
        // The connected routes (Connected), walked without allocating: this runs for every forwarded packet.
        foreach (var d in ns.Devices)
        {
            for (var i = 0; i < d.Addresses.Length; i++)
            {
                var a = d.Addresses[i];
                if (a.PrefixLength > bestLen && a.Subnet.Contains(dst) && IsConnectedRoute(d, i))
                {
                    best = new FibResult(false, d.Name, null, a.Local);
                    bestLen = a.PrefixLength;
                }
            }
        }
        foreach (var r in ns.Routes)
        {
            if (r.Destination.PrefixLength > bestLen && r.Destination.Contains(dst) && ns.Device(r.Device) is { Up: true })
            {
                // fib_info_update_nhc_saddr: inet_select_addr(dev, gateway or 0, scope): for a device route the
                // device's first primary address, whatever the destination; 0.0.0.0 if the namespace has none.
                best = new FibResult(false, r.Device, r.Gateway, SelectAddress(ns, r.Device, r.Gateway ?? default) ?? default);
                bestLen = r.Destination.PrefixLength;
            }
        }
        return best;
    }

    /// <summary>
    /// The connected routes: each primary address of an up device, other than loopback, gives its subnet through that
    /// device with itself as source (<c>fib_add_ifaddr</c>; the route goes with the device, <c>fib_disable_ip</c>).
    /// </summary>
    public static IEnumerable<(Cidr Subnet, string Device, IPv4Address Src)> Connected(Netns ns)
    {
        ArgumentNullException.ThrowIfNull(ns);
        foreach (var d in ns.Devices)
        {
            for (var i = 0; i < d.Addresses.Length; i++)
            {
                if (IsConnectedRoute(d, i)) yield return (d.Addresses[i].Subnet, d.Name, d.Addresses[i].Local);
            }
        }
    }

    /// <summary>Does the device's <paramref name="i"/>-th address give a connected route (an up device other than loopback, a primary address)?</summary>
    private static bool IsConnectedRoute(NetDevice d, int i) => d.Up && d.Kind != DeviceKind.Loopback && IsPrimary(d, i);

    /// <summary>
    /// Is the device's <paramref name="i"/>-th address primary? A later address in a subnet already present is
    /// secondary (<c>__inet_insert_ifa</c>): no route of its own, never chosen as a source.
    /// </summary>
    private static bool IsPrimary(NetDevice d, int i)
    {
        var subnet = d.Addresses[i].Subnet;
        for (var j = 0; j < i; j++)
        {
            if (d.Addresses[j].Subnet == subnet) return false;
        }
        return true;
    }

    /// <summary>
    /// <c>inet_select_addr(dev, dst, RT_SCOPE_UNIVERSE)</c>: the device's first primary universe-scope address whose
    /// subnet holds <paramref name="dst"/> (0.0.0.0: no destination, the first primary), else its first primary universe-scope address, else the first such address
    /// of any device of the namespace; null if the namespace has none (MASQUERADE then drops: "ate my IP address").
    /// </summary>
    public static IPv4Address? SelectAddress(Netns ns, string device, IPv4Address dst)
    {
        ArgumentNullException.ThrowIfNull(ns);
        IPv4Address? first = null;
        if (ns.Device(device) is { } d)
        {
            for (var i = 0; i < d.Addresses.Length; i++)
            {
                var a = d.Addresses[i];
                if (a.IsHostScope || !IsPrimary(d, i)) continue;
                if (dst.Value == 0 || a.Subnet.Contains(dst)) return a.Local;
                first ??= a.Local;
            }
        }
        if (first is not null) return first;
        foreach (var other in ns.Devices)
        {
            for (var i = 0; i < other.Addresses.Length; i++)
            {
                if (!other.Addresses[i].IsHostScope && IsPrimary(other, i)) return other.Addresses[i].Local;
            }
        }
        return null;
    }

    /// <summary>
    /// <c>fib_check_nh_v4_gw</c>: a gateway must be on a connected subnet of an up device (of <paramref name="device"/>
    /// if given); the device the route then uses, or null ("Nexthop has invalid gateway").
    /// </summary>
    public static string? GatewayDevice(Netns ns, IPv4Address gateway, string? device)
    {
        ArgumentNullException.ThrowIfNull(ns);
        string? found = null;
        var len = -1;
        foreach (var (subnet, dev, _) in Connected(ns))
        {
            if ((device is null || dev == device) && subnet.Contains(gateway) && subnet.PrefixLength > len)
            {
                found = dev;
                len = subnet.PrefixLength;
            }
        }
        return found;
    }

    /// <summary>Every route of the main table as <c>ip route</c> lists it: connected first, then those added.</summary>
    public static ImmutableArray<string> MainTable(Netns ns)
    {
        ArgumentNullException.ThrowIfNull(ns);
        return [.. Connected(ns).Select(c => $"{c.Subnet.Network}/{c.Subnet.PrefixLength} dev {c.Device} proto kernel scope link src {c.Src}"),
            .. ns.Routes.Select(r => r.ToString())];
    }
}
