using ConntrackModel.Model.Addressing;
using ConntrackModel.Model.Choices;
using ConntrackModel.Model.Iptables;
using ConntrackModel.Model.Kernel;
using ConntrackModel.Model.Net;
using ConntrackModel.Model.Scenarios;

namespace ConntrackModel.Tests;

/// <summary>
/// Namespaces, devices, addresses, routes and the packet path across them: each rule the model mirrors, one per test,
/// on the node topology of the examples (node is the initial namespace; pod1 and server hang off it by veth pairs).
/// </summary>
public class NetnsTests
{
    /// <summary>The topology of examples/node-late-start.scenario, up to and including the server's listener.</summary>
    private static readonly string Node = string.Concat(Run.Example("node-late-start.scenario").Split('\n')
        .SkipWhile(l => !l.StartsWith("ip ", StringComparison.Ordinal))
        .TakeWhile(l => !l.StartsWith('#')).Select(l => l + "\n"));

    private const string Masquerade = "iptables -t nat -A POSTROUTING -s 10.244.0.0/16 -o eth1 -j MASQUERADE\n";

    private static string? Rejection(string script) => Simulation.Run(Run.Parse(script), ChoiceSource.Seeded(1)).Rejected;

    private static World Final(string script) => Run.Sim(script).Final;

    private static Netns Ns(World w, string? name) => w.FindNetns(name)!;

    private static IEnumerable<KernelEvent> Events(Simulation sim) => sim.Steps.SelectMany(s => s.Events);

    // ------------------------------------------------------------------ devices, addresses, routes

    [Fact]
    public void NetnsAdd_MakesOnlyLo_DownAndWithoutAnAddress()
    {
        var pod = Ns(Final("ip netns add pod"), "pod");
        var lo = Assert.Single(pod.Devices);
        Assert.Equal(("lo", false), (lo.Name, lo.Up));
        Assert.Empty(lo.Addresses);
        Assert.False(pod.LocalTable);
        Assert.False(pod.Sysctls.IpForward);
        Assert.False(pod.Netfilter.Tracking);
    }

    [Fact]
    public void LinkSetLoUp_Adds127001()
    {
        var lo = Ns(Final("ip netns add pod\nip -n pod link set lo up"), "pod").Device("lo")!;
        Assert.True(lo.Up);
        Assert.Equal("127.0.0.1/8", Assert.Single(lo.Addresses).ToString());
    }

    [Fact]
    public void LinkAddVeth_MakesBothEndsDown_EachKnowingTheOther()
    {
        var w = Final("ip netns add pod\nip link add veth0 type veth peer name eth0 netns pod");
        var veth0 = Ns(w, null).Device("veth0")!;
        var eth0 = Ns(w, "pod").Device("eth0")!;
        Assert.False(veth0.Up || eth0.Up);
        Assert.Equal(new VethPeer(1, "eth0"), veth0.Peer);
        Assert.Equal(new VethPeer(0, "veth0"), eth0.Peer);
    }

    [Fact]
    public void LinkSetNetns_MovesTheDeviceDownAndWithoutAddresses_AndTellsItsPeer()
    {
        var w = Final("ip netns add pod\nip link add veth0 type veth peer name eth0\nip addr add 10.0.0.1/24 dev eth0\nip link set eth0 up\nip link set eth0 netns pod");
        Assert.Null(Ns(w, null).Device("eth0"));
        var moved = Ns(w, "pod").Device("eth0")!;
        Assert.False(moved.Up);
        Assert.Empty(moved.Addresses);
        Assert.Equal(new VethPeer(1, "eth0"), Ns(w, null).Device("veth0")!.Peer);
    }

