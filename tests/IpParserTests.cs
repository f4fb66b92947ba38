using ConntrackModel.Model.Addressing;
using ConntrackModel.Model.Iptables;
using ConntrackModel.Model.Nat;
using ConntrackModel.Model.Net;
using ConntrackModel.Model.Scenarios;

namespace ConntrackModel.Tests;

/// <summary>The <c>ip</c> (iproute2) subset of scenario scripts and the namespace prefixes.</summary>
public class IpParserTests
{
    private static IPv4Address A(string text) => IPv4Address.TryParse(text, out var a) ? a : throw new FormatException(text);

    private static Cidr Net(string text, int length) => new(A(text), length);

    private static Command One(string line) => Run.Parse(line).Lines.Single().Command;

    /// <summary>Every accepted form (abbreviations, keyword orders, defaults included) and the record it gives.</summary>
    public static TheoryData<string, Command> Forms => new()
    {
        { "ip netns add pod1", new Command.NetnsAdd("pod1") },
        { "ip netns a pod1", new Command.NetnsAdd("pod1") },
        { "ip link add veth0 type veth peer name veth1", new Command.LinkAddVeth("veth0", null, "veth1", null) },
        { "ip link add veth0 type veth peer veth1", new Command.LinkAddVeth("veth0", null, "veth1", null) },
        { "ip link add veth0 netns node type veth peer name eth0 netns pod1", new Command.LinkAddVeth("veth0", "node", "eth0", "pod1") },
        { "ip link add veth0 type veth peer eth0 netns pod1", new Command.LinkAddVeth("veth0", null, "eth0", "pod1") },
        { "ip link add name veth0 type veth peer netns pod1 name eth0", new Command.LinkAddVeth("veth0", null, "eth0", "pod1") },
        { "ip link add dev veth0 type veth peer dev eth0", new Command.LinkAddVeth("veth0", null, "eth0", null) },
        { "ip l a veth0 type veth peer eth0", new Command.LinkAddVeth("veth0", null, "eth0", null) },
        { "ip link set eth0 netns pod1", new Command.LinkSetNetns("eth0", "pod1") },
        { "ip link set dev eth0 netns pod1", new Command.LinkSetNetns("eth0", "pod1") },
        { "ip link set eth0 up", new Command.LinkSetState("eth0", true) },
        { "ip link set dev eth0 up", new Command.LinkSetState("eth0", true) },
        { "ip link set up dev eth0", new Command.LinkSetState("eth0", true) },
        { "ip link set eth0 down", new Command.LinkSetState("eth0", false) },
        { "ip link change eth0 down", new Command.LinkSetState("eth0", false) },
        { "ip link s lo up", new Command.LinkSetState("lo", true) },
        { "ip addr add 10.0.0.1/24 dev eth0", new Command.AddrChange(true, new InAddr(A("10.0.0.1"), 24), "eth0") },
        { "ip address add 10.0.0.1/24 dev eth0", new Command.AddrChange(true, new InAddr(A("10.0.0.1"), 24), "eth0") },
        { "ip a add 10.0.0.1/24 dev eth0", new Command.AddrChange(true, new InAddr(A("10.0.0.1"), 24), "eth0") },
        { "ip addr add 10.0.0.1 dev eth0", new Command.AddrChange(true, new InAddr(A("10.0.0.1"), 32), "eth0") },
        { "ip addr add dev eth0 local 10.0.0.1/8", new Command.AddrChange(true, new InAddr(A("10.0.0.1"), 8), "eth0") },
        { "ip addr add 0.0.0.0/0 dev eth0", new Command.AddrChange(true, new InAddr(A("0.0.0.0"), 0), "eth0") },
        { "ip addr add 127.0.0.1/8 dev lo", new Command.AddrChange(true, new InAddr(IPv4Address.Loopback, 8), "lo") },
        { "ip addr del 10.0.0.1/24 dev eth0", new Command.AddrChange(false, new InAddr(A("10.0.0.1"), 24), "eth0") },
        { "ip addr delete 10.0.0.1/24 dev eth0", new Command.AddrChange(false, new InAddr(A("10.0.0.1"), 24), "eth0") },
        { "ip a d 10.0.0.1/24 dev eth0", new Command.AddrChange(false, new InAddr(A("10.0.0.1"), 24), "eth0") },
        { "ip route add default via 10.0.0.1", new Command.RouteChange(true, Net("0.0.0.0", 0), A("10.0.0.1"), null) },
        { "ip route add default via 10.0.0.1 dev eth0", new Command.RouteChange(true, Net("0.0.0.0", 0), A("10.0.0.1"), "eth0") },
        { "ip route add 0.0.0.0/0 dev eth0", new Command.RouteChange(true, Net("0.0.0.0", 0), null, "eth0") },
        { "ip route add 10.244.0.0/16 via 192.168.1.2 dev eth1", new Command.RouteChange(true, Net("10.244.0.0", 16), A("192.168.1.2"), "eth1") },
        { "ip route add 10.244.0.0/16 via 192.168.1.2", new Command.RouteChange(true, Net("10.244.0.0", 16), A("192.168.1.2"), null) },
        { "ip route add 10.244.1.0/24 dev cni0", new Command.RouteChange(true, Net("10.244.1.0", 24), null, "cni0") },
        { "ip route add 192.168.1.20 dev eth0", new Command.RouteChange(true, Net("192.168.1.20", 32), null, "eth0") },
        { "ip route add dev eth0 to 10.0.0.0/8", new Command.RouteChange(true, Net("10.0.0.0", 8), null, "eth0") },
        { "ip route add 10.0.0.0/8 oif eth0", new Command.RouteChange(true, Net("10.0.0.0", 8), null, "eth0") },
        { "ip r add 10.0.0.0/8 via 10.1.1.1", new Command.RouteChange(true, Net("10.0.0.0", 8), A("10.1.1.1"), null) },
        { "ip ro add 10.0.0.0/8 via 10.1.1.1", new Command.RouteChange(true, Net("10.0.0.0", 8), A("10.1.1.1"), null) },
        { "ip route del default via 10.0.0.1", new Command.RouteChange(false, Net("0.0.0.0", 0), A("10.0.0.1"), null) },
        { "ip route del 10.244.1.0/24 dev cni0", new Command.RouteChange(false, Net("10.244.1.0", 24), null, "cni0") },
        { "ip route del default", new Command.RouteChange(false, Net("0.0.0.0", 0), null, null) },
        { "ip route delete 10.0.0.0/8 via 10.1.1.1 dev eth0", new Command.RouteChange(false, Net("10.0.0.0", 8), A("10.1.1.1"), "eth0") },
        { "ip -n pod1 link set eth0 up", new Command.LinkSetState("eth0", true) { Netns = "pod1" } },
        { "ip -netns pod1 addr add 10.244.1.2/24 dev eth0", new Command.AddrChange(true, new InAddr(A("10.244.1.2"), 24), "eth0") { Netns = "pod1" } },
        { "ip --netns pod1 route add default via 10.244.1.1", new Command.RouteChange(true, Net("0.0.0.0", 0), A("10.244.1.1"), null) { Netns = "pod1" } },
        { "ip -n node link add veth0 type veth peer name eth0 netns pod1", new Command.LinkAddVeth("veth0", null, "eth0", "pod1") { Netns = "node" } },
        { "ip -n node link set veth1 netns pod2", new Command.LinkSetNetns("veth1", "pod2") { Netns = "node" } },
        { "ip -n node netns add pod2", new Command.NetnsAdd("pod2") { Netns = "node" } },
        { "ip netns exec pod1 ip link set lo up", new Command.LinkSetState("lo", true) { Netns = "pod1" } },
        { "ip netns exec pod1 ip route add default via 10.244.1.1 dev eth0", new Command.RouteChange(true, Net("0.0.0.0", 0), A("10.244.1.1"), "eth0") { Netns = "pod1" } },
        { "ip netns exec pod1 connect A 192.168.1.20:80", new Command.Connect("A", null, new SockAddr(A("192.168.1.20"), 80)) { Netns = "pod1" } },
        { "ip netns exec pod1 connect A 10.244.1.2:40000 192.168.1.20:80", new Command.Connect("A", new SockAddr(A("10.244.1.2"), 40000), new SockAddr(A("192.168.1.20"), 80)) { Netns = "pod1" } },
        { "ip netns exec server listen 192.168.1.20:80", new Command.Listen(new SockAddr(A("192.168.1.20"), 80)) { Netns = "server" } },
        { "ip netns exec pod1 send A hello", new Command.Send("A", "hello") { Netns = "pod1" } },
        { "ip netns exec server send A.server world", new Command.Send("A.server", "world") { Netns = "server" } },
        { "ip netns exec pod1 close A", new Command.Close("A") { Netns = "pod1" } },
        { "ip netns exec server abort A.server", new Command.Abort("A.server") { Netns = "server" } },
        { "ip netns exec node modprobe nf_conntrack", new Command.Modprobe { Netns = "node" } },
        { "ip netns exec node conntrack -F", new Command.ConntrackFlush { Netns = "node" } },
        { "ip netns exec node sysctl -w net.netfilter.nf_conntrack_tcp_loose=0", new Command.Sysctl("net.netfilter.nf_conntrack_tcp_loose", "0") { Netns = "node" } },
        { "ip netns exec node sysctl -w net.ipv4.ip_local_port_range=\"40000 40010\"", new Command.Sysctl("net.ipv4.ip_local_port_range", "40000 40010") { Netns = "node" } },
        { "ip netns exec node iptables -t nat -F", new Command.IptablesFlush(null) { Netns = "node" } },
        { "ip netns exec node iptables -t nat -D POSTROUTING 1", new Command.IptablesDelete(IptChain.PostRouting, null, 1) { Netns = "node" } },
        { "ip netns exec pod1 sleep 1.5", new Command.Sleep(1500) { Netns = "pod1" } },
        { "ip netns e pod1 close A", new Command.Close("A") { Netns = "pod1" } },
        { "ip net exec pod1 close A", new Command.Close("A") { Netns = "pod1" } },
        { "ip netns exec pod1 ip netns add pod2", new Command.NetnsAdd("pod2") { Netns = "pod1" } },
        { "ip link add v0 type veth peer name v1 # a comment", new Command.LinkAddVeth("v0", null, "v1", null) },
        { "ip link add \"v0\" type veth peer name v1", new Command.LinkAddVeth("v0", null, "v1", null) },
    };

