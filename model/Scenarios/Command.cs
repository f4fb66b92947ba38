using System.Collections.Immutable;
using System.Globalization;
using ConntrackModel.Model.Addressing;
using ConntrackModel.Model.Iptables;
using ConntrackModel.Model.Nat;

namespace ConntrackModel.Model.Scenarios;

/// <summary>One line of a scenario script: what a user would type in the shell session.</summary>
public abstract record Command
{
    private Command()
    {
    }

    /// <summary>
    /// The namespace the command runs in (<c>ip netns exec NS ...</c>, <c>ip -n NS ...</c>); null for the scenario's
    /// initial namespace.
    /// </summary>
    public string? Netns { get; init; }

    /// <summary>The command as it would be written in a scenario script.</summary>
    public string ToScript()
    {
        var body = Body();
        if (Netns is null) return body;
        return this is IpCommand ? $"ip -n {Netns} {body[3..]}" : $"ip netns exec {Netns} {body}";
    }

    /// <summary>The command as typed in its own namespace.</summary>
    protected abstract string Body();

    public override string ToString() => ToScript();

    /// <summary>
    /// <c>listen IP:PORT</c>: a listening socket that accepts every connection; <c>listen -u IP:PORT</c>: a bound,
    /// unconnected UDP socket (a server).
    /// </summary>
    public sealed record Listen(SockAddr Address) : Command
    {
        public L4Proto Proto { get; init; }

        protected override string Body() => Proto == L4Proto.Udp ? $"listen -u {Address}" : $"listen {Address}";
    }

    /// <summary>
    /// <c>connect NAME [LOCAL] REMOTE</c>: bind (if LOCAL is given) and a blocking connect. <c>connect -u ...</c>: a
    /// UDP socket, bound to LOCAL or automatically, connect(2)ed to REMOTE; no packet is sent.
    /// </summary>
    public sealed record Connect(string Name, SockAddr? Local, SockAddr Remote) : Command
    {
        public L4Proto Proto { get; init; }

        protected override string Body()
        {
            var verb = Proto == L4Proto.Udp ? "connect -u" : "connect";
            return Local is { } l ? $"{verb} {Name} {l} {Remote}" : $"{verb} {Name} {Remote}";
        }
    }

    /// <summary><c>send END LABEL</c>: END is a connection name (client end) or NAME.server (accepted end).</summary>
    public sealed record Send(string End, string Label) : Command
    {
        protected override string Body() => $"send {End} {Label}";
    }

    /// <summary><c>close END</c>.</summary>
    public sealed record Close(string End) : Command
    {
        protected override string Body() => $"close {End}";
    }

    /// <summary><c>abort END</c>: SO_LINGER {1, 0} then close, so the kernel sends RST.</summary>
    public sealed record Abort(string End) : Command
    {
        protected override string Body() => $"abort {End}";
    }

    /// <summary>An <c>iptables</c> command: it acts on one table (<c>-t</c>; filter when not given).</summary>
    public abstract record IptablesCommand : Command
    {
        public abstract IptTable Table { get; }

        /// <summary>The command's start as iptables takes it: <c>iptables -t TABLE</c>.</summary>
        protected string Prefix => "iptables -t " + Table.Name();
    }

    /// <summary><c>iptables [-t TABLE] -A CHAIN ...</c> or <c>-I CHAIN [N] ...</c> (Position 1-based; null appends).</summary>
    public sealed record IptablesAdd(IptRule Rule, int? Position) : IptablesCommand
    {
        public override IptTable Table => Rule.Table;

        protected override string Body() => Position is { } p
            ? string.Create(CultureInfo.InvariantCulture, $"{Prefix} -I {Rule.ChainName} {p} {Rule.Spec}")
            : $"{Prefix} -A {Rule.ChainName} {Rule.Spec}";
    }

    /// <summary>
    /// <c>iptables [-t TABLE] -D CHAIN RULE</c> (Rule given) or <c>-D CHAIN N</c> (Index given, 1-based); a user chain is
    /// named by <see cref="UserChain"/>.
    /// </summary>
    public sealed record IptablesDelete(IptChain Chain, IptRule? Rule, int? Index) : IptablesCommand
    {
        public override IptTable Table => TableOf;

