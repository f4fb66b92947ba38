namespace ConntrackModel.Replay.Kernel;

/// <summary>
/// How to run a scenario on the kernel. <paramref name="PcapPath"/>: record the initial namespace's lo with tcpdump
/// into this file, and each namespace the scenario adds (<c>-i any</c>) into <c>STEM-NAME.pcap</c> beside it (see
/// <see cref="KernelReplay"/>).
/// <paramref name="SettleMs"/>: after each command other than connect and sleep, how long to let the packets it
/// caused arrive before the next one (the model runs a command to completion in zero time).
/// </summary>
public sealed record ReplayOptions(string? PcapPath = null, int SettleMs = 20);