    [Theory]
    [MemberData(nameof(Forms))]
    public void Parse_IpForm_GivesItsRecordWithTheNamespace(string line, Command expected)
    {
        Assert.Equal(expected, One(line));
    }

    [Theory]
    [MemberData(nameof(Forms))]
    public void ToScript_OfEveryIpForm_ParsesBackToTheSameRecord(string line, Command expected)
    {
        var parsed = One(line);
        Assert.Equal(expected, One(parsed.ToScript()));
        Assert.Equal(parsed.ToScript(), One(parsed.ToScript()).ToScript());
    }

    [Fact]
    public void Parse_NetnsExecIptables_GivesTheRuleInThatNamespace()
    {
        var add = Assert.IsType<Command.IptablesAdd>(One("ip netns exec node iptables -t nat -A POSTROUTING -s 10.244.0.0/16 -o eth1 -j MASQUERADE"));
        Assert.Equal("node", add.Netns);
        Assert.Null(add.Position);
        Assert.Equal(IptChain.PostRouting, add.Rule.Chain);
        Assert.Equal(Net("10.244.0.0", 16), add.Rule.Match.Source);
        Assert.Equal("eth1", add.Rule.Match.OutInterface);
        Assert.IsType<IptTarget.Masquerade>(add.Rule.Target);
        Assert.Equal("-s 10.244.0.0/16 -o eth1 -j MASQUERADE", add.Rule.Spec);
        Assert.Equal("ip netns exec node iptables -t nat -A POSTROUTING -s 10.244.0.0/16 -o eth1 -j MASQUERADE", add.ToScript());
        Assert.Equal(add, One(add.ToScript()));

        var del = Assert.IsType<Command.IptablesDelete>(One("ip netns exec node iptables -t nat -D POSTROUTING -s 10.244.0.0/16 -o eth1 -j MASQUERADE # gone"));
        Assert.Equal("node", del.Netns);
        Assert.True(del.Rule!.SameRule(add.Rule));
        Assert.Equal(del, One(del.ToScript()));

        var insert = Assert.IsType<Command.IptablesAdd>(One("ip netns exec node iptables -t nat -I PREROUTING 2 -p tcp -d 10.96.0.10 --dport 80 -j DNAT --to-destination 10.244.1.2:8080"));
        Assert.Equal(("node", 2), (insert.Netns, insert.Position!.Value));
        Assert.Equal(insert, One(insert.ToScript()));
    }

