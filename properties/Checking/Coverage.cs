using System.Collections.Immutable;
using ConntrackModel.Model.Iptables;
using ConntrackModel.Model.Conntrack;
using ConntrackModel.Model.Diagnostics;
using ConntrackModel.Model.Kernel;
using ConntrackModel.Model.Scenarios;
using ConntrackModel.Model.Sockets;
using ConntrackModel.Properties.Configs;

namespace ConntrackModel.Properties.Checking;

/// <summary>
/// What one trial exercised, as FsCheck classification labels "category: item": the commands it used, the rule
/// kinds, the conntrack and TCP states its worlds went through, and the events that make a run interesting.
/// Summed over a run they show what was explored, so a weak generator is visible.
/// </summary>
public static class Coverage
{
    public const string Command = "command";
    public const string Rule = "rule";
    public const string Conntrack = "conntrack state";
    public const string Socket = "tcp state";
    public const string Event = "event";

    public static ImmutableSortedSet<string> Labels(IEnumerable<(StepRecord Step, World Before, World After)> steps)
    {
        ArgumentNullException.ThrowIfNull(steps);
        var b = ImmutableSortedSet.CreateBuilder<string>(StringComparer.Ordinal);
        foreach (var (step, before, after) in steps)
        {
            var cmd = step.Line.Command;
            b.Add($"{Command}: {OpKinds.Name(OpKinds.Of(cmd))}");
            // A user setup's rules are of any kind: those the catalogue names are classified, the others by their table.
            if (cmd is Model.Scenarios.Command.IptablesAdd add)
                b.Add($"{Rule}: {(RuleKinds.TryOf(add.Rule) is { } kind ? RuleKinds.Name(kind) : $"other {add.Rule.Table.Name()} rule")}");
            foreach (var e in after.Conntrack.Live(after.Now)) b.Add($"{Conntrack}: {CtEntry.StateName(e.State)}");
            foreach (var e in after.Sockets.Ends.Where(e => !e.Gone)) b.Add($"{Socket}: {Tcp.StateName(e.State)}");
            if (!before.Netfilter.Tracking && after.Netfilter.Tracking && before.ConnectionCount > 0) b.Add($"{Event}: tracking started after a connection existed");
            if (after.Counters.InsertFailed > before.Counters.InsertFailed) b.Add($"{Event}: NAT clash at confirm (insert_failed)");
            if (after.Counters.Drop > before.Counters.Drop) b.Add($"{Event}: packet dropped by conntrack/NAT");
            if (cmd is not Model.Scenarios.Command.ConntrackFlush && before.Conntrack.Live(before.Now).Any(e => after.Conntrack.Find(e.Orig, after.Now) is null))
                b.Add($"{Event}: an entry expired");
            if (step.Events.OfType<KernelEvent.Choice>().Any(c => c.Made.Point.Kind is Model.Choices.ChoiceKind.NatPortOutcome or Model.Choices.ChoiceKind.NatPortOffset && c.Made.Value > 0))
                b.Add($"{Event}: NAT picked a port other than the first");
            if (step.Events.OfType<KernelEvent.Reset>().Any()) b.Add($"{Event}: a socket was reset");
            foreach (var v in step.Violations) b.Add($"{Event}: violation of {Invariants.Name(v.Invariant)}");
        }
        return b.ToImmutable();
    }
}
