using System.Collections.Immutable;
using ConntrackModel.Model.Conntrack;
using ConntrackModel.Model.Kernel;

namespace ConntrackModel.Model.Net;

/// <summary>
/// One network namespace's own state (<c>struct net</c>): its devices, the routes a scenario added, its sysctls, its
/// netfilter configuration (nat rules, conntrack users) and its conntrack statistics. Its conntrack entries and
/// sockets live in the world's tables, keyed by <paramref name="Index"/> as the kernel keys its global conntrack and
/// socket hashes by <c>struct net</c> (<c>nf_ct_key_equal</c> and <c>inet_match</c> compare the namespace).
/// <paramref name="Name"/> is null for the scenario's initial namespace. <paramref name="LocalTable"/>: the local
/// routing table exists (it is made with the first address); until then <c>__inet_dev_addr_type</c> finds no table
/// and answers RTN_BROADCAST, so bind() accepts any address (measured on 6.18 in a fresh namespace).
/// </summary>
public sealed record Netns(int Index, string? Name, ImmutableArray<NetDevice> Devices, ImmutableArray<FibRoute> Routes, Sysctls Sysctls,
    NetfilterConfig Netfilter, CtCounters Counters, bool LocalTable)
{
    /// <summary>The scenario's initial namespace: <c>lo</c> up with 127.0.0.1/8, as the replay makes it.</summary>
    public static Netns Initial { get; } = new(0, null, [NetDevice.Loopback(up: true)], [], Sysctls.Default, NetfilterConfig.Empty, CtCounters.Zero, true);

    /// <summary><c>ip netns add NAME</c>: only <c>lo</c>, down and without an address (<c>loopback_net_init</c>).</summary>
    public static Netns Create(int index, string name) =>
        new(index, name, [NetDevice.Loopback(up: false)], [], Sysctls.Default, NetfilterConfig.Empty, CtCounters.Zero, false);

    /// <summary>
    /// The ICMP rate limiter's per-destination token buckets (<c>inet_peer</c>'s <c>rate_tokens</c>/<c>rate_last</c>,
    /// <c>inet_peer_xrlim_allow</c>), by destination, in jiffies. Absent: a peer never limited yet.
    /// </summary>
    public ImmutableDictionary<Addressing.IPv4Address, IcmpPeer> IcmpPeers { get; init; } = ImmutableDictionary<Addressing.IPv4Address, IcmpPeer>.Empty;

    /// <summary>How traces and listings name it: its name, or <c>init</c> for the initial namespace.</summary>
    public string Display => Name ?? "init";

    public NetDevice? Device(string name)
    {
        foreach (var d in Devices)
        {
            if (d.Name == name) return d;
        }
        return null;
    }

    public Netns WithDevice(NetDevice device)
    {
        ArgumentNullException.ThrowIfNull(device);
        var i = -1;
        for (var k = 0; k < Devices.Length; k++)
        {
            if (Devices[k].Name == device.Name) i = k;
        }
        return this with { Devices = i < 0 ? Devices.Add(device) : Devices.SetItem(i, device) };
    }

    public bool Equals(Netns? other) =>
        other is not null && Index == other.Index && Name == other.Name && Devices.SequenceEqual(other.Devices) && Routes.SequenceEqual(other.Routes) &&
        Sysctls.Equals(other.Sysctls) && Netfilter.Equals(other.Netfilter) && Counters == other.Counters && LocalTable == other.LocalTable &&
        IcmpPeers.Count == other.IcmpPeers.Count && IcmpPeers.All(kv => other.IcmpPeers.TryGetValue(kv.Key, out var p) && p == kv.Value);

    public override int GetHashCode() => HashCode.Combine(Index, Name, Devices.Length, Routes.Length, Counters);
}

/// <summary>One destination's ICMP token bucket: tokens and the jiffy they were last counted at.</summary>
public readonly record struct IcmpPeer(long Tokens, long Last);