    [Fact]
    public void LinkDown_DeletesItsRoutes_AndUpDoesNotBringThemBack()
    {
        // Measured on 6.18: "default via" is gone after down, and after up only the connected route returns.
        var w = Final("ip link add v0 type veth peer name v1\nip addr add 10.0.0.1/24 dev v0\nip link set v0 up\nip route add default via 10.0.0.2\nip link set v0 down\nip link set v0 up");
        Assert.Empty(Ns(w, null).Routes);
        Assert.Equal("10.0.0.0/24 dev v0 proto kernel scope link src 10.0.0.1", Assert.Single(Fib.MainTable(Ns(w, null))));
    }

    [Fact]
    public void AddrDel_OfTheLastAddress_DeletesTheDevicesRoutes()
    {
        var w = Final("ip link add v0 type veth peer name v1\nip addr add 10.0.0.1/24 dev v0\nip addr add 10.0.1.1/24 dev v0\nip link set v0 up\nip route add default via 10.0.0.2\nip addr del 10.0.1.1/24 dev v0");
        Assert.Single(Ns(w, null).Routes);
        w = LinuxKernel.Step(w, ScenarioParser.ParseLine("ip addr del 10.0.0.1/24 dev v0"), ChoiceSource.First).World;
        Assert.Empty(Ns(w, null).Routes);
    }

    [Fact]
    public void RouteAddThenDel_LeavesTheTableAsItWas()
    {
        var w = Final("ip link add v0 type veth peer name v1\nip addr add 10.0.0.1/24 dev v0\nip link set v0 up\nip route add 10.5.0.0/16 via 10.0.0.2\nip route del 10.5.0.0/16");
        Assert.Empty(Ns(w, null).Routes);
    }

    [Theory]
    [InlineData("ip -n nosuch link set lo up", "Cannot open network namespace \"nosuch\": No such file or directory")]
    [InlineData("ip netns exec nosuch listen 127.0.0.1:80", "Cannot open network namespace \"nosuch\": No such file or directory")]
    [InlineData("ip netns add a\nip netns add a", "Cannot create namespace file \"/run/netns/a\": File exists")]
    [InlineData("ip link add v0 type veth peer name v1\nip link add v0 type veth peer name v2", "RTNETLINK answers: File exists")]
    [InlineData("ip link add v0 type veth peer name v0", "RTNETLINK answers: File exists")]
    [InlineData("ip link add v0 type veth peer name v1 netns nosuch", "Error: argument \"nosuch\" is wrong: Invalid \"netns\" value")]
    [InlineData("ip link set eth9 up", "Cannot find device \"eth9\"")]
    [InlineData("ip netns add a\nip link set lo netns a", "RTNETLINK answers: Invalid argument")]
    [InlineData("ip link add v0 type veth peer name v1\nip link set v0 netns nosuch", "Error: argument \"nosuch\" is wrong: Invalid \"netns\" value")]
    [InlineData("ip addr add 10.0.0.1/24 dev eth9", "Cannot find device \"eth9\"")]
    [InlineData("ip link add v0 type veth peer name v1\nip addr add 10.0.0.1/24 dev v0\nip addr add 10.0.0.1/24 dev v0", "Error: ipv4: Address already assigned.")]
    [InlineData("ip link add v0 type veth peer name v1\nip addr del 10.0.0.1/24 dev v0", "Error: ipv4: Address not found.")]
    [InlineData("ip link add v0 type veth peer name v1\nip addr add 10.0.0.1/24 dev v0\nip route add default via 10.0.0.2", "Error: Nexthop has invalid gateway.")]
    [InlineData("ip link add v0 type veth peer name v1\nip link set v0 up\nip route add default via 10.9.9.9", "Error: Nexthop has invalid gateway.")]
    [InlineData("ip link add v0 type veth peer name v1\nip route add 10.5.0.0/16 dev v0", "Error: Device for nexthop is not up.")]
    [InlineData("ip link add v0 type veth peer name v1\nip addr add 10.0.0.1/24 dev v0\nip link set v0 up\nip route add default via 10.0.0.2\nip route add default via 10.0.0.3", "RTNETLINK answers: File exists")]
    [InlineData("ip link add v0 type veth peer name v1\nip addr add 10.0.0.1/24 dev v0\nip link set v0 up\nip route add 10.0.0.0/24 dev v0", "RTNETLINK answers: File exists")]
    [InlineData("ip route del default", "RTNETLINK answers: No such process")]
    [InlineData("ip route add default via 10.0.0.2 dev eth9", "Cannot find device \"eth9\"")]
    public void IpErrors_ReadAsIpPrintsThem(string script, string message) => Assert.Equal(message, Rejection(script));

