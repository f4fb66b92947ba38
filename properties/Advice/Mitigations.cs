using System.Collections.Immutable;
using System.Globalization;
using System.Text.RegularExpressions;
using ConntrackModel.Model.Kernel;
using ConntrackModel.Properties.Setups;

namespace ConntrackModel.Properties.Advice;

/// <summary>The folklore fixes <c>ctmodel advise</c> tries on a setup, in the order issue 16 lists them.</summary>
public enum MitigationKind
{
    /// <summary>The setup as written: the row every other is compared with.</summary>
    AsWritten,

    /// <summary>
    /// "Load conntrack at boot": every namespace that tracks does so before any connection, through a conntrack match in
    /// a raw-table chain nothing jumps to (loading the module registers nothing in a namespace).
    /// </summary>
    TrackingFromBoot,

    /// <summary>"Use --random-fully": on every SNAT and MASQUERADE rule.</summary>
    RandomFully,

    /// <summary>"Give SNAT a port range the node's own sockets never use": ports outside every ip_local_port_range.</summary>
    DisjointPorts,

    /// <summary>"Give forwarded traffic its own SNAT address": a new address on the egress device, every SNAT and MASQUERADE to it.</summary>
    SeparateAddress,

    /// <summary>"Set nf_conntrack_tcp_loose=0": conntrack picks up no connection mid-stream.</summary>
    LooseOff,

    /// <summary>"Drop INVALID": <c>-m conntrack --ctstate INVALID -j DROP</c> in INPUT and FORWARD, with the setup's rules.</summary>
    InvalidDrop,

    /// <summary>"Never conntrack -F".</summary>
    NoFlush,
}

/// <summary>
/// A setup with one mitigation applied: its script (the setup as <see cref="Model.Scenarios.Scenario.ToScript"/> writes it,
/// here-documents inline, then changed), the lines of that script the mitigation added that must stay in the setup when
/// tracking starts late (<see cref="SetupEvents.Late"/> defers the setup's netfilter lines, not these), the events it
/// rules out, how many places it changed, and why it does not apply (then nothing else is meaningful).
/// </summary>
public sealed record MitigatedSetup(string Script, ImmutableHashSet<int> PinnedLines, SetupEvents Excluded, int Changes, string? NotApplicable)
{
    public bool Equals(MitigatedSetup? other) =>
        other is not null && Script == other.Script && PinnedLines.SetEquals(other.PinnedLines) && Excluded == other.Excluded && Changes == other.Changes &&
        NotApplicable == other.NotApplicable;

    public override int GetHashCode() => HashCode.Combine(Script.Length, Excluded, Changes);
}

/// <summary>
/// Each mitigation as a transformation of the setup's script: pure text in, text out, so that the mitigated setup reads
/// as a user would write it, runs through the one parser and the one step function, and replays on the kernel as is.
/// </summary>
public static partial class Mitigations
{
    /// <summary>
    /// What the transformations need to know of the setup as written: the namespaces that track (null: the initial one),
    /// every namespace's <c>ip_local_port_range</c>, and for each tracking namespace that forwards and NATs, where a
    /// separate SNAT address for forwarded traffic would go (<see cref="SeparateAddressOf"/>; absent: nowhere found).
    /// </summary>
    public sealed record SetupFacts(ImmutableArray<string?> Tracking, ImmutableArray<(int Low, int High)> LocalPortRanges)
    {
        /// <summary>Per tracking namespace that forwards: the egress device, the new address and its prefix length.</summary>
        public ImmutableArray<(string? Netns, string Device, Model.Addressing.IPv4Address Address, int Prefix)> SeparateAddresses { get; init; } = [];

        public static SetupFacts Of(World world)
        {
            ArgumentNullException.ThrowIfNull(world);
            return new SetupFacts(
                [.. world.Namespaces.Where(ns => ns.Netfilter.Tracking).Select(ns => ns.Name)],
                [.. world.Namespaces.Select(ns => (ns.Sysctls.LocalPortLow, ns.Sysctls.LocalPortHigh))])
            {
                SeparateAddresses = [.. world.Namespaces.Where(ns => ns.Netfilter.Tracking && ns.Sysctls.IpForward).Select(ns => SeparateAddressOf(world, ns)).OfType<(string?, string, Model.Addressing.IPv4Address, int)>()],
            };
        }

