using System.Collections.Immutable;
using System.Diagnostics;
using System.Globalization;
using ConntrackModel.Model.Choices;
using ConntrackModel.Model.Diagnostics;
using ConntrackModel.Model.Kernel;
using ConntrackModel.Model.Scenarios;
using ConntrackModel.Properties.Checking;
using ConntrackModel.Properties.Configs;
using ConntrackModel.Properties.Generation;
using ConntrackModel.Properties.Setups;

namespace ConntrackModel.Properties.Advice;

/// <summary>What one cell of the table found.</summary>
public enum AdviceVerdict
{
    /// <summary>A workload around the mitigated setup broke an invariant: the minimal one is kept.</summary>
    Collision,

    /// <summary>No generated workload broke one: a search, not a proof.</summary>
    NoneFound,

    /// <summary>The mitigation rules the event out (no conntrack -F: no flush).</summary>
    Excluded,

    /// <summary>The mitigation does not apply to this setup, or the event not to the mitigated setup (the reason is kept).</summary>
    NotApplicable,
}

/// <summary>
/// How likely a minimal collision is when it rests on a random NAT port (<c>--random-fully</c>, or a range over 128
/// ports): of the <paramref name="Of"/> values of the random u16 offset <paramref name="Key"/> draws, how many make the
/// same violation happen, everything else as in the minimal trial.
/// </summary>
public sealed record CollisionOdds(string Key, long Hits, long Of)
{
    /// <summary>
    /// The offsets that collide reached the edge of the window searched (<see cref="Advisor.OddsWindow"/>): there may be
    /// more beyond it, so <see cref="Hits"/> is a lower bound.
    /// </summary>
    public bool AtLeast { get; init; }

    public override string ToString() => (Hits == 1
        ? string.Create(CultureInfo.InvariantCulture, $"odds 1 in {Of}")
        : string.Create(CultureInfo.InvariantCulture, $"odds {Hits} in {Of}, about 1 in {Math.Round((double)Of / Hits):0}")) + (AtLeast ? " or more" : "");
}

/// <summary>One cell: a mitigation under one event, its verdict, the minimal counterexample if any, and what it cost.</summary>
public sealed record AdviceCell(MitigationKind Mitigation, SetupEvents Event, AdviceVerdict Verdict, string? Why, Trial? Minimal, CheckConfig? Config, int TestsRun, int SeedsRun, TimeSpan Elapsed)
{
    /// <summary>For a collision that rests on a random NAT port: its odds (<see cref="Advisor.Odds"/>); null otherwise.</summary>
    public CollisionOdds? Odds { get; init; }

    /// <summary>The cell as the table writes it.</summary>
    public string Text => Verdict switch
    {
        AdviceVerdict.Collision => string.Create(CultureInfo.InvariantCulture, $"collision: {Minimal!.Body.Count} steps{(Odds is { } o ? $" ({o})" : "")}"),
        AdviceVerdict.NoneFound => string.Create(CultureInfo.InvariantCulture, $"none found in {TestsRun} tests"),
        AdviceVerdict.Excluded => "ruled out",
        _ => "n/a",
    };
}

/// <summary>One row: a mitigation, the setup it made, and a cell per event.</summary>
public sealed record AdviceRow(MitigationKind Mitigation, MitigatedSetup Setup, ImmutableArray<AdviceCell> Cells)
{
    public bool Equals(AdviceRow? other) => other is not null && Mitigation == other.Mitigation && Setup.Equals(other.Setup) && Cells.SequenceEqual(other.Cells);

    public override int GetHashCode() => HashCode.Combine(Mitigation, Cells.Length);
}

/// <summary>The whole table for a setup.</summary>
public sealed record AdviceTable(string File, ImmutableArray<SetupEvents> Events, int Tests, int Seeds, ImmutableArray<AdviceRow> Rows, TimeSpan Elapsed)
{
    public bool Equals(AdviceTable? other) =>
        other is not null && File == other.File && Events.SequenceEqual(other.Events) && Tests == other.Tests && Seeds == other.Seeds && Rows.SequenceEqual(other.Rows);

    public override int GetHashCode() => HashCode.Combine(File, Rows.Length);
}

/// <summary>
/// <c>ctmodel advise</c>'s engine: the setup as written and under each mitigation (<see cref="Mitigations"/>), each under
/// each event, searched by the property runner (<see cref="CheckRunner"/>, the same search and shrinking as
/// <c>check --setup</c>) with seeds 1..<c>seeds</c> of <c>tests</c> tests each, stopping at the first counterexample. A
/// cell with none is a search that found nothing, never a proof.
/// </summary>
public static class Advisor
{
    public const int DefaultTests = 5000;

    public const int DefaultSeeds = 1;

    public static ImmutableArray<SetupEvents> DefaultEvents { get; } = [SetupEvents.Late, SetupEvents.Flush, SetupEvents.Expiry];