        /// <summary>The table (<see cref="Table"/>), settable.</summary>
        public IptTable TableOf { get; init; }

        /// <summary>The user chain, or null for the built-in <see cref="Chain"/>.</summary>
        public string? UserChain { get; init; }

        /// <summary>The chain's name as iptables writes it.</summary>
        public string ChainText => UserChain ?? ChainName(Chain);

        protected override string Body() => Rule is not null
            ? $"{Prefix} -D {ChainText} {Rule.Spec}"
            : string.Create(CultureInfo.InvariantCulture, $"{Prefix} -D {ChainText} {Index}");
    }

    /// <summary><c>iptables [-t TABLE] -R CHAIN N RULE</c>: rule N (1-based) of the chain is replaced by a new rule.</summary>
    public sealed record IptablesReplace(IptRule Rule, int Index) : IptablesCommand
    {
        public override IptTable Table => Rule.Table;

        protected override string Body() => string.Create(CultureInfo.InvariantCulture, $"{Prefix} -R {Rule.ChainName} {Index} {Rule.Spec}");
    }

    /// <summary><c>iptables [-t TABLE] -F [CHAIN]</c>: one chain's rules (a user chain: <see cref="UserChain"/>), or every chain's.</summary>
    public sealed record IptablesFlush(IptChain? Chain) : IptablesCommand
    {
        public override IptTable Table => TableOf;

        /// <summary>The table (<see cref="Table"/>), settable.</summary>
        public IptTable TableOf { get; init; }

        /// <summary>The user chain to flush, or null.</summary>
        public string? UserChain { get; init; }

        protected override string Body() =>
            UserChain is { } u ? $"{Prefix} -F {u}" : Chain is { } c ? $"{Prefix} -F {ChainName(c)}" : $"{Prefix} -F";
    }

    /// <summary><c>iptables [-t TABLE] -N CHAIN</c>: a new, empty user chain (no hook of its own: only a jump reaches it).</summary>
    public sealed record IptablesNewChain(string Chain) : IptablesCommand
    {
        public override IptTable Table => TableOf;

        /// <summary>The table (<see cref="Table"/>), settable.</summary>
        public IptTable TableOf { get; init; }

        protected override string Body() => $"{Prefix} -N {Chain}";
    }

    /// <summary><c>iptables [-t TABLE] -X [CHAIN]</c>: delete an empty, unreferenced user chain, or every user chain.</summary>
    public sealed record IptablesDeleteChain(string? Chain) : IptablesCommand
    {
        public override IptTable Table => TableOf;

        /// <summary>The table (<see cref="Table"/>), settable.</summary>
        public IptTable TableOf { get; init; }

        protected override string Body() => Chain is null ? $"{Prefix} -X" : $"{Prefix} -X {Chain}";
    }

    /// <summary>
    /// <c>iptables [-t TABLE] -P CHAIN POLICY</c>: what a built-in chain does with a packet no rule decided (ACCEPT or
    /// DROP; the kernel refuses a user chain and any other word, iptables refuses DROP in the nat table).
    /// </summary>
    public sealed record IptablesPolicy(string Chain, string Policy) : IptablesCommand
    {
        public override IptTable Table => TableOf;

        /// <summary>The table (<see cref="Table"/>), settable.</summary>
        public IptTable TableOf { get; init; }

        protected override string Body() => $"{Prefix} -P {Chain} {Policy}";
    }

    /// <summary>
    /// <c>iptables-restore [--noflush] &lt;&lt;'TAG'</c> ... <c>TAG</c>: a dump of the nat table, as <c>iptables-save</c>
    /// writes it, applied block by block (<see cref="RestoreBlock"/>). <paramref name="Dump"/> is the here-document's
    /// text, line by line, as written.
    /// </summary>
    public sealed record IptablesRestore(bool NoFlush, ImmutableArray<string> Dump, ImmutableArray<RestoreBlock> Blocks) : Command
    {
        /// <summary>The word that ends the here-document.</summary>
        public string Tag { get; init; } = "EOF";

        protected override string Body() =>
            $"iptables-restore{(NoFlush ? " --noflush" : "")} <<'{Tag}'\n{string.Join("\n", Dump)}{(Dump.IsEmpty ? "" : "\n")}{Tag}";

