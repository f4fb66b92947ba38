using System.Globalization;
using ConntrackModel.Model.Addressing;
using ConntrackModel.Model.Nat;

namespace ConntrackModel.Model.Net;

/// <summary>
/// An IPv4 address on a device (<c>struct in_ifaddr</c>): the local address and its prefix length, as
/// <c>ip addr add ADDR/LEN dev DEV</c> gives it. 127.0.0.0/8 is host scope (<c>ifa_scope RT_SCOPE_HOST</c>,
/// <c>inet_rtm_newaddr</c> sets it for loopback addresses), every other address universe scope.
/// </summary>
public readonly record struct InAddr(IPv4Address Local, int PrefixLength)
{
    /// <summary>The connected subnet (<c>fib_add_ifaddr</c> adds its prefix route).</summary>
    public Cidr Subnet => new(new IPv4Address(Local.Value & Mask), PrefixLength);

    private uint Mask => PrefixLength == 0 ? 0u : uint.MaxValue << (32 - PrefixLength);

    public bool IsHostScope => Local.IsLoopback;

    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Local}/{PrefixLength}");
}