    [Fact]
    public void Rejection_InAScript_IsReportedWithFileLineAndColumn()
    {
        var sim = Simulation.Run(Run.Parse("ip netns add pod\n  ip -n pod link set eth9 up"), ChoiceSource.First);
        Assert.Equal(2, sim.RejectedLine!.Line);
        Assert.Equal(3, sim.RejectedLine.Column);
        Assert.Equal("Cannot find device \"eth9\"", sim.Rejected);
    }

    // ------------------------------------------------------------------ bind and routing

    [Fact]
    public void Bind_InANamespaceWithoutAnyAddress_TakesAnyAddress_ThenOnlyItsOwn()
    {
        // __inet_dev_addr_type finds no local table and answers RTN_BROADCAST (measured: bind 10.7.7.7 succeeds).
        Assert.Null(Rejection("ip netns add a\nip netns exec a listen 10.7.7.7:80"));
        Assert.Contains("EADDRNOTAVAIL", Rejection("ip netns add a\nip -n a link set lo up\nip netns exec a listen 10.7.7.7:80"), StringComparison.Ordinal);
        Assert.Null(Rejection("ip netns add a\nip -n a link set lo up\nip netns exec a listen 127.0.0.5:80"));
    }

    [Fact]
    public void Connect_WithoutARoute_FailsAtOnceWithENETUNREACH()
    {
        var o = Run.Observe(Node + "ip netns exec server connect X 10.244.0.2:80");
        Assert.Equal("unreachable", o.Conn("X").Connect);
    }

    [Fact]
    public void Connect_WithoutBind_TakesTheRoutesSourceAddress()
    {
        // inet_select_addr through the route's device: the pod's own address, node's address on the server's subnet.
        var o = Run.Observe(Node + Masquerade + "ip netns exec pod1 connect P 192.168.1.20:80\nconnect N 192.168.1.20:80\nip netns exec server listen 192.168.1.20:81\nconnect L 192.168.1.10:80");
        Assert.StartsWith("10.244.0.2:", o.Conn("P").Local, StringComparison.Ordinal);
        Assert.StartsWith("192.168.1.10:", o.Conn("N").Local, StringComparison.Ordinal);
        Assert.Equal("refused", o.Conn("L").Connect);
    }

    [Fact]
    public void Forwarding_Off_DropsSilently_AndTheConnectTimesOut()
    {
        var sim = Run.Sim(Node.Replace("sysctl -w net.ipv4.ip_forward=1\n", "", StringComparison.Ordinal) + "ip netns exec pod1 connect P 192.168.1.20:80");
        Assert.Equal(ConnectResult.Timeout, sim.Final.FindConnection("P")!.Result);
        var drops = Events(sim).OfType<KernelEvent.Dropped>().ToList();
        Assert.NotEmpty(drops);
        Assert.All(drops, d => Assert.Contains("ip_forward is 0", d.Reason, StringComparison.Ordinal));
        Assert.DoesNotContain(Events(sim).OfType<KernelEvent.Captured>(), c => c.Device == "eth1");
    }

    [Fact]
    public void NoCarrier_WhenThePeerIsDown_DropsThePacketBeforeTheDevice()
    {
        var sim = Run.Sim(Node + "ip -n server link set eth0 down\nconnect N 192.168.1.20:80");
        Assert.Equal(ConnectResult.Timeout, sim.Final.FindConnection("N")!.Result);
        Assert.Contains(Events(sim).OfType<KernelEvent.Dropped>(), d => d.Reason.Contains("no carrier", StringComparison.Ordinal));
    }