    [Fact]
    public void Parse_NetnsExecConnect_GivesConnectInThatNamespace()
    {
        var c = One("ip netns exec pod1 connect A 192.168.1.20:80");
        Assert.Equal(new Command.Connect("A", null, new SockAddr(A("192.168.1.20"), 80)) { Netns = "pod1" }, c);
        Assert.NotEqual(new Command.Connect("A", null, new SockAddr(A("192.168.1.20"), 80)), c);
        Assert.Equal("ip netns exec pod1 connect A 192.168.1.20:80", c.ToScript());
        // Quotes group words after the prefix as they do anywhere on a line.
        Assert.Equal(new Command.Send("A.server", "two words") { Netns = "server" }, One("ip netns exec server send A.server \"two words\""));
    }

    [Theory]
    [InlineData("ip netns exec pod1 ip link set lo up", "ip -n pod1 link set lo up")]
    [InlineData("ip -netns pod1 addr add 10.0.0.1 dev eth0", "ip -n pod1 addr add 10.0.0.1/32 dev eth0")]
    [InlineData("ip l a veth0 type veth peer eth0", "ip link add veth0 type veth peer name eth0")]
    [InlineData("ip link set up dev eth0", "ip link set eth0 up")]
    [InlineData("ip a d 10.0.0.1/24 dev eth0", "ip addr del 10.0.0.1/24 dev eth0")]
    [InlineData("ip ro add 0.0.0.0/0 oif eth0", "ip route add default dev eth0")]
    [InlineData("ip route add dev eth0 to 192.168.1.20", "ip route add 192.168.1.20/32 dev eth0")]
    [InlineData("ip route delete 10.0.0.0/8 dev eth0 via 10.1.1.1", "ip route del 10.0.0.0/8 via 10.1.1.1 dev eth0")]
    [InlineData("ip netns exec pod1 connect A 192.168.1.20:80", "ip netns exec pod1 connect A 192.168.1.20:80")]
    [InlineData("ip netns exec pod1 ip netns add pod2", "ip -n pod1 netns add pod2")]
    [InlineData("ip link add veth0 netns node type veth peer eth0 netns pod1", "ip link add veth0 netns node type veth peer name eth0 netns pod1")]
    public void ToScript_WritesTheCanonicalForm(string line, string script)
    {
        Assert.Equal(script, One(line).ToScript());
    }

