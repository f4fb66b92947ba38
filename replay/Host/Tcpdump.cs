using System.Diagnostics;

namespace ConntrackModel.Replay.Host;

/// <summary>
/// A tcpdump recording one interface of a namespace into a pcap file, from when <see cref="Start"/> returns (it waits
/// until tcpdump says it is listening) until <see cref="Dispose"/> (SIGINT, so tcpdump writes out what it holds; SIGKILL
/// after 3 s).
/// </summary>
public sealed class Tcpdump : IDisposable
{
    private readonly Process _process;

    private Tcpdump(Process process, string path)
    {
        _process = process;
        PcapPath = path;
    }

    /// <summary>The file being written (full path).</summary>
    public string PcapPath { get; }

    /// <summary>
    /// Starts <c>tcpdump -i <paramref name="iface"/></c> inside <paramref name="ns"/> writing <paramref name="pcap"/>.
    /// The parent-death signal set here is tied to the calling thread (prctl(2): the "parent" is the thread that
    /// forked): the recording must be stopped on the thread that started it, and dies with that thread otherwise.
    /// </summary>
    public static Tcpdump Start(NetworkNamespace ns, string iface, string pcap)
    {
        ArgumentNullException.ThrowIfNull(ns);
        var ip = ns.IpPath;
        var path = Path.GetFullPath(pcap);
        // tcpdump must not outlive ctmodel: setpriv --pdeathsig makes the kernel SIGKILL it when ctmodel dies, even by
        // SIGKILL (ip netns exec execs tcpdump in the same process, which keeps the setting). -Z root: tcpdump would
        // otherwise switch to its own user after opening the interface, and a change of user clears the parent-death
        // signal (measured: without -Z root, KernelReplayTests' SIGKILL test finds tcpdump still running).
        // Should it survive anyway, the namespace's cleanup kills whatever runs inside (NetworkNamespace.Delete).
        string[] argv = ["netns", "exec", ns.Name, "tcpdump", "-Z", "root", "-i", iface, "--immediate-mode", "-U", "-n", "-w", path];
        var setpriv = Tool.Find("setpriv");
        var psi = new ProcessStartInfo(setpriv ?? ip) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var a in setpriv is null ? argv : ["--pdeathsig", "KILL", "--", ip, .. argv]) psi.ArgumentList.Add(a);
        var p = Process.Start(psi) ?? throw new ReplayException("cannot start tcpdump");
        // --immediate-mode: without it libpcap's TPACKET_V3 ring hands packets over only when a block times out, and a
        // run shorter than that ends with an empty file. No filter: the namespace carries only the scenario's traffic.
        // tcpdump says "listening on IFACE" on stderr once capturing (for -i any, after a "data link type" line); only
        // then may packets flow.
        var deadline = Stopwatch.StartNew();
        var said = new List<string>();
        while (true)
        {
            var left = TimeSpan.FromSeconds(5) - deadline.Elapsed;
            var line = p.StandardError.ReadLineAsync();
            if (left <= TimeSpan.Zero || !line.Wait(left) || line.Result is null)
            {
                p.Kill(true);
                p.Dispose();
                throw new ReplayException($"tcpdump -i {iface} in {ns.Name} did not start capturing: {(said.Count > 0 ? string.Join(" ", said) : "no answer in 5 s")}");
            }
            said.Add(line.Result);
            if (line.Result.Contains("listening", StringComparison.Ordinal)) break;
        }
        _ = p.StandardError.ReadToEndAsync();
        return new Tcpdump(p, path);
    }

    public void Dispose()
    {
        try
        {
            if (!_process.HasExited)
            {
                Native.kill(_process.Id, Native.SigInt);
                if (!_process.WaitForExit(3000)) _process.Kill(true);
            }
        }
        finally
        {
            _process.Dispose();
        }
    }
}
