using System.Globalization;
using ConntrackModel.Model.Addressing;

namespace ConntrackModel.Model.Nat;

/// <summary>An address match <c>ADDR[/LEN]</c> as iptables' <c>-s</c>/<c>-d</c> take it.</summary>
public readonly record struct Cidr(IPv4Address Network, int PrefixLength)
{
    private uint Mask => PrefixLength == 0 ? 0u : uint.MaxValue << (32 - PrefixLength);

    public bool Contains(IPv4Address ip) => (ip.Value & Mask) == (Network.Value & Mask);

    public override string ToString() => PrefixLength == 32 ? Network.ToString() : string.Create(CultureInfo.InvariantCulture, $"{Network}/{PrefixLength}");
}