    [Fact]
    public void ToScript_OfConstructedIpRecords_ParsesBackToThem()
    {
        Command[] commands =
        [
            new Command.NetnsAdd("pod1"),
            new Command.NetnsAdd("pod2") { Netns = "pod1" },
            new Command.LinkAddVeth("veth0", null, "eth0", null),
            new Command.LinkAddVeth("veth0", "node", "eth0", null),
            new Command.LinkAddVeth("veth0", null, "eth0", "pod1") { Netns = "node" },
            new Command.LinkAddVeth("abcdefghijklmno", "n1", "x", "n2"),
            new Command.LinkSetNetns("eth0", "pod1") { Netns = "node" },
            new Command.LinkSetState("lo", true),
            new Command.LinkSetState("eth0", false) { Netns = "pod1" },
            new Command.AddrChange(true, new InAddr(A("10.244.1.2"), 24), "eth0"),
            new Command.AddrChange(false, new InAddr(A("10.244.1.2"), 32), "eth0") { Netns = "pod1" },
            new Command.RouteChange(true, Net("0.0.0.0", 0), A("10.0.0.1"), null),
            new Command.RouteChange(true, Net("0.0.0.0", 0), null, "eth0"),
            new Command.RouteChange(false, Net("10.0.0.0", 8), A("10.1.1.1"), "eth0") { Netns = "node" },
            new Command.RouteChange(true, Net("192.168.1.20", 32), null, "eth1"),
            new Command.Listen(new SockAddr(A("10.244.1.2"), 8080)) { Netns = "pod1" },
            new Command.ConntrackFlush { Netns = "node" },
        ];
        foreach (var c in commands) Assert.Equal(c, One(c.ToScript()));
    }

