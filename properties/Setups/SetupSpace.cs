using System.Collections.Immutable;
using ConntrackModel.Model.Addressing;
using ConntrackModel.Model.Iptables;

namespace ConntrackModel.Properties.Setups;

/// <summary>
/// The events <c>check --setup</c> may add around a user's setup (<c>--events</c>): <c>conntrack -F</c>, idle
/// entries expiring, and tracking starting late (the setup's own netfilter lines coming after some connections).
/// </summary>
[Flags]
public enum SetupEvents
{
    None = 0,
    Flush = 1,
    Expiry = 2,
    Late = 4,
}

/// <summary>Where a generated connection may start: a namespace (null: the initial one) and an address of it.</summary>
public sealed record SetupOrigin(string? Netns, IPv4Address Address)
{
    public override string ToString() => $"{Netns ?? "init"} {Address}";
}

/// <summary>
/// Where a generated connection may go: a listener of the setup, or an address and port a nat rule matches with
/// <c>-d ADDR/32</c> (or <c>--dst-type LOCAL</c>) and <c>--dport PORT[:PORT]</c> or <c>-m multiport --dports LIST</c> (a
/// range's ends) along a path of jumps (a Service, a NodePort: where DNAT can take it); <paramref name="Why"/> says which.
/// </summary>
public sealed record SetupTarget(SockAddr Address, L4Proto Proto, string Why)
{
    public override string ToString() => $"{(Proto == L4Proto.Udp ? "udp " : "")}{Address} ({Why})";
}

/// <summary>
/// What a setup offers the workload generator (<see cref="SetupSpaces.From"/>): origins, targets, the ports a bound
/// connection draws from (the rules' NAT ports and ranges' ends, and a few more, so that they meet), the setup's
/// netfilter lines that <see cref="SetupEvents.Late"/> defers into the workload (in their order), the events allowed,
/// and the file it came from.
/// </summary>
public sealed record SetupSpace(
    string File,
    ImmutableArray<SetupOrigin> Origins,
    ImmutableArray<SetupTarget> Targets,
    ImmutableArray<int> Ports,
    ImmutableArray<Model.Scenarios.Command> Deferred,
    ImmutableArray<string?> Tracking,
    SetupEvents Events)
{
    /// <summary>
    /// <c>--shrink-setup</c>: shrinking may drop the setup's own commands and single rule lines of its restores, not
    /// only the generated workload's; <see cref="Lines"/> says which line each came from.
    /// </summary>
    public bool ShrinkSetup { get; init; }

    /// <summary>The setup's commands as read, each with its line in <see cref="File"/>.</summary>
    public ImmutableArray<(Model.Scenarios.Command Command, int Line)> Lines { get; init; } = [];

    /// <summary>Each rule the setup adds, with where it is written: <c>FILE:LINE</c>.</summary>
    public ImmutableArray<(Model.Iptables.IptRule Rule, string Where)> RuleLines { get; init; } = [];

    /// <summary>Where the setup added a rule the same as <paramref name="rule"/> (as iptables -D compares), or null.</summary>
    public string? WhereIs(Model.Iptables.IptRule rule)
    {
        ArgumentNullException.ThrowIfNull(rule);
        foreach (var (r, where) in RuleLines)
        {
            if (r.Table == rule.Table && r.SameRule(rule)) return where;
        }
        return null;
    }

    public bool Allows(SetupEvents e) => (Events & e) == e;

    public bool Equals(SetupSpace? other) =>
        other is not null && File == other.File && Events == other.Events && Origins.SequenceEqual(other.Origins) && Targets.SequenceEqual(other.Targets) &&
        Ports.SequenceEqual(other.Ports) && Deferred.SequenceEqual(other.Deferred) && Tracking.SequenceEqual(other.Tracking);

    public override int GetHashCode() => HashCode.Combine(File, Events, Origins.Length, Targets.Length);
}
