using System.Collections.Immutable;
using ConntrackModel.Properties.Generation;

namespace ConntrackModel.Properties.Shrinking;

/// <summary>
/// Whether a failing trial is minimal: removing any one generated command (with the commands that name the
/// connection it opened) gives a script that either passes or that the model rejects. The two are counted apart:
/// <paramref name="StillFailing"/> lists the 0-based body positions whose removal still fails,
/// <paramref name="Rejected"/> those whose removal leaves a script the model refuses (a send on a connection that
/// no longer exists, say) or, given a configuration, one the configuration does not generate (with tracking from
/// the start, a first command that no longer starts tracking): neither says anything about the property, and the
/// shrinker, which only takes what the configuration admits, could not have reached them.
/// </summary>
public sealed record Minimality(bool Minimal, ImmutableArray<int> StillFailing, ImmutableArray<int> Rejected)
{
    /// <summary>How many single removals were tried, and how many of them made the property pass.</summary>
    public int Tried { get; init; }

    public int Passing => Tried - StillFailing.Length - Rejected.Length;

    public static Minimality Of(Trial trial, Configs.CheckConfig? config = null)
    {
        ArgumentNullException.ThrowIfNull(trial);
        var failing = ImmutableArray.CreateBuilder<int>();
        var rejected = ImmutableArray.CreateBuilder<int>();
        for (var i = 0; i < trial.Body.Count; i++)
        {
            var smaller = trial.WithBody(TrialShrinker.RemoveAt(trial.Body, i));
            if (config is not null && !TrialShrinker.Admits(config, smaller))
            {
                rejected.Add(i);
                continue;
            }
            var sim = smaller.Replay();
            if (sim.Rejected is not null) rejected.Add(i);
            else if (sim.Violations.Any()) failing.Add(i);
        }
        return new Minimality(failing.Count == 0, failing.ToImmutable(), rejected.ToImmutable()) { Tried = trial.Body.Count };
    }

    /// <summary>"removing any one of the 4 commands: 3 make it pass, 1 leaves a script the model or the configuration rejects (command 4)".</summary>
    public string Describe(int offset) =>
        string.Create(System.Globalization.CultureInfo.InvariantCulture,
            $"removing any one of the {Tried} commands: {Passing} make{(Passing == 1 ? "s" : "")} it pass, {Rejected.Length} leave{(Rejected.Length == 1 ? "s" : "")} a script the model or the configuration rejects{(Rejected.IsEmpty ? "" : $" (command{(Rejected.Length == 1 ? "" : "s")} {string.Join(", ", Rejected.Select(i => i + 1 + offset))})")}, {StillFailing.Length} still fail{(StillFailing.Length == 1 ? "s" : "")}{(StillFailing.IsEmpty ? "" : $" (command{(StillFailing.Length == 1 ? "" : "s")} {string.Join(", ", StillFailing.Select(i => i + 1 + offset))})")}");

    public bool Equals(Minimality? other) =>
        other is not null && Minimal == other.Minimal && StillFailing.SequenceEqual(other.StillFailing) && Rejected.SequenceEqual(other.Rejected) && Tried == other.Tried;

    public override int GetHashCode() => HashCode.Combine(Minimal, StillFailing.Length);
}
