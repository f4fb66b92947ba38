namespace ConntrackModel.Replay.Kernel;

/// <summary>
/// How to run a scenario on the kernel. <paramref name="PcapPath"/>: record lo with tcpdump into this file.
/// <paramref name="SettleMs"/>: after each command other than connect and sleep, how long to let the packets it
/// caused arrive before the next one (the model runs a command to completion in zero time).
/// </summary>
public sealed record ReplayOptions(string? PcapPath = null, int SettleMs = 20);