    [Fact]
    public void NoArpAnswer_ForANextHopThePeerDoesNotHave_DropsThePacket()
    {
        // Measured on 6.18: a connect with a 3 s timeout to a neighbour nobody answers for times out.
        var sim = Run.Sim(Node + "connect N 192.168.1.30:80");
        Assert.Equal(ConnectResult.Timeout, sim.Final.FindConnection("N")!.Result);
        Assert.Contains(Events(sim).OfType<KernelEvent.Dropped>(), d => d.Reason.Contains("no ARP answer for 192.168.1.30", StringComparison.Ordinal));
    }

    [Fact]
    public void TheTrace_NamesTheNamespaceAndDeviceEachPacketLeaves()
    {
        var sim = Run.Sim(Node + Masquerade + "ip netns exec pod1 connect P 10.244.0.2:40000 192.168.1.20:80");
        var syns = Events(sim).OfType<KernelEvent.Captured>().Where(c => c.Segment.FlagString() == "S").Select(c => (c.Netns, c.Device)).ToList();
        Assert.Equal([("pod1", "eth0"), (null, "eth1")], syns);
        Assert.Contains(Events(sim).OfType<KernelEvent.Captured>(), c => c is { Netns: "server", Device: "eth0" } && c.Segment.FlagString() == "S.");
    }

    // ------------------------------------------------------------------ conntrack and NAT per namespace

    [Fact]
    public void VethScrub_APodsOwnDnatBehindAMasqueradingNode_GivesOneEntryInEachNamespace()
    {
        // skb_scrub_packet drops the entry at the veth: node tracks the pod's packets anew (measured on 6.18).
        var w = Final(Node + Masquerade + "ip netns exec pod1 iptables -t nat -A OUTPUT -d 10.96.0.10 -p tcp --dport 80 -j DNAT --to-destination 192.168.1.20:80\nip netns exec pod1 connect P 10.96.0.10:80");
        Assert.Equal(ConnectResult.Established, w.FindConnection("P")!.Result);
        var pod = Assert.Single(w.Conntrack.Live(w.Now, Ns(w, "pod1").Index));
        var node = Assert.Single(w.Conntrack.Live(w.Now, 0));
        Assert.Equal("10.96.0.10:80", pod.Orig.Dst.ToString());
        Assert.Equal("192.168.1.20:80", pod.Reply.Src.ToString());
        Assert.Equal("192.168.1.20:80", node.Orig.Dst.ToString());
        Assert.Equal("192.168.1.10", node.Reply.Dst.Ip.ToString());
        Assert.Empty(w.Conntrack.Live(w.Now, Ns(w, "server").Index));
    }

    [Fact]
    public void Loopback_KeepsTheEntry_OneEntryForBothDirections()
    {
        var w = Final(Node + Masquerade + "ip netns exec server listen 127.0.0.1:81\nip netns exec server modprobe nf_conntrack\nip netns exec server connect L 127.0.0.1:81");
        Assert.Equal(ConnectResult.Established, w.FindConnection("L")!.Result);
        Assert.Single(w.Conntrack.Live(w.Now, Ns(w, "server").Index));
    }

    [Fact]
    public void Masquerade_TakesTheOutputDevicesAddressOnTheNextHopsSubnet()
    {
        // inet_select_addr(out, nexthop, universe): eth1's primary address whose subnet holds the next hop.
        var script = Node.Replace("ip addr add 192.168.1.10/24 dev eth1\n", "ip addr add 172.16.0.10/24 dev eth1\nip addr add 192.168.1.10/24 dev eth1\nip addr add 192.168.1.11/24 dev eth1\n", StringComparison.Ordinal);
        var o = Run.Observe(script + Masquerade + "ip netns exec pod1 connect P 10.244.0.2:40000 192.168.1.20:80");
        Assert.Equal("192.168.1.10:40000", Assert.Single(o.Conn("P").Wire));
    }

