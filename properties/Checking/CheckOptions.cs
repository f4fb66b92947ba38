using ConntrackModel.Properties.Configs;

namespace ConntrackModel.Properties.Checking;

/// <summary>
/// One property run: the configuration, how many tests, and where the randomness starts: a seed (a fresh one is
/// drawn and reported when null) or a replay token that regenerates one failing case.
/// </summary>
public sealed record CheckOptions(CheckConfig Config, int Tests = CheckOptions.DefaultTests, ulong? Seed = null, ReplayToken? Replay = null)
{
    public const int DefaultTests = 1000;
}