        public bool Equals(IptablesRestore? other) =>
            other is not null && NoFlush == other.NoFlush && Tag == other.Tag && Netns == other.Netns && Dump.SequenceEqual(other.Dump);

        public override int GetHashCode() => HashCode.Combine(NoFlush, Tag, Dump.Length);
    }

    /// <summary><c>modprobe nf_conntrack</c>: in a namespace, a conntrack user that never goes away.</summary>
    public sealed record Modprobe : Command
    {
        protected override string Body() => "modprobe nf_conntrack";
    }

    /// <summary><c>conntrack -F</c>: delete every entry of the namespace.</summary>
    public sealed record ConntrackFlush : Command
    {
        protected override string Body() => "conntrack -F";
    }

    /// <summary><c>conntrack -D [FILTER]</c>: delete the namespace's entries the filter matches.</summary>
    public sealed record ConntrackDelete(Conntrack.CtFilter Filter) : Command
    {
        protected override string Body() => Filter.IsEmpty ? "conntrack -D" : $"conntrack -D {Filter}";
    }

    /// <summary><c>sysctl -w KEY=VALUE</c>, validated by the parser.</summary>
    public sealed record Sysctl(string Key, string Value) : Command
    {
        protected override string Body() => Value.Contains(' ', StringComparison.Ordinal) ? $"sysctl -w {Key}=\"{Value}\"" : $"sysctl -w {Key}={Value}";
    }

    /// <summary><c>sleep SECONDS</c>: time passes; timers fire, entries expire.</summary>
    public sealed record Sleep(long Milliseconds) : Command
    {
        protected override string Body() => string.Create(CultureInfo.InvariantCulture, $"sleep {Milliseconds / 1000.0:0.###}");
    }

    /// <summary>The <c>ip</c> subcommands (iproute2): written <c>ip -n NS ...</c> when they run in another namespace.</summary>
    public abstract record IpCommand : Command;

    /// <summary><c>ip netns add NAME</c>: a namespace with only <c>lo</c>, down.</summary>
    public sealed record NetnsAdd(string Name) : IpCommand
    {
        protected override string Body() => $"ip netns add {Name}";
    }

    /// <summary>
    /// <c>ip link add NAME [netns NS] type veth peer name PEER [netns NS2]</c>: a veth pair, both ends down. A null
    /// namespace is the one the command runs in.
    /// </summary>
    public sealed record LinkAddVeth(string Device, string? DeviceNetns, string Peer, string? PeerNetns) : IpCommand
    {
        protected override string Body() =>
            $"ip link add {Device}{(DeviceNetns is null ? "" : " netns " + DeviceNetns)} type veth peer name {Peer}{(PeerNetns is null ? "" : " netns " + PeerNetns)}";
    }

    /// <summary><c>ip link set DEV netns NS</c>: the device moves, down and without its addresses.</summary>
    public sealed record LinkSetNetns(string Device, string Target) : IpCommand
    {
        protected override string Body() => $"ip link set {Device} netns {Target}";
    }

    /// <summary><c>ip link set DEV up|down</c>.</summary>
    public sealed record LinkSetState(string Device, bool Up) : IpCommand
    {
        protected override string Body() => $"ip link set {Device} {(Up ? "up" : "down")}";
    }

    /// <summary><c>ip addr add|del ADDR/LEN dev DEV</c>.</summary>
    public sealed record AddrChange(bool Add, Net.InAddr Address, string Device) : IpCommand
    {
        protected override string Body() => $"ip addr {(Add ? "add" : "del")} {Address} dev {Device}";
    }

    /// <summary>
    /// <c>ip route add|del default|PREFIX/LEN [via GW] [dev DEV]</c> in the main table (add: at least one of GW and DEV; del: the first route to the prefix that has them).
    /// </summary>
    public sealed record RouteChange(bool Add, Cidr Destination, IPv4Address? Gateway, string? Device) : IpCommand
    {
        protected override string Body()
        {
            var dst = Destination.PrefixLength == 0 ? "default" : $"{Destination.Network}/{Destination.PrefixLength}";
            return $"ip route {(Add ? "add" : "del")} {dst}{(Gateway is { } g ? " via " + g : "")}{(Device is { } d ? " dev " + d : "")}";
        }
    }

    public static string ChainName(IptChain c) => IptRule.BuiltinName(c);
}