    [Theory]
    [InlineData("ip link set eth1 down", 0)]
    [InlineData("ip addr del 192.168.1.10/24 dev eth1", 0)]
    [InlineData("ip link set veth0 down", 1)]
    public void MasqueradedEntries_GoWhenTheirDeviceGoesDownOrLosesTheAddress(string change, int left)
    {
        // masq_device_event / masq_inet_event: only the entries MASQUERADE made through that device (and address).
        var w = Final(Node + Masquerade + "ip netns exec pod1 connect P 10.244.0.2:40000 192.168.1.20:80\n" + change);
        Assert.Equal(left, w.Conntrack.Live(w.Now, 0).Count());
    }

    [Fact]
    public void AddrDel_OfAPrimary_TakesItsSecondariesWithIt()
    {
        // promote_secondaries is 0 in a new namespace (measured on 6.18: deleting 10.0.0.1/24 left no 10.0.0.2/24).
        var w = Final("ip link add v0 type veth peer name v1\nip addr add 10.0.0.1/24 dev v0\nip addr add 10.0.0.2/24 dev v0\nip addr add 10.0.1.1/24 dev v0\nip addr del 10.0.0.1/24 dev v0");
        Assert.Equal(["10.0.1.1/24"], Ns(w, null).Device("v0")!.Addresses.Select(a => a.ToString()));
        w = Final("ip link add v0 type veth peer name v1\nip addr add 10.0.0.1/24 dev v0\nip addr add 10.0.0.2/24 dev v0\nip addr del 10.0.0.2/24 dev v0");
        Assert.Equal(["10.0.0.1/24"], Ns(w, null).Device("v0")!.Addresses.Select(a => a.ToString()));
    }

    [Fact]
    public void SelectAddress_PrefersTheNextHopsSubnet_AndASecondaryIsNeverChosen()
    {
        var w = Final("ip link add v0 type veth peer name v1\nip addr add 10.0.0.1/24 dev v0\nip addr add 10.0.0.2/24 dev v0\nip addr add 10.0.1.1/24 dev v0\nip link set v0 up");
        var ns = Ns(w, null);
        Assert.Equal("10.0.1.1", Fib.SelectAddress(ns, "v0", new IPv4Address(0x0A000105))!.Value.ToString());
        Assert.Equal("10.0.0.1", Fib.SelectAddress(ns, "v0", new IPv4Address(0x0A000005))!.Value.ToString());
        Assert.Equal("10.0.0.1", Fib.SelectAddress(ns, "v0", default)!.Value.ToString());
        Assert.Equal(2, Fib.Connected(ns).Count());
    }

    [Fact]
    public void DeviceRoute_TakesTheDevicesFirstPrimaryAddress_WhateverTheDestination()
    {
        // fib_info_update_nhc_saddr: inet_select_addr(dev, 0, scope) for a route without a gateway (measured on 6.18:
        // with 10.0.0.1/24 then 10.5.0.1/24 on v0, `ip route get 10.5.7.9` through `10.5.7.0/24 dev v0` says src 10.0.0.1).
        var w = Final("ip link add v0 type veth peer name v1\nip addr add 10.0.0.1/24 dev v0\nip addr add 10.5.0.1/24 dev v0\nip link set v0 up\nip route add 10.5.7.0/24 dev v0");
        var r = Fib.Lookup(Ns(w, null), new IPv4Address(0x0A050709))!.Value;
        Assert.Equal(("v0", "10.0.0.1"), (r.Device, r.PrefSrc.ToString()));
    }