        /// <summary>
        /// Where forwarded traffic of <paramref name="ns"/> would get its own SNAT address: the device of the default route,
        /// else the one up device with an address outside every source the nat rules name (<c>-s</c>: the pods' side),
        /// and there the highest host address of its subnet that no namespace holds; null if there is no such device or
        /// address.
        /// </summary>
        public static (string? Netns, string Device, Model.Addressing.IPv4Address Address, int Prefix)? SeparateAddressOf(World world, Model.Net.Netns ns)
        {
            ArgumentNullException.ThrowIfNull(world);
            ArgumentNullException.ThrowIfNull(ns);
            var sources = ns.Netfilter.Nat.Rules.Where(r => r.Match.Source is not null && !r.Match.Not.HasFlag(Model.Iptables.Negated.Source)).Select(r => r.Match.Source!.Value).ToList();
            var candidates = ns.Devices.Where(d => d.Up && d.Kind != Model.Net.DeviceKind.Loopback && !d.Addresses.IsEmpty).ToList();
            var byRoute = ns.Routes.FirstOrDefault(r => r.Destination.PrefixLength == 0)?.Device;
            var device = byRoute is not null ? candidates.FirstOrDefault(d => d.Name == byRoute)
                : candidates.Where(d => !d.Addresses.Any(a => sources.Any(src => src.Contains(a.Local)))).ToList() is [var only] ? only : null;
            if (device is null) return null;
            var primary = device.Addresses[0];
            var taken = world.Namespaces.SelectMany(n => n.Devices).SelectMany(d => d.Addresses).Select(a => a.Local).ToHashSet();
            var network = primary.Subnet.Network.Value;
            var hosts = primary.PrefixLength >= 31 ? 0u : (1u << (32 - primary.PrefixLength)) - 2;
            for (var h = hosts; h >= 1; h--)
            {
                var candidate = new Model.Addressing.IPv4Address(network + h);
                if (!taken.Contains(candidate)) return (ns.Name, device.Name, candidate, primary.PrefixLength);
            }
            return null;
        }

        public bool Equals(SetupFacts? other) =>
            other is not null && Tracking.SequenceEqual(other.Tracking) && LocalPortRanges.SequenceEqual(other.LocalPortRanges) &&
            SeparateAddresses.SequenceEqual(other.SeparateAddresses);

        public override int GetHashCode() => HashCode.Combine(Tracking.Length, LocalPortRanges.Length);
    }

    public static ImmutableArray<MitigationKind> All { get; } = [.. Enum.GetValues<MitigationKind>()];

