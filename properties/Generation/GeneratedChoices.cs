using ConntrackModel.Model.Choices;

namespace ConntrackModel.Properties.Generation;

/// <summary>
/// The choice source used while generating: pseudo-random per key like <see cref="SeededChoices"/>, but an
/// ephemeral port comes from the first few candidates, so two unbound connects share a port often enough to
/// matter (the DNAT collision needs exactly that), and a random NAT port search (<c>--random-fully</c> over
/// 64,512 ports) starts, every other time, at a port connections are likely to hold: a port of the client pool or
/// one of the ephemeral ports this source hands out. Without that aim a random port would meet a live connection's
/// about once in 64,512 trials. Around a user's setup it aims at the setup's ports too (<see cref="ExtraAims"/>: the NAT
/// rules' range ends that connections bind). The answers it gave are then recorded into the trial.
/// </summary>
public sealed record GeneratedChoices(ulong Seed) : ChoiceSource
{
    /// <summary>More ports a random NAT port search aims at (a setup's <see cref="Setups.SetupSpace.Ports"/>).</summary>
    public IReadOnlyList<int> ExtraAims { get; init; } = [];

    /// <summary>How many distinct start offsets (of two ports each, by parity) an ephemeral choice draws from.</summary>
    public const int EphemeralSpread = 4;

    /// <summary>The ports a random NAT port search aims at: the client pool and the first ephemeral ports.</summary>
    private static readonly int[] Aims = [.. Pools.ClientPorts, 32768, 32770];

    public override int Choose(ChoicePoint point)
    {
        ArgumentNullException.ThrowIfNull(point);
        if (point.Arity <= 1) return 0;
        var h = SeededChoices.SplitMix64(Seed ^ SeededChoices.Fnv1a(point.Key) ^ ((ulong)point.Kind << 56));
        if (point is { Kind: ChoiceKind.NatPortOffset, PortCount: > 0 } && (h & 1) == 0)
        {
            var aims = Aims.Concat(ExtraAims).Distinct().Where(p => p >= point.PortLow && p < point.PortLow + point.PortCount).ToList();
            if (aims.Count > 0) return aims[(int)((h >> 1) % (ulong)aims.Count)] - point.PortLow;
        }
        var spread = point.Kind == ChoiceKind.EphemeralPort ? Math.Min(point.Arity, EphemeralSpread) : point.Arity;
        return (int)(h % (ulong)spread);
    }
}