    [Fact]
    public void LocalDelivery_WithLoDown_IsDropped()
    {
        // Measured on 6.18: a connect to the namespace's own address with lo down times out.
        var sim = Run.Sim(Node + "ip netns exec server listen 192.168.1.20:81\nip -n server link set lo down\nip netns exec server connect X 192.168.1.20:81");
        Assert.Equal(ConnectResult.Timeout, sim.Final.FindConnection("X")!.Result);
        Assert.Contains(Events(sim).OfType<KernelEvent.Dropped>(), d => d.Reason.Contains("lo is down", StringComparison.Ordinal));
    }

    [Fact]
    public void RoutingLoop_BackToItsSource_IsAMartianThere()
    {
        // node routes 10.99.0.0/16 to pod1, which (forwarding) sends everything back: the SYN comes back to node with
        // node's own source address and is dropped (measured on 6.18: it came in once, with TTL 63, and went no further).
        var sim = Run.Sim(Node + "ip netns exec pod1 sysctl -w net.ipv4.ip_forward=1\nip route add 10.99.0.0/16 via 10.244.0.2\nconnect X 10.99.0.1:80");
        Assert.Equal(ConnectResult.Timeout, sim.Final.FindConnection("X")!.Result);
        Assert.Contains(Events(sim).OfType<KernelEvent.Dropped>(), d => d.Reason.Contains("martian source 10.244.0.1 on veth0", StringComparison.Ordinal));
        Assert.DoesNotContain(Events(sim).OfType<KernelEvent.Dropped>(), d => d.Reason.Contains("TTL exceeded", StringComparison.Ordinal));
    }

    [Fact]
    public void RoutingLoop_BetweenTwoForwarders_EndsWhenTheTtlRunsOut()
    {
        // node and server each route 10.99.0.0/16 to the other; a pod's SYN bounces between them until its TTL would
        // reach 0 (measured on 6.18: captured on node's eth1 from TTL 63 down to TTL 1, then gone; the connect times out).
        var sim = Run.Sim(Node + "ip netns exec server sysctl -w net.ipv4.ip_forward=1\nip route add 10.99.0.0/16 via 192.168.1.20\n" +
            "ip -n server route add 10.99.0.0/16 via 192.168.1.10\nip netns exec pod1 connect X 10.99.0.1:80");
        Assert.Equal(ConnectResult.Timeout, sim.Final.FindConnection("X")!.Result);
        Assert.Contains(Events(sim).OfType<KernelEvent.Dropped>(), d => d.Reason.Contains("TTL exceeded", StringComparison.Ordinal));
        // The first SYN leaves node's eth1 once per odd TTL from 63 down to 1: 32 times.
        var first = Events(sim).OfType<KernelEvent.Captured>().Where(c => c is { Netns: null, Device: "eth1" } && c.Segment.FlagString() == "S").ToList();
        Assert.True(first.Count >= 32, $"{first.Count} SYNs on eth1");
        Assert.Equal(0, first.Count % 32);
    }

    [Fact]
    public void Routes_ThroughLo_AndDeletingAConnectedRoute_AreNamedAsUnsupported()
    {
        Assert.StartsWith("unsupported: a route through lo", Rejection("ip route add 10.5.0.0/16 dev lo"), StringComparison.Ordinal);
        Assert.StartsWith("unsupported: deleting a connected", Rejection("ip link add v0 type veth peer name v1\nip addr add 10.0.0.1/24 dev v0\nip link set v0 up\nip route del 10.0.0.0/24"), StringComparison.Ordinal);
    }

    [Fact]
    public void SnatEntries_StayWhenTheDeviceGoesDown()
    {
        var w = Final(Node + "iptables -t nat -A POSTROUTING -s 10.244.0.0/16 -o eth1 -j SNAT --to-source 192.168.1.10\nip netns exec pod1 connect P 10.244.0.2:40000 192.168.1.20:80\nip link set eth1 down");
        Assert.Single(w.Conntrack.Live(w.Now, 0));
    }