    /// <summary>The row's name in the table.</summary>
    public static string Name(MitigationKind kind) => kind switch
    {
        MitigationKind.AsWritten => "as written",
        MitigationKind.TrackingFromBoot => "tracking from boot",
        MitigationKind.RandomFully => "--random-fully on every SNAT/MASQUERADE",
        MitigationKind.DisjointPorts => "SNAT ports outside ip_local_port_range",
        MitigationKind.SeparateAddress => "a separate SNAT address for forwarded traffic",
        MitigationKind.LooseOff => "nf_conntrack_tcp_loose=0",
        MitigationKind.InvalidDrop => "--ctstate INVALID -j DROP in INPUT and FORWARD",
        MitigationKind.NoFlush => "no conntrack -F",
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    /// <summary>A short name for files and JSON: <c>as-written</c>, <c>random-fully</c>, ...</summary>
    public static string Slug(MitigationKind kind) => kind switch
    {
        MitigationKind.AsWritten => "as-written",
        MitigationKind.TrackingFromBoot => "tracking-from-boot",
        MitigationKind.RandomFully => "random-fully",
        MitigationKind.DisjointPorts => "disjoint-ports",
        MitigationKind.SeparateAddress => "separate-address",
        MitigationKind.LooseOff => "loose-off",
        MitigationKind.InvalidDrop => "invalid-drop",
        MitigationKind.NoFlush => "no-flush",
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    /// <summary>The SNAT ports <see cref="MitigationKind.DisjointPorts"/> gives: the widest run of 1024-65535 outside every namespace's ip_local_port_range, or null if none is left.</summary>
    public static (int Low, int High)? DisjointRange(SetupFacts facts)
    {
        ArgumentNullException.ThrowIfNull(facts);
        (int, int)? best = null;
        var start = 1024;
        foreach (var (low, high) in facts.LocalPortRanges.OrderBy(r => r.Low).Append((65536, 65536)))
        {
            if (low > start && (best is not { } b || low - 1 - start > b.Item2 - b.Item1)) best = (start, low - 1);
            start = Math.Max(start, high + 1);
        }
        return best;
    }

    /// <summary>Applies <paramref name="kind"/> to <paramref name="script"/> (the setup as <c>Scenario.ToScript</c> writes it).</summary>
    public static MitigatedSetup Apply(MitigationKind kind, string script, SetupFacts facts)
    {
        ArgumentNullException.ThrowIfNull(script);
        ArgumentNullException.ThrowIfNull(facts);
        var lines = script.TrimEnd('\n').Split('\n').ToList();
        switch (kind)
        {
            case MitigationKind.AsWritten:
                return new MitigatedSetup(script, [], SetupEvents.None, 0, null);
            case MitigationKind.NoFlush:
                return new MitigatedSetup(script, [], SetupEvents.Flush, 0, null);
            case MitigationKind.TrackingFromBoot:
            case MitigationKind.LooseOff:
            {
                if (facts.Tracking.IsEmpty) return NotApplicable(script, "no namespace of the setup tracks connections");
                // Appended: setup lines all run before the workload; pinned, so that a late start of the setup's own rules
                // does not take them along. Loading the module registers nothing in a namespace: what a namespace tracks
                // from boot is a conntrack user, here a conntrack match in a raw-table chain nothing jumps to, so it
                // changes no verdict (conntrack_mt_check calls nf_ct_netns_get when the rule is added; measured: a
                // connection in such a namespace gets an entry, and removing the chain stops tracking).
                string[] commands = kind == MitigationKind.TrackingFromBoot
                    ? ["iptables -t raw -N CONNTRACK-BOOT", "iptables -t raw -A CONNTRACK-BOOT -m conntrack --ctstate NEW -j RETURN"]
                    : ["sysctl -w net.netfilter.nf_conntrack_tcp_loose=0"];
                var first = lines.Count + 1;
                foreach (var ns in facts.Tracking)
                {
                    foreach (var command in commands) lines.Add(ns is null ? command : $"ip netns exec {ns} {command}");
                }
                var added = facts.Tracking.Length * commands.Length;
                return new MitigatedSetup(Join(lines), [.. Enumerable.Range(first, added)], SetupEvents.None, facts.Tracking.Length, null);
            }
            case MitigationKind.InvalidDrop:
            {
                if (facts.Tracking.IsEmpty) return NotApplicable(script, "no namespace of the setup tracks connections");
                // Not pinned: the drop rules come with the setup's other rules (they are conntrack users too, and pinning
                // them would start tracking at boot: another mitigation).
                foreach (var ns in facts.Tracking)
                {
                    foreach (var chain in new[] { "INPUT", "FORWARD" })
                        lines.Add($"{(ns is null ? "" : $"ip netns exec {ns} ")}iptables -A {chain} -m conntrack --ctstate INVALID -j DROP");
                }
                return new MitigatedSetup(Join(lines), [], SetupEvents.None, 2 * facts.Tracking.Length, null);
            }
            case MitigationKind.RandomFully:
            {
                int changes = 0, nat = 0;
                var result = MapRules(lines, rule =>
                {
                    if (!NatSource().IsMatch(rule)) return [rule];
                    nat++;
                    if (rule.Contains("--random-fully", StringComparison.Ordinal)) return [rule];
                    changes++;
                    return [rule + " --random-fully"];
                });
                return nat == 0 ? NotApplicable(script, "the setup has no SNAT or MASQUERADE rule")
                    : changes == 0 ? NotApplicable(script, "every SNAT and MASQUERADE rule of the setup has --random-fully already: the row would be the setup as written")
                    : new MitigatedSetup(Join(result), [], SetupEvents.None, changes, null);
            }
            case MitigationKind.DisjointPorts:
            {
                if (DisjointRange(facts) is not { } range) return NotApplicable(script, "the namespaces' ip_local_port_range leave no port of 1024-65535 free");
                var ports = string.Create(CultureInfo.InvariantCulture, $"{range.Low}-{range.High}");
                var changes = 0;
                var result = MapRules(lines, rule =>
                {
                    if (!NatSource().IsMatch(rule) || rule.Contains("--to-ports", StringComparison.Ordinal) || ToSourceWithPort().IsMatch(rule)) return [rule];
                    changes++;
                    string WithPorts(string r) => r.Contains("-j MASQUERADE", StringComparison.Ordinal)
                        ? r.Replace("-j MASQUERADE", $"-j MASQUERADE --to-ports {ports}", StringComparison.Ordinal)
                        : ToSource().Replace(r, m => $"{m.Value}:{ports}", 1);
                    // Ports need a protocol (--to-ports needs -p tcp or -p udp): a rule without one becomes one rule per
                    // protocol with the ports, and the original after them for everything else.
                    if (Protocol().IsMatch(rule)) return [WithPorts(rule)];
                    // -I puts each line before the ones it inserted earlier: written in reverse, the chain reads tcp, udp, rest.
                    string[] split = [WithPorts(AddProtocol(rule, "tcp")), WithPorts(AddProtocol(rule, "udp")), rule];
                    return ChainHead().Match(rule).Value.StartsWith("-I", StringComparison.Ordinal) ? [.. split.Reverse()] : split;
                });
                return changes == 0
                    ? NotApplicable(script, "the setup has no SNAT or MASQUERADE rule without ports of its own")
                    : new MitigatedSetup(Join(result), [], SetupEvents.None, changes, null);
            }
            case MitigationKind.SeparateAddress:
            {
                if (facts.SeparateAddresses.IsEmpty)
                    return NotApplicable(script, "no namespace both tracks and forwards (net.ipv4.ip_forward=1) with an egress device to give a second address");
                var changes = 0;
                var result = MapRules(lines, (ns, rule) =>
                {
                    if (!NatSource().IsMatch(rule) || facts.SeparateAddresses.FirstOrDefault(a => a.Netns == ns) is not { Device: not null } at) return [rule];
                    changes++;
                    var address = at.Address.ToString();
                    // MASQUERADE [--to-ports P-Q] becomes SNAT --to-source NEW[:P-Q]; an SNAT's addresses become NEW, its ports stay.
                    if (rule.Contains("-j MASQUERADE", StringComparison.Ordinal))
                    {
                        var ports = ToPorts().Match(rule);
                        var rest = ports.Success ? ToPorts().Replace(rule, "", 1) : rule;
                        return [rest.Replace("-j MASQUERADE", $"-j SNAT --to-source {address}{(ports.Success ? ":" + ports.Groups[1].Value : "")}", StringComparison.Ordinal)];
                    }
                    return [ToSource().Replace(rule, $"--to-source {address}", 1)];
                });
                if (changes == 0) return NotApplicable(script, "no SNAT or MASQUERADE rule in a namespace that forwards");
                foreach (var (ns, device, address, prefix) in facts.SeparateAddresses)
                    result.Add(string.Create(CultureInfo.InvariantCulture, $"ip {(ns is null ? "" : $"-n {ns} ")}addr add {address}/{prefix} dev {device}"));
                return new MitigatedSetup(Join(result), [], SetupEvents.None, changes, null);
            }
            default:
                throw new ArgumentOutOfRangeException(nameof(kind));
        }
    }

    private static MitigatedSetup NotApplicable(string script, string why) => new(script, [], SetupEvents.None, 0, why);

    private static string Join(List<string> lines) => string.Join("\n", lines) + "\n";

    /// <summary>
    /// Rewrites every rule line (an <c>iptables -A|-I</c> line, or an <c>-A|-I</c> line of an <c>iptables-restore</c>
    /// here-document) through <paramref name="map"/>, which may turn one rule into several; every other line stays.
    /// </summary>
    private static List<string> MapRules(List<string> lines, Func<string, IEnumerable<string>> map) => MapRules(lines, (_, rule) => map(rule));

    /// <inheritdoc cref="MapRules(List{string}, Func{string, IEnumerable{string}})"/>
    /// <remarks><paramref name="map"/> hears the rule's namespace too (null: the initial one).</remarks>
    private static List<string> MapRules(List<string> lines, Func<string?, string, IEnumerable<string>> map)
    {
        var result = new List<string>();
        string? heredocEnd = null;
        string? heredocNs = null;
        foreach (var line in lines)
        {
            if (heredocEnd is not null)
            {
                if (line == heredocEnd) heredocEnd = null;
                else if (line.StartsWith("-A ", StringComparison.Ordinal) || line.StartsWith("-I ", StringComparison.Ordinal))
                {
                    result.AddRange(MapBody(line, rule => map(heredocNs, rule)));
                    continue;
                }
                result.Add(line);
                continue;
            }
            if (Heredoc().Match(line) is { Success: true } h)
            {
                heredocEnd = h.Groups[1].Value;
                heredocNs = NetnsOf(line);
            }
            else if (IptablesRule().IsMatch(line))
            {
                result.AddRange(MapBody(line, rule => map(NetnsOf(line), rule)));
                continue;
            }
            result.Add(line);
        }
        return result;
    }

    /// <summary>
    /// <paramref name="map"/> applied to the line without a trailing <c># comment</c> (a <c>#</c> outside double quotes,
    /// where the scenario language's lines end), the comment put back on each line it returns.
    /// </summary>
    private static IEnumerable<string> MapBody(string line, Func<string, IEnumerable<string>> map)
    {
        var quoted = false;
        var cut = line.Length;
        for (var i = 0; i < line.Length; i++)
        {
            if (line[i] == '"') quoted = !quoted;
            else if (line[i] == '#' && !quoted && i > 0 && char.IsWhiteSpace(line[i - 1]))
            {
                cut = i;
                break;
            }
        }
        var body = line[..cut].TrimEnd();
        var comment = cut < line.Length ? " " + line[cut..] : "";
        return map(body).Select(r => r + comment);
    }

    /// <summary>The namespace an <c>ip netns exec NS ...</c> line runs in (null: the initial one).</summary>
    private static string? NetnsOf(string line) => NetnsExec().Match(line) is { Success: true } m ? m.Groups[1].Value : null;

    [GeneratedRegex(@"^ip netns exec (\S+) ")]
    private static partial Regex NetnsExec();

    [GeneratedRegex(@" --to-ports (\S+)")]
    private static partial Regex ToPorts();

    /// <summary>"-A CHAIN rest" with "-p PROTO" after the chain (and the rule number of an -I, if any).</summary>
    private static string AddProtocol(string rule, string proto) => ChainHead().Replace(rule, m => $"{m.Value} -p {proto}", 1);

    [GeneratedRegex(@"<<'?([A-Za-z_][A-Za-z0-9_]*)'?\s*$")]
    private static partial Regex Heredoc();

    [GeneratedRegex(@"^(ip netns exec \S+ )?iptables( -t \S+)? -[AI] ")]
    private static partial Regex IptablesRule();

    [GeneratedRegex(@"-j (SNAT|MASQUERADE)\b")]
    private static partial Regex NatSource();

    [GeneratedRegex(@"--to-source \S+:\d")]
    private static partial Regex ToSourceWithPort();

    [GeneratedRegex(@"--to-source [0-9.]+(-[0-9.]+)?")]
    private static partial Regex ToSource();

    [GeneratedRegex(@"(^|\s)(-p|--protocol) ")]
    private static partial Regex Protocol();

    [GeneratedRegex(@"(?<=(^|\s))-[AI] \S+( \d+)?")]
    private static partial Regex ChainHead();
}