    /// <summary>
    /// The table for <paramref name="setup"/>, read from <paramref name="file"/>; null and the reason when the setup as
    /// written is not one (the same refusals as <c>check --setup</c>). <paramref name="progress"/> hears each cell done.
    /// </summary>
    public static (AdviceTable? Table, string? Error) Run(string file, Scenario setup, ImmutableArray<SetupEvents> events, int tests, int seeds,
        Action<AdviceCell>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(file);
        ArgumentNullException.ThrowIfNull(setup);
        var clock = Stopwatch.StartNew();
        var (asWritten, error) = SetupSpaces.From(file, setup, SetupEvents.None);
        if (asWritten is null) return (null, error);
        var facts = Mitigations.SetupFacts.Of(Simulation.Run(setup, ChoiceSource.First).Final);
        var script = setup.ToScript();
        var rows = ImmutableArray.CreateBuilder<AdviceRow>();
        foreach (var kind in Mitigations.All)
        {
            var mitigated = Mitigations.Apply(kind, script, facts);
            var parsed = mitigated.NotApplicable is null ? ScenarioParser.Parse($"{Mitigations.Slug(kind)}.scenario", mitigated.Script) : null;
            var why = mitigated.NotApplicable ?? (parsed is { Ok: false } p ? $"the mitigated setup does not parse: {p.Errors[0]}" : null);
            var cells = ImmutableArray.CreateBuilder<AdviceCell>();
            foreach (var e in events)
            {
                var cell = why is not null
                    ? new AdviceCell(kind, e, AdviceVerdict.NotApplicable, why, null, null, 0, 0, TimeSpan.Zero)
                    : (mitigated.Excluded & e) != 0
                        ? new AdviceCell(kind, e, AdviceVerdict.Excluded, $"{Mitigations.Name(kind)} rules out {SetupSpaces.EventsText(e)}", null, null, 0, 0, TimeSpan.Zero)
                        : Search(file, kind, parsed!.Scenario!, mitigated, e, tests, seeds);
                progress?.Invoke(cell);
                cells.Add(cell);
            }
            rows.Add(new AdviceRow(kind, mitigated, cells.ToImmutable()));
        }
        return (new AdviceTable(file, events, tests, seeds, rows.ToImmutable(), clock.Elapsed), null);
    }

    /// <summary>How far either side of the minimal trial's start offset <see cref="Odds"/> looks for others that collide.</summary>
    public const int OddsWindow = 64;

    /// <summary>
    /// The odds of a minimal collision that rests on a random NAT port search (<see cref="ChoiceKind.NatPortOffset"/>): the
    /// search probes <c>PortLow + off % PortCount</c> first, so the answer depends only on the start class <c>off %
    /// PortCount</c>; the classes within <see cref="OddsWindow"/> of the chosen one are replayed (a start further away
    /// would have to step over that many ports in use to reach the same port), and each that breaks the same invariant
    /// counts its offsets of 0-65535. With several such draws, the last one the violation depends on is counted, the
    /// others as in the minimal case (when two NATed connections meet, that is the odds of the second landing on the
    /// first's port). Null when the violation depends on no such draw (it happens whatever the offset in the window).
    /// </summary>
    public static CollisionOdds? Odds(Trial minimal)
    {
        ArgumentNullException.ThrowIfNull(minimal);
        var sim = minimal.Replay();
        if (sim.Violations.FirstOrDefault() is not { } violation) return null;
        var offsets = sim.Events.OfType<KernelEvent.Choice>().Select(c => c.Made)
            .Where(m => m.Point.Kind == ChoiceKind.NatPortOffset && m.Point.PortCount > 2 * OddsWindow + 1)
            .DistinctBy(m => m.Point.Key).ToList();
        // The last draw first: the one whose landing completes the collision.
        foreach (var made in Enumerable.Reverse(offsets))
        {
            var key = made.Point.Key.ToString();
            var size = made.Point.PortCount;
            var chosen = made.Value % size;
            var colliding = new List<int>();
            for (var d = -OddsWindow; d <= OddsWindow; d++)
            {
                var start = ((chosen + d) % size + size) % size;
                var run = (minimal with { Choices = minimal.Choices.SetItem(key, start) }).Replay();
                if (run.Violations.Any(v => v.Invariant == violation.Invariant)) colliding.Add(start);
            }
            if (colliding.Count == 2 * OddsWindow + 1) continue;
            // Offsets 0-65535 in start class s: those with off % size == s.
            var hits = colliding.Sum(start => (long)((65535 - start) / size) + 1);
            var edges = new[] { ((chosen - OddsWindow) % size + size) % size, (chosen + OddsWindow) % size };
            return new CollisionOdds(key, hits, 65536) { AtLeast = colliding.Any(edges.Contains) };
        }
        return null;
    }

    private static AdviceCell Search(string file, MitigationKind kind, Scenario mitigated, MitigatedSetup setup, SetupEvents e, int tests, int seeds)
    {
        var clock = Stopwatch.StartNew();
        var (config, error) = SetupSpaces.From(kind == MitigationKind.AsWritten ? file : $"{file} ({Mitigations.Slug(kind)})", mitigated, e, pinnedLines: setup.PinnedLines);
        if (config is null) return new AdviceCell(kind, e, AdviceVerdict.NotApplicable, error, null, null, 0, 0, clock.Elapsed);
        var run = 0;
        for (var seed = 1; seed <= seeds; seed++)
        {
            var r = CheckRunner.Run(new CheckOptions(config, tests, (ulong)seed, null));
            run += r.TestsRun;
            if (r.Error is not null) return new AdviceCell(kind, e, AdviceVerdict.NotApplicable, r.Error, null, config, run, seed, clock.Elapsed);
            if (r.Minimal is { } minimal)
            {
                var odds = Odds(minimal);
                return new AdviceCell(kind, e, AdviceVerdict.Collision, null, minimal, config, run, seed, clock.Elapsed) { Odds = odds };
            }
        }
        return new AdviceCell(kind, e, AdviceVerdict.NoneFound, null, null, config, run, seeds, clock.Elapsed);
    }
}