    [Fact]
    public void Parse_ScenarioMixingNamespaces_KeepsLinesColumnsAndNamespaces()
    {
        var s = Run.Parse("""
            # two pods behind a node
            ip netns add node
            ip netns add pod1
            ip link add veth0 netns node type veth peer name eth0 netns pod1
              ip -n node link set veth0 up
            ip -n pod1 addr add 10.244.1.2/24 dev eth0
            ip netns exec pod1 ip route add default via 10.244.1.1
            ip netns exec node iptables -t nat -A POSTROUTING -s 10.244.0.0/16 -o eth1 -j MASQUERADE
            listen 127.0.0.1:8080
            """);
        Assert.Equal([2, 3, 4, 5, 6, 7, 8, 9], s.Lines.Select(l => l.Line));
        Assert.Equal(3, s.Lines[3].Column);
        Assert.Equal([null, null, null, "node", "pod1", "pod1", "node", null], s.Lines.Select(l => l.Command.Netns));
        var again = Run.Parse(s.ToScript());
        Assert.Equal(s.Lines.Select(l => l.Command), again.Lines.Select(l => l.Command));
    }

    [Theory]
    [InlineData("ip", 4, "missing argument: expected ip [-n NS] link|addr|route|netns ...")]
    [InlineData("ip foo", 4, "unknown ip object 'foo': expected link, addr, route or netns")]
    [InlineData("ip rule add from all lookup main", 4, "unsupported: 'ip rule' (only ip link, ip addr, ip route and ip netns are modelled)")]
    [InlineData("ip neigh show", 4, "unsupported: 'ip neighbor'")]
    [InlineData("ip -4 addr add 10.0.0.1/24 dev eth0", 4, "unsupported: 'ip -4' (only -n NS (-netns NS) is modelled)")]
    [InlineData("ip -n", 7, "expected a namespace NAME after -n")]
    [InlineData("ip -n pod1", 12, "missing argument: expected ip [-n NS] link|addr|route|netns ...")]
    [InlineData("ip -n pod1 -n pod2 link set lo up", 12, "unexpected '-n': the namespace is already given (ip -n pod1)")]
    [InlineData("ip -n ../x link set lo up", 7, "Invalid netns name \"../x\" (a netns name has no '/')")]
    [InlineData("ip netns del pod1", 10, "unsupported: 'ip netns delete' (only ip netns add and ip netns exec are modelled)")]
    [InlineData("ip netns list", 10, "unsupported: 'ip netns list'")]
    [InlineData("ip netns frob", 10, "unknown ip netns command 'frob': expected add or exec")]
    [InlineData("ip netns", 10, "missing argument: expected ip netns add NAME or ip netns exec NAME COMMAND...")]
    [InlineData("ip netns add", 14, "missing argument: expected ip netns add NAME")]
    [InlineData("ip netns add pod1 pod2", 19, "unexpected 'pod2': expected ip netns add NAME")]
    [InlineData("ip netns add a/b", 14, "Invalid netns name \"a/b\" (a netns name has no '/')")]
    [InlineData("ip netns add ..", 14, "Invalid netns name \"..\" (a netns name is not '.' or '..')")]
    [InlineData("ip netns add \"a b\"", 14, "Invalid netns name \"a b\" (a name with whitespace cannot be written in a scenario)")]
    [InlineData("ip netns exec", 15, "missing argument: expected ip netns exec NAME COMMAND...")]
    [InlineData("ip netns exec pod1", 20, "missing argument: expected a COMMAND after ip netns exec pod1 (one of listen, connect")]
    [InlineData("ip netns exec pod1 ip netns exec pod2 listen 10.0.0.1:80", 29, "nested namespace switch: 'ip netns exec' inside 'ip netns exec pod1' (a command runs in one namespace)")]
    [InlineData("ip netns exec pod1 ip -n pod2 link set lo up", 23, "nested namespace switch: 'ip -n' inside 'ip netns exec pod1'")]
    [InlineData("ip -n pod1 netns exec pod2 listen 10.0.0.1:80", 18, "nested namespace switch: 'ip netns exec' inside 'ip -n pod1'")]
    [InlineData("ip netns exec pod1 lisen 10.0.0.1:80", 20, "unknown command 'lisen': expected one of listen, connect, send, close, abort, iptables, ip,")]
    [InlineData("ip netns exec pod1 listen 10.0.0.1", 27, "expected IP:PORT")]
    [InlineData("ip netns exec pod1 connect", 28, "missing argument: expected connect [-u] NAME")]
    [InlineData("ip netns exec pod1 choose ephemeral:A 1", 20, "'choose' pins a choice of the whole scenario: it is not a command and cannot run in a namespace")]
    [InlineData("ip netns exec node iptables -t nat -A POSTROUTING -p sctp -j MASQUERADE", 54, "unsupported protocol 'sctp'")]
    [InlineData("ip netns exec node iptables -t nat -A OUTPUT -j SNAT --to-source 10.0.0.1", 49, "SNAT is only valid in POSTROUTING and INPUT")]
    [InlineData("ip link add br0 type bridge", 22, "unsupported: 'ip link add ... type bridge' (only veth pairs are modelled)")]
    [InlineData("ip link add veth0 mtu 1400 type veth peer name veth1", 19, "unsupported: 'ip link add ... mtu' (only NAME, netns NS and type veth peer [name] NAME2 [netns NS2] are modelled)")]
    [InlineData("ip link add veth0 up type veth peer name veth1", 19, "unsupported: 'ip link add ... up'")]
    [InlineData("ip link add veth0", 19, "missing argument: expected type veth peer [name] NAME2 after ip link add veth0 (only veth pairs are modelled)")]
    [InlineData("ip link add", 13, "missing argument: expected ip link add NAME [netns NS] type veth peer [name] NAME2 [netns NS2]")]
    [InlineData("ip link add type veth peer name veth1", 13, "missing device NAME before type")]
    [InlineData("ip link add veth0 type veth", 29, "missing argument: expected peer [name] NAME2 after type veth (a peer the kernel names is not modelled)")]
    [InlineData("ip link add veth0 type veth peer", 34, "missing argument: expected the peer's [name] NAME2 after peer")]
    [InlineData("ip link add veth0 type veth link eth0", 29, "unexpected 'link': expected peer [name] NAME2 after type veth")]
    [InlineData("ip link add veth0 type", 24, "expected a link type (veth) after type")]
    [InlineData("ip link add averyveryverylongname type veth peer name veth1", 13, "Error: argument \"averyveryverylongname\" is wrong: \"name\" not a valid ifname (it is 21 bytes long: a device name has at most 15)")]
    [InlineData("ip link add veth0 type veth peer name averyveryverylongname", 39, "Error: argument \"averyveryverylongname\" is wrong: \"name\" not a valid ifname")]
    [InlineData("ip link add a/b type veth peer name veth1", 13, "\"name\" not a valid ifname (a device name has no '/' or whitespace)")]
    [InlineData("ip link add .. type veth peer name veth1", 13, "\"name\" not a valid ifname (a device name is not '.' or '..')")]
    [InlineData("ip link add veth0 veth1 type veth peer name veth2", 19, "Error: either \"dev\" is duplicate, or \"veth1\" is garbage.")]
    [InlineData("ip link add veth0 type veth peer name veth1 name veth2", 50, "Error: either \"name\" is duplicate, or \"veth2\" is garbage.")]
    [InlineData("ip link add veth0 netns a netns b type veth peer name veth1", 27, "Error: duplicate \"netns\"")]
    [InlineData("ip link add veth0 type veth peer name veth1 netns a netns b", 53, "Error: duplicate \"netns\"")]
    [InlineData("ip link add veth0 type veth peer name veth1 netns", 51, "expected a namespace NAME after netns")]
    [InlineData("ip link add veth0 type veth peer name veth1 mtu 1400", 45, "unsupported: 'ip link add ... peer ... mtu' (only the peer's NAME2 and netns NS2 are modelled)")]
    [InlineData("ip link add veth0 type veth peer name veth1 type veth", 45, "unexpected 'type' after peer")]
    [InlineData("ip link del veth0", 9, "unsupported: 'ip link delete' (only ip link add ... type veth and ip link set are modelled)")]
    [InlineData("ip link show", 9, "unsupported: 'ip link show'")]
    [InlineData("ip link frob", 9, "unknown ip link command 'frob': expected add or set")]
    [InlineData("ip link", 9, "missing argument: expected ip link add NAME")]
    [InlineData("ip link set eth0", 18, "missing argument: expected up, down or netns NS after ip link set eth0")]
    [InlineData("ip link set up", 16, "missing argument: expected ip link set [dev] DEV up|down|netns NS")]
    [InlineData("ip link set eth0 mtu 1400", 18, "unsupported: 'ip link set ... mtu' (only up, down and netns NS are modelled)")]
    [InlineData("ip link set eth0 name eth1", 18, "unsupported: 'ip link set ... name'")]
    [InlineData("ip link set eth0 netns pod1 up", 29, "unsupported: 'ip link set ... netns ... up' (one change per ip link set: write each on a line of its own)")]
    [InlineData("ip link set eth0 up down", 21, "unsupported: 'ip link set ... up ... down'")]
    [InlineData("ip link set eth0 netns", 24, "expected a namespace NAME after netns")]
    [InlineData("ip link set eth0 netns .", 24, "Invalid netns name \".\"")]
    [InlineData("ip link set eth0 eth1 up", 18, "Error: either \"dev\" is duplicate, or \"eth1\" is garbage.")]
    [InlineData("ip link set dev . up", 17, "Error: argument \".\" is wrong: \"dev\" not a valid ifname")]
    [InlineData("ip link set dev eth0:1 up", 17, "\"dev\" not a valid ifname (the kernel refuses ':' in a device name)")]
    [InlineData("ip addr flush dev eth0", 9, "unsupported: 'ip addr flush' (only ip addr add and ip addr del are modelled)")]
    [InlineData("ip addr show", 9, "unsupported: 'ip addr show'")]
    [InlineData("ip addr frob", 9, "unknown ip addr command 'frob': expected add or del")]
    [InlineData("ip addr add 10.0.0.1/33 dev eth0", 22, "expected a prefix length 0-32, got '33'")]
    [InlineData("ip addr add 10.0.0/24 dev eth0", 13, "expected an IPv4 address, got '10.0.0'")]
    [InlineData("ip addr add 10.0.0.1/24", 25, "missing argument: expected dev DEV (ip: Not enough information: \"dev\" argument is required.)")]
    [InlineData("ip addr add dev eth0", 22, "missing argument: expected ip addr add|del ADDR[/LEN] dev DEV")]
    [InlineData("ip addr add 10.0.0.1/24 brd + dev eth0", 25, "unsupported: 'ip addr add ... brd' (only ADDR/LEN and dev DEV are modelled)")]
    [InlineData("ip addr del 10.0.0.1/24 dev eth0 label eth0:1", 34, "unsupported: 'ip addr del ... label'")]
    [InlineData("ip addr add 10.0.0.1/24 10.0.0.2/24 dev eth0", 25, "Error: either \"local\" is duplicate, or \"10.0.0.2/24\" is garbage.")]
    [InlineData("ip addr add 10.0.0.1/24 dev averyveryverylongname", 29, "Error: argument \"averyveryverylongname\" is wrong: \"dev\" not a valid ifname")]
    [InlineData("ip addr add 10.0.0.1/24 dev", 29, "expected a device DEV after dev")]
    [InlineData("ip route add 10.0.0.1/8 via 10.1.1.1", 14, "Error: Invalid prefix for given prefix length. (10.0.0.1 has host bits set for /8: expected 10.0.0.0/8)")]
    [InlineData("ip route add 10.0.0.0/8", 25, "missing argument: expected via GW or dev DEV")]
    [InlineData("ip route add via 10.0.0.1", 27, "missing argument: expected ip route add|del default|PREFIX[/LEN] [via GW] [dev DEV]")]
    [InlineData("ip route add 10.0.0.0/8 via 10.1.1.1 metric 5", 38, "unsupported: 'ip route add ... metric' (only default|PREFIX/LEN [via GW] [dev DEV] in the main table is modelled)")]
    [InlineData("ip route add 10.0.0.0/8 via 10.1.1.1 table 100", 38, "unsupported: 'ip route add ... table'")]
    [InlineData("ip route add blackhole 10.0.0.0/8", 14, "unsupported: 'ip route add blackhole ...' (only unicast routes are modelled)")]
    [InlineData("ip route replace default via 10.0.0.1", 10, "unsupported: 'ip route replace' (only ip route add and ip route del are modelled)")]
    [InlineData("ip route flush cache", 10, "unsupported: 'ip route flush'")]
    [InlineData("ip route frob", 10, "unknown ip route command 'frob': expected add or del")]
    [InlineData("ip route add default via gateway", 26, "expected GW as an IPv4 address, got 'gateway'")]
    [InlineData("ip route add default via", 26, "expected a gateway GW after via")]
    [InlineData("ip route add default via 10.0.0.1 via 10.0.0.2", 35, "unsupported: 'ip route add ... via ... via' (multipath routes are not modelled)")]
    [InlineData("ip route add default 10.0.0.0/8 dev eth0", 22, "Error: either \"to\" is duplicate, or \"10.0.0.0/8\" is garbage.")]
    [InlineData("ip route add 10.0.0.0/8 dev eth0 dev eth1", 38, "Error: either \"dev\" is duplicate, or \"eth1\" is garbage.")]
    [InlineData("ip r add 10.1.0.0/33 dev eth0", 19, "expected a prefix length 0-32, got '33'")]
    [InlineData("ip route add 10.0.0.0/8 dev a/b", 29, "\"dev\" not a valid ifname (a device name has no '/' or whitespace)")]

