using System.Collections.Immutable;
using System.Globalization;
using ConntrackModel.Model.Addressing;

namespace ConntrackModel.Model.Scenarios;

/// <summary>
/// The Kubernetes-like node of the <c>node-*</c> configurations: node is the initial namespace (forwarding on), pod
/// <c>k</c> (1-based) is namespace <c>podk</c> with 10.244.(k-1).2/24 behind node's <c>vethk</c> (10.244.(k-1).1/24),
/// and the server namespace (192.168.1.20/24 on <c>eth0</c>, listening on port 80, routing the pod network back
/// through node) hangs off node's <c>eth1</c> (192.168.1.10/24). Host-network processes on node connect from
/// 192.168.1.10; pods from their own address; the MASQUERADE rule is the CNI's pod-egress rule.
/// </summary>
/// <remarks>
/// <see cref="Udp"/>: the server is a UDP socket on 192.168.1.20:53 and every connection is <c>connect -u</c>.
/// <see cref="Service"/>: a Service 10.96.0.10:53 (UDP) whose DNAT rule in PREROUTING points at the backend
/// 192.168.1.20:53 and may be replaced by one to a second backend, 192.168.1.21:53; pods talk to the Service.
/// </remarks>
public sealed record NodeTopology(int Pods, bool RandomFully)
{
    public static IPv4Address NodeAddress { get; } = Ip("192.168.1.10");

    /// <summary>The TCP server every connection of a TCP node goes to.</summary>
    public static SockAddr Server { get; } = new(Ip("192.168.1.20"), 80);

    /// <summary>The UDP server of a UDP node (the first backend of a Service).</summary>
    public static SockAddr UdpServer { get; } = new(Ip("192.168.1.20"), 53);

    /// <summary>The second backend of a Service.</summary>
    public static SockAddr UdpServer2 { get; } = new(Ip("192.168.1.21"), 53);

    /// <summary>The Service's virtual address.</summary>
    public static SockAddr ServiceAddress { get; } = new(Ip("10.96.0.10"), 53);

    /// <summary>UDP: the server is a UDP socket and connections are datagram flows.</summary>
    public bool Udp { get; init; }

    /// <summary>A UDP Service DNATed to one backend by a rule that may be replaced (implies <see cref="Udp"/>).</summary>
    public bool Service { get; init; }

    /// <summary>Where a connection from origin <paramref name="k"/> goes: the Service for a pod of a Service node, else the server.</summary>
    public SockAddr Target(int k) => Service && k > 0 ? ServiceAddress : Udp || Service ? UdpServer : Server;

    /// <summary>The origins that open connections: node and the pods, or only the pods when they talk to a Service.</summary>
    public IEnumerable<int> Origins => Enumerable.Range(Service ? 1 : 0, Service ? Pods : Pods + 1);

    /// <summary>A Service node's second rule: the Service pointed at the second backend, in place of the first rule.</summary>
    public static string ReplacementRule => $"iptables -t nat -R PREROUTING 1 -d {ServiceAddress.Ip}/32 -p udp --dport {ServiceAddress.Port} -j DNAT --to-destination {UdpServer2}";

    /// <summary>The namespace of origin <paramref name="k"/>: null (node) for 0, else <c>podk</c>.</summary>
    public static string? Netns(int k) => k == 0 ? null : string.Create(CultureInfo.InvariantCulture, $"pod{k}");

    /// <summary>The address a connection from origin <paramref name="k"/> leaves from: node's, or pod k's.</summary>
    public static IPv4Address Address(int k) => k == 0 ? NodeAddress : Ip(string.Create(CultureInfo.InvariantCulture, $"10.244.{k - 1}.2"));

    /// <summary>The origin (0: node, k: pod k) whose namespace is <paramref name="netns"/>.</summary>
    public static int OriginOf(string? netns) =>
        netns is null ? 0 : netns.StartsWith("pod", StringComparison.Ordinal) ? int.Parse(netns[3..], CultureInfo.InvariantCulture) : -1;

    /// <summary>The node's rule: the pods' MASQUERADE as the CNI writes it, or a Service's DNAT to its first backend.</summary>
    public string Rule => Service
        ? $"iptables -t nat -A PREROUTING -d {ServiceAddress.Ip}/32 -p udp --dport {ServiceAddress.Port} -j DNAT --to-destination {UdpServer}"
        : "iptables -t nat -A POSTROUTING -s 10.244.0.0/16 -o eth1 -j MASQUERADE" + (RandomFully ? " --random-fully" : "");

    /// <summary>The setup every trial starts with: the namespaces, links, addresses, routes and the server's listener.</summary>
    public ImmutableArray<Command> Setup()
    {
        var lines = new List<string> { "sysctl -w net.ipv4.ip_forward=1", "ip netns add server" };
        for (var k = 1; k <= Pods; k++)
        {
            var i = k - 1;
            lines.AddRange(
            [
                $"ip netns add pod{k}",
                $"ip link add veth{k} type veth peer name eth0 netns pod{k}",
                $"ip addr add 10.244.{i}.1/24 dev veth{k}",
                $"ip link set veth{k} up",
                $"ip -n pod{k} addr add 10.244.{i}.2/24 dev eth0",
                $"ip -n pod{k} link set eth0 up",
                $"ip -n pod{k} route add default via 10.244.{i}.1",
            ]);
        }
        lines.AddRange(
        [
            "ip link add eth1 type veth peer name eth0 netns server",
            "ip addr add 192.168.1.10/24 dev eth1",
            "ip link set eth1 up",
            "ip -n server addr add 192.168.1.20/24 dev eth0",
            "ip -n server link set eth0 up",
            "ip -n server route add 10.244.0.0/16 via 192.168.1.10",
        ]);
        if (Service) lines.AddRange(["ip -n server addr add 192.168.1.21/24 dev eth0", $"ip netns exec server listen -u {UdpServer}", $"ip netns exec server listen -u {UdpServer2}"]);
        else lines.Add(Udp ? $"ip netns exec server listen -u {UdpServer}" : $"ip netns exec server listen {Server}");
        return [.. lines.Select(ScenarioParser.ParseLine)];
    }

    private static IPv4Address Ip(string text) => IPv4Address.TryParse(text, out var a) ? a : throw new FormatException(text);
}