    [Fact]
    public void InterfaceMatches_APlusMatchesEveryNameWithThatPrefix()
    {
        Assert.True(Model.Iptables.RuleMatch.InterfaceMatches("eth+", "eth1"));
        Assert.True(Model.Iptables.RuleMatch.InterfaceMatches("eth+", "eth"));
        Assert.False(Model.Iptables.RuleMatch.InterfaceMatches("eth+", "veth0"));
        Assert.False(Model.Iptables.RuleMatch.InterfaceMatches("eth", "eth1"));
        var o = Run.Observe(Node + "iptables -t nat -A POSTROUTING -o veth+ -j MASQUERADE\n" + Masquerade.Replace("-o eth1", "-o e+", StringComparison.Ordinal) + "ip netns exec pod1 connect P 10.244.0.2:40000 192.168.1.20:80");
        Assert.Equal("192.168.1.10:40000", Assert.Single(o.Conn("P").Wire));
    }

    [Fact]
    public void ConntrackFlush_InOneNamespace_LeavesTheOthers()
    {
        var before = Final(Node + Masquerade + "ip netns exec server modprobe nf_conntrack\nip netns exec pod1 connect P 10.244.0.2:40000 192.168.1.20:80");
        Assert.Single(before.Conntrack.Live(before.Now, Ns(before, "server").Index));
        var w = LinuxKernel.Step(before, ScenarioParser.ParseLine("ip netns exec server conntrack -F"), ChoiceSource.First).World;
        Assert.Single(w.Conntrack.Live(w.Now, 0));
        Assert.Empty(w.Conntrack.Live(w.Now, Ns(w, "server").Index));
    }

    [Fact]
    public void Counters_AreKeptPerNamespace_AndSummedForTheWorld()
    {
        var w = Final(Node + Masquerade + "ip netns exec server modprobe nf_conntrack\nip netns exec pod1 connect P 10.244.0.2:40000 192.168.1.20:80");
        Assert.Equal(1, Ns(w, null).Counters.Insert);
        Assert.Equal(1, Ns(w, "server").Counters.Insert);
        Assert.Equal(2, w.Counters.Insert);
    }

    [Fact]
    public void TheMeasuredNodeCase_ThePodKeepsPort40000_AndItsResetKillsTheNodeProcess()
    {
        var o = Run.Observe(Run.Example("node-late-start.scenario"));
        Assert.Equal("192.168.1.10:40000", Assert.Single(o.Conn("P").Wire));
        Assert.Equal("ECONNRESET", o.Conn("N").Server!.Error);
        Assert.Equal("ESTABLISHED", o.Conn("P").Client.State);
        Assert.Equal(["wire-tuple-uniqueness", "no-foreign-reset"], o.Violations.Select(v => v.Invariant));
        // The node process's next segment is picked up, clashes with the pod's reply tuple and leaves from another port.
        var sim = Run.Sim(Run.Example("node-late-start.scenario"));
        var after = sim.Steps[^1].Events.OfType<KernelEvent.Captured>().First(c => c.Segment.Origin == "N" && c.Segment.Payload == "after");
        Assert.NotEqual(40000, after.Segment.Tuple.Src.Port);
        Assert.Equal("ECONNRESET", o.Conn("N").Client.Error);
    }

    [Fact]
    public void Json_NamesEachEntrysNamespace()
    {
        var o = Run.Observe(Node + Masquerade + "ip netns exec pod1 iptables -t nat -A OUTPUT -d 10.96.0.10 -p tcp --dport 80 -j DNAT --to-destination 192.168.1.20:80\nip netns exec pod1 connect P 10.96.0.10:80");
        Assert.Equal([null, "pod1"], o.Conntrack.Select(e => e.Netns).Order());
        var json = Cli.Output.JsonReport.Write(o);
        Assert.Contains("\"netns\": \"pod1\"", json, StringComparison.Ordinal);
        Assert.Contains("\"netns\": null", json, StringComparison.Ordinal);
    }
}
