using System.Collections.Immutable;
using ConntrackModel.Properties.Generation;

namespace ConntrackModel.Properties.Shrinking;

/// <summary>
/// Whether a failing trial is minimal: removing any one generated command (with the commands that name the
/// connection it opened) gives a script that either passes or that the model rejects.
/// <paramref name="StillFailing"/> lists the 0-based body positions whose removal still fails.
/// </summary>
public sealed record Minimality(bool Minimal, ImmutableArray<int> StillFailing)
{
    public static Minimality Of(Trial trial)
    {
        ArgumentNullException.ThrowIfNull(trial);
        var failing = ImmutableArray.CreateBuilder<int>();
        for (var i = 0; i < trial.Body.Count; i++)
        {
            var sim = trial.WithBody(TrialShrinker.RemoveAt(trial.Body, i)).Replay();
            if (sim.Rejected is null && sim.Violations.Any()) failing.Add(i);
        }
        return new Minimality(failing.Count == 0, failing.ToImmutable());
    }

    public bool Equals(Minimality? other) => other is not null && Minimal == other.Minimal && StillFailing.SequenceEqual(other.StillFailing);

    public override int GetHashCode() => HashCode.Combine(Minimal, StillFailing.Length);
}