    public void Parse_BadIpLine_ReportsLineColumnAndWhatWasWrong(string line, int column, string message)
    {
        var r = ScenarioParser.Parse("bad.scenario", "# header\nlisten 127.0.0.1:8080\n" + line + "\nlisten 127.0.0.1:8081");
        Assert.False(r.Ok);
        var e = Assert.Single(r.Errors);
        Assert.Equal(3, e.Line);
        Assert.Equal(column, e.Column);
        Assert.Contains(message, e.Message, StringComparison.Ordinal);
        Assert.StartsWith($"bad.scenario:3:{column}: ", e.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_NameLengths_FollowIfnamsizAndNameMax()
    {
        Assert.Equal(new Command.LinkSetState("abcdefghijklmno", true), One("ip link set abcdefghijklmno up"));
        Assert.Equal(new Command.NetnsAdd(new string('n', 255)), One("ip netns add " + new string('n', 255)));

        var dev = Assert.Single(ScenarioParser.Parse("f", "ip link set abcdefghijklmnop up").Errors);
        Assert.Equal((1, 13), (dev.Line, dev.Column));
        Assert.Equal("Error: argument \"abcdefghijklmnop\" is wrong: \"dev\" not a valid ifname (it is 16 bytes long: a device name has at most 15)", dev.Message);

        // IFNAMSIZ counts bytes: eight two-byte characters are 16.
        var utf8 = Assert.Single(ScenarioParser.Parse("f", "ip link add éééééééé type veth peer name b").Errors);
        Assert.Equal(13, utf8.Column);
        Assert.Contains("(it is 16 bytes long: a device name has at most 15)", utf8.Message, StringComparison.Ordinal);

        var ns = Assert.Single(ScenarioParser.Parse("f", "ip netns add " + new string('n', 256)).Errors);
        Assert.Equal(14, ns.Column);
        Assert.StartsWith("Invalid netns name \"nnnn", ns.Message, StringComparison.Ordinal);
        Assert.EndsWith("(it is 256 bytes long: a netns name has at most 255)", ns.Message, StringComparison.Ordinal);
        Assert.True(ns.Message.Length < 200, "the name is echoed cut short");
    }

    [Fact]
    public void Parse_UnknownCommand_ListsIpAmongTheCommands()
    {
        var e = Assert.Single(ScenarioParser.Parse("f", "ipp link set lo up").Errors);
        Assert.Equal("unknown command 'ipp': expected one of listen, connect, send, close, abort, iptables, ip, modprobe, conntrack, sysctl, sleep, choose", e.Message);
    }

    [Fact]
    public void Parse_SeveralBadIpLines_ReportsEachOne()
    {
        var r = ScenarioParser.Parse("f", "ip netns add a\nip link add br0 type bridge\nip link set eth0 up\nip route add 10.0.0.1/8 dev eth0\nip netns del a\n");
        Assert.Equal([(2, 22), (4, 14), (5, 10)], r.Errors.Select(e => (e.Line, e.Column)));
    }
}
