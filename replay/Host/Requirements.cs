namespace ConntrackModel.Replay.Host;

/// <summary>What a kernel replay needs on this machine, and what is missing (each with how to get it).</summary>
public static class Requirements
{
    /// <summary>Null when everything is there; else one line per missing piece.</summary>
    public static IReadOnlyList<string> Missing(bool pcap)
    {
        var missing = new List<string>();
        if (!OperatingSystem.IsLinux()) missing.Add("Linux (network namespaces)");
        if (!Environment.IsPrivilegedProcess) missing.Add("root privileges to create network namespaces (run as root or with sudo)");
        foreach (var (tool, package) in new[] { ("ip", "iproute2"), ("iptables", "iptables"), ("conntrack", "conntrack"), ("sysctl", "procps") })
        {
            if (Tool.Find(tool) is null) missing.Add($"the '{tool}' command (apt-get install {package})");
        }
        if (pcap && Tool.Find("tcpdump") is null) missing.Add("the 'tcpdump' command for --pcap (apt-get install tcpdump)");
        if (OperatingSystem.IsLinux() && !Directory.Exists("/proc/sys/net")) missing.Add("/proc/sys/net (procfs)");
        return missing;
    }
}
