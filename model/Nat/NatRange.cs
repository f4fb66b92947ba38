using System.Globalization;
using ConntrackModel.Model.Addressing;

namespace ConntrackModel.Model.Nat;

/// <summary>
/// <c>struct nf_nat_range2</c> with its flags (include/uapi/linux/netfilter/nf_nat.h): MAP_IPS (an address range
/// is given), PROTO_SPECIFIED (a port range is given), PROTO_RANDOM (<c>--random</c>), PROTO_RANDOM_FULLY
/// (<c>--random-fully</c>) and PERSISTENT (<c>--persistent</c>).
/// </summary>
public sealed record NatRange(
    bool MapIps,
    IPv4Address MinIp,
    IPv4Address MaxIp,
    bool ProtoSpecified,
    int MinPort,
    int MaxPort,
    bool Random,
    bool RandomFully,
    bool Persistent)
{
    /// <summary>NF_NAT_RANGE_PROTO_RANDOM_ALL: current kernels treat both flags alike.</summary>
    public bool RandomAll => Random || RandomFully;

    /// <summary>The range <c>__nf_nat_alloc_null_binding</c> builds: this one address, no ports.</summary>
    public static NatRange NullBinding(IPv4Address ip) => new(true, ip, ip, false, 0, 0, false, false, false);

    public override string ToString()
    {
        var s = MapIps ? (MinIp == MaxIp ? MinIp.ToString() : $"{MinIp}-{MaxIp}") : "";
        if (ProtoSpecified) s += MinPort == MaxPort ? string.Create(CultureInfo.InvariantCulture, $":{MinPort}") : string.Create(CultureInfo.InvariantCulture, $":{MinPort}-{MaxPort}");
        if (Random) s += " random";
        if (RandomFully) s += " random-fully";
        if (Persistent) s += " persistent";
        return s;
    }
}
