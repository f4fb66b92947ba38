using System.Collections.Immutable;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using ConntrackModel.Model.Addressing;
using ConntrackModel.Model.Kernel;
using ConntrackModel.Model.Packets;
using ConntrackModel.Model.Reporting;
using ConntrackModel.Model.Scenarios;
using ConntrackModel.Replay.Host;

namespace ConntrackModel.Replay.Kernel;

/// <summary>
/// Runs a scenario on the machine's kernel, in a network namespace made for the run and deleted after it (also on
/// error). Sockets are real: a dedicated thread moves itself into the namespace with setns(2) and creates and
/// drives every socket there; iptables, conntrack and sysctl run through <c>ip netns exec</c>. The scenario's
/// commands map one to one:
/// <list type="bullet">
/// <item><c>listen</c>: SO_REUSEADDR, bind, listen(128); connections are accepted as their connect completes.</item>
/// <item><c>connect</c>: bind (no SO_REUSEADDR) if LOCAL is given, non-blocking connect, wait up to 3 s; on timeout
/// the socket is closed, as the model's application does; a connection the server completed as it timed out is
/// taken off the listener's queue and held, never attributed (the server's application does not accept it).</item>
/// <item><c>send</c>: LABEL and a newline; receivers split what they read at newlines.</item>
/// <item><c>close</c> / <c>abort</c>: close(2), for abort after SO_LINGER {1, 0}.</item>
/// <item><c>modprobe nf_conntrack</c>: inside a namespace, loading the module registers nothing; the per-namespace
/// equivalent is a conntrack user, here <c>iptables -t filter -A OUTPUT -m conntrack --ctstate NEW -j ACCEPT</c>
/// (xt_conntrack's <c>conntrack_mt_check</c> calls <c>nf_ct_netns_get</c>), which never goes away.</item>
/// <item><c>iptables</c>, <c>conntrack -F</c>, <c>sysctl -w</c>: run as written.</item>
/// </list>
/// The observation reads, at the end: TCP_INFO state and SO_ERROR of every end the application still holds, the
/// peer address accept() reported, the labels each end read, <c>conntrack -L</c> and <c>conntrack -S</c>. Data is
/// read as it arrives (only the bytes FIONREAD reports, so a pending error is never consumed by a read).
/// </summary>
public static class KernelReplay
{
    /// <summary>The ctstate match that stands for <c>modprobe nf_conntrack</c> (see the class remarks).</summary>
    public static IReadOnlyList<string> ModprobeRule { get; } = ["iptables", "-t", "filter", "-A", "OUTPUT", "-m", "conntrack", "--ctstate", "NEW", "-j", "ACCEPT"];

    public static KernelRun Run(Scenario scenario, ReplayOptions options)
    {
        ArgumentNullException.ThrowIfNull(scenario);
        ArgumentNullException.ThrowIfNull(options);
        NetworkNamespace.RemoveStale();
        using var ns = NetworkNamespace.Create();
        Process? tcpdump = null;
        try
        {
            if (options.PcapPath is { } pcap) tcpdump = StartTcpdump(ns, pcap);
            Driver? driver = null;
            Exception? failure = null;
            var thread = new Thread(() =>
            {
                try
                {
                    EnterNamespace(ns);
                    driver = new Driver(ns, options);
                    driver.Run(scenario);
                }
                catch (Exception e) when (e is not OutOfMemoryException)
                {
                    failure = e;
                }
                finally
                {
                    driver?.Dispose();
                }
            })
            { Name = "netns " + ns.Name, IsBackground = true };
            thread.Start();
            thread.Join();
            if (failure is ReplayException) throw failure;
            if (failure is not null) throw new ReplayException($"the kernel run failed: {failure.Message}", failure);
            return new KernelRun(driver!.Observation!, [.. driver.Log], ns.Name, driver.StoppedAt);
        }
        finally
        {
            if (tcpdump is not null) StopTcpdump(tcpdump);
        }
    }

    private static void EnterNamespace(NetworkNamespace ns)
    {
        using var handle = File.OpenHandle(ns.Path);
        if (Native.setns((int)handle.DangerousGetHandle(), Native.CloneNewNet) != 0)
            throw new ReplayException($"setns({ns.Path}) failed: errno {System.Runtime.InteropServices.Marshal.GetLastPInvokeError()}");
    }

    private static Process StartTcpdump(NetworkNamespace ns, string pcap)
    {
        var ip = Tool.Find("ip")!;
        // tcpdump must not outlive ctmodel: setpriv --pdeathsig makes the kernel SIGKILL it when ctmodel dies, even by
        // SIGKILL (ip netns exec execs tcpdump in the same process, which keeps the setting). -Z root: tcpdump would
        // otherwise switch to its own user after opening lo, and a change of user clears the parent-death signal
        // (measured: without -Z root, KernelReplayTests' SIGKILL test finds tcpdump still running).
        // Should it survive anyway, the namespace's cleanup kills whatever runs inside (NetworkNamespace.Delete).
        string[] argv = ["netns", "exec", ns.Name, "tcpdump", "-Z", "root", "-i", "lo", "--immediate-mode", "-U", "-n", "-w", Path.GetFullPath(pcap)];
        var setpriv = Tool.Find("setpriv");
        var psi = new ProcessStartInfo(setpriv ?? ip) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var a in setpriv is null ? argv : ["--pdeathsig", "KILL", "--", ip, .. argv]) psi.ArgumentList.Add(a);
        var p = Process.Start(psi) ?? throw new ReplayException("cannot start tcpdump");
        // --immediate-mode: without it libpcap's TPACKET_V3 ring hands packets over only when a block times out,
        // and a run shorter than that ends with an empty file. No filter: the namespace's lo carries only the
        // scenario's traffic. tcpdump says "listening on lo" on stderr once capturing; only then may packets flow.
        var ready = p.StandardError.ReadLineAsync();
        if (!ready.Wait(TimeSpan.FromSeconds(5)) || ready.Result is null || !ready.Result.Contains("listening", StringComparison.Ordinal))
        {
            p.Kill(true);
            throw new ReplayException($"tcpdump did not start capturing: {(ready.IsCompleted ? ready.Result : "no answer in 5 s")}");
        }
        _ = p.StandardError.ReadToEndAsync();
        return p;
    }

    private static void StopTcpdump(Process p)
    {
        Native.kill(p.Id, Native.SigInt);
        if (!p.WaitForExit(3000)) p.Kill(true);
        p.Dispose();
    }

    /// <summary>One socket end the scenario opened: its socket while the application holds it, and what it read.</summary>
    private sealed class End(string name)
    {
        public string Name { get; } = name;

        public Socket? Socket { get; set; }

        public bool AppClosed { get; set; }

        public string? ErrorAtClose { get; set; }

        public List<string> Labels { get; } = [];

        public StringBuilder Partial { get; } = new();
    }

    private sealed record ConnectionInfo(string Name, string Result, string Local, string? Peer);

    /// <summary>Runs on the namespace thread: every socket call happens here.</summary>
    private sealed class Driver(NetworkNamespace ns, ReplayOptions options) : IDisposable
    {
        private readonly Dictionary<SockAddr, Socket> _listeners = [];

        /// <summary>Connections the server's application never accepted (see <see cref="ParkUnaccepted"/>), held open.</summary>
        private readonly List<Socket> _parked = [];
        private readonly Dictionary<string, End> _ends = new(StringComparer.Ordinal);
        private readonly List<ConnectionInfo> _connections = [];
        private readonly Stopwatch _clock = Stopwatch.StartNew();

        public List<string> Log { get; } = [];

        public Observation? Observation { get; private set; }

        public int? StoppedAt { get; private set; }

        private void Note(string text) => Log.Add(string.Create(CultureInfo.InvariantCulture, $"{_clock.Elapsed.TotalSeconds,9:0.000000} {text}"));

        public void Run(Scenario scenario)
        {
            var step = 0;
            foreach (var line in scenario.Lines)
            {
                step++;
                Note($"[{step}] {line.Command.ToScript()}");
                if (AppClosedEnd(line.Command) is { } closed)
                {
                    // The model refuses this command (LinuxKernel.Check); the script stops here on both sides.
                    Note($"    {closed}: no such end, or the application already closed it; the run stops here");
                    StoppedAt = line.Line;
                    break;
                }
                Execute(line, step);
                if (line.Command is not (Command.Connect or Command.Sleep)) Thread.Sleep(options.SettleMs);
                Drain();
            }
            Thread.Sleep(options.SettleMs);
            Drain();
            Observation = Observe();
        }

        private string? AppClosedEnd(Command command)
        {
            var end = command switch
            {
                Command.Send x => x.End,
                Command.Close x => x.End,
                Command.Abort x => x.End,
                _ => null,
            };
            if (end is null) return null;
            return !_ends.TryGetValue(end, out var e) || e.AppClosed ? end : null;
        }

        private void Execute(ScenarioLine line, int step)
        {
            switch (line.Command)
            {
                case Command.Listen l:
                    var s = NewSocket();
                    s.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
                    s.Bind(Ep(l.Address));
                    s.Listen(128);
                    s.Blocking = false;
                    _listeners[l.Address] = s;
                    break;
                case Command.Connect c:
                    Connect(c);
                    break;
                case Command.Send send:
                    var e = _ends[send.End];
                    try
                    {
                        var n = e.Socket!.Send(Encoding.UTF8.GetBytes(send.Label + "\n"));
                        Note($"    send {send.End}: {n} bytes");
                    }
                    catch (SocketException x)
                    {
                        Note($"    send {send.End}: {Errno(x)}");
                    }
                    break;
                case Command.Close cl:
                    CloseEnd(cl.End, abort: false);
                    break;
                case Command.Abort a:
                    CloseEnd(a.End, abort: true);
                    break;
                case Command.Modprobe:
                    Tool(ModprobeRule, line, step);
                    break;
                case Command.Sysctl sy:
                    Tool(["sysctl", "-w", $"{sy.Key}={sy.Value}"], line, step);
                    break;
                case Command.ConntrackFlush:
                    Tool(["conntrack", "-F"], line, step);
                    break;
                case Command.IptablesAdd or Command.IptablesDelete or Command.IptablesFlush:
                    Tool(line.Command.ToScript().Split(' ', StringSplitOptions.RemoveEmptyEntries), line, step);
                    break;
                case Command.Sleep sl:
                    Thread.Sleep(TimeSpan.FromMilliseconds(sl.Milliseconds));
                    break;
                default:
                    throw new ReplayException($"line {line.Line}: no kernel mapping for '{line.Command.ToScript()}'");
            }
        }

        private void Tool(IReadOnlyList<string> argv, ScenarioLine line, int step)
        {
            var r = ns.Exec(argv);
            Note($"    {string.Join(' ', argv)}: exit {r.ExitCode}{(r.Output.Length > 0 ? ": " + r.Output.Replace('\n', ' ') : "")}");
            // conntrack -F says how many entries it deleted on stderr; only a non-zero exit is a failure.
            if (!r.Ok) throw new ReplayException($"line {line.Line} (step {step}): the kernel refused '{string.Join(' ', argv)}': {r.Output}");
        }

        private static Socket NewSocket() => new(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);

        private static IPEndPoint Ep(SockAddr a) => new(new IPAddress([(byte)(a.Ip.Value >> 24), (byte)(a.Ip.Value >> 16), (byte)(a.Ip.Value >> 8), (byte)a.Ip.Value]), a.Port);

        private static string Text(EndPoint? ep) => ep is IPEndPoint ip ? $"{ip.Address}:{ip.Port}" : "";

        /// <summary>getsockname(2) itself: .NET caches a failed connect's endpoint as null.</summary>
        private static string LocalName(Socket s)
        {
            var buf = new byte[16];
            var len = buf.Length;
            unsafe
            {
                fixed (byte* p = buf)
                {
                    if (Native.getsockname((int)s.Handle, p, ref len) != 0) return "";
                }
            }
            return $"{buf[4]}.{buf[5]}.{buf[6]}.{buf[7]}:{(buf[2] << 8) | buf[3]}";
        }

        private void Connect(Command.Connect c)
        {
            var s = NewSocket();
            var end = new End(c.Name) { Socket = s };
            _ends[c.Name] = end;
            if (c.Local is { } local)
            {
                try
                {
                    s.Bind(Ep(local));
                }
                catch (SocketException x)
                {
                    Note($"    bind {local}: {Errno(x)}");
                    s.Dispose();
                    end.Socket = null;
                    end.AppClosed = true;
                    _connections.Add(new ConnectionInfo(c.Name, "bind-" + Errno(x), local.ToString(), null));
                    return;
                }
            }
            // A blocking connect bounded by SO_SNDTIMEO (inet_stream_connect waits sock_sndtimeo): as the model's
            // application, it returns on success, on the error (which connect() thereby consumes), or after 3 s.
            s.SendTimeout = (int)ConntrackModel.Model.Kernel.LinuxKernel.ConnectTimeoutMs;
            string result;
            try
            {
                s.Connect(Ep(c.Remote));
                result = "established";
            }
            catch (SocketException x)
            {
                result = x.NativeErrorCode switch
                {
                    111 => "refused",
                    104 => "reset",
                    101 => "unreachable",
                    110 or 115 /* EINPROGRESS: SO_SNDTIMEO ran out */ => "timeout",
                    _ => "error " + Errno(x),
                };
            }
            var local0 = LocalName(s);
            if (result == "timeout")
            {
                // The application gives up after 3 s and closes the socket (as in the model).
                end.ErrorAtClose = "ETIMEDOUT";
                end.AppClosed = true;
                s.Dispose();
                end.Socket = null;
                ParkUnaccepted();
            }
            else
            {
                s.Blocking = false;
            }
            string? peer = null;
            if (result == "established") peer = AcceptFor(c.Name);
            Note($"    connect {c.Name}: {result}, local {local0}{(peer is null ? "" : ", server sees " + peer)}");
            _connections.Add(new ConnectionInfo(c.Name, result, local0, peer));
        }

        /// <summary>
        /// A connect() can time out as its re-sent SYN completes the handshake (the model's order choice at the
        /// deadline): the server then has a connection queued that its application never accepts. It is taken off the
        /// queue and held open, attributed to nobody, so that <see cref="AcceptFor"/> does not hand it to the next
        /// connection (measured: a later connect was given this end, in CLOSE_WAIT, as its server end). The handshake
        /// completes within microseconds of the timeout on loopback; 20 ms covers it.
        /// </summary>
        private void ParkUnaccepted()
        {
            Thread.Sleep(20);
            foreach (var l in _listeners.Values)
            {
                while (true)
                {
                    try
                    {
                        _parked.Add(l.Accept());
                    }
                    catch (SocketException x) when (x.SocketErrorCode == SocketError.WouldBlock)
                    {
                        break;
                    }
                }
            }
        }

        /// <summary>The accepted end of a connection that just completed: the next one any listener has queued.</summary>
        private string? AcceptFor(string name)
        {
            var until = _clock.Elapsed + TimeSpan.FromMilliseconds(200);
            while (_clock.Elapsed < until)
            {
                foreach (var l in _listeners.Values)
                {
                    try
                    {
                        var a = l.Accept();
                        a.Blocking = false;
                        _ends[name + ".server"] = new End(name + ".server") { Socket = a };
                        return Text(a.RemoteEndPoint);
                    }
                    catch (SocketException x) when (x.SocketErrorCode == SocketError.WouldBlock)
                    {
                    }
                }
                Thread.Sleep(1);
            }
            Note($"    {name}: established but no listener had it queued");
            return null;
        }

        private void CloseEnd(string name, bool abort)
        {
            var e = _ends[name];
            if (e.Socket is not { } s) return;
            Drain();
            // The error pending when the application closed the end is what the model reports for it.
            var err = SoError(s);
            e.ErrorAtClose = err == 0 ? null : ErrnoName(err);
            if (abort) s.LingerState = new LingerOption(true, 0);
            s.Dispose();
            e.Socket = null;
            e.AppClosed = true;
        }

        /// <summary>Reads whatever has arrived on every end, never more than FIONREAD reports.</summary>
        private void Drain()
        {
            foreach (var e in _ends.Values)
            {
                if (e.Socket is not { } s) continue;
                int n;
                try
                {
                    n = s.Available;
                }
                catch (SocketException)
                {
                    continue;
                }
                if (n <= 0) continue;
                var buf = new byte[n];
                var got = s.Receive(buf, 0, n, SocketFlags.None, out var err);
                if (err != SocketError.Success || got <= 0) continue;
                e.Partial.Append(Encoding.UTF8.GetString(buf, 0, got));
                var text = e.Partial.ToString();
                var lines = text.Split('\n');
                for (var i = 0; i < lines.Length - 1; i++) e.Labels.Add(lines[i]);
                e.Partial.Clear().Append(lines[^1]);
                Note($"    {e.Name} read {got} bytes");
            }
        }

        private EndObservation? EndOf(string name)
        {
            if (!_ends.TryGetValue(name, out var e)) return null;
            if (e.AppClosed) return new EndObservation("CLOSED_BY_APP", e.ErrorAtClose);
            var s = e.Socket!;
            var info = new byte[8];
            s.GetRawSocketOption(6 /* IPPROTO_TCP */, 11 /* TCP_INFO */, info);
            var err = SoError(s);
            return new EndObservation(TcpStateName(info[0]), err == 0 ? null : ErrnoName(err));
        }

        private Observation Observe()
        {
            var connections = _connections.Select(c => new ConnectionObservation(
                c.Name, c.Result, c.Local,
                c.Peer is null ? [] : [c.Peer],
                EndOf(c.Name)!,
                c.Peer is null ? null : EndOf(c.Name + ".server"),
                _ends.TryGetValue(c.Name + ".server", out var srv) ? [.. srv.Labels] : [],
                [.. _ends[c.Name].Labels])).ToImmutableArray();
            var list = ns.Exec(["conntrack", "-L"]);
            var stats = ns.Exec(["conntrack", "-S"]);
            Note("conntrack -L:\n" + list.Stdout.TrimEnd() + "\nconntrack -S:\n" + stats.Stdout.TrimEnd());
            return new Observation(connections, ConntrackTool.ParseList(list.Stdout),
                ConntrackTool.Counter(stats.Stdout, "insert_failed"), ConntrackTool.Counter(stats.Stdout, "drop"), []);
        }

        public void Dispose()
        {
            foreach (var e in _ends.Values) e.Socket?.Dispose();
            foreach (var l in _listeners.Values) l.Dispose();
            foreach (var p in _parked) p.Dispose();
        }

        /// <summary>SO_ERROR as the raw errno (reading it clears the pending error, as getsockopt does).</summary>
        private static int SoError(Socket s)
        {
            var buf = new byte[4];
            s.GetRawSocketOption(1 /* SOL_SOCKET */, 4 /* SO_ERROR */, buf);
            return BitConverter.ToInt32(buf);
        }

        private static string Errno(SocketException x) => ErrnoName(x.NativeErrorCode);
    }

    /// <summary>tcpi_state numbers (include/net/tcp_states.h) as <c>Tcp.StateName</c> spells them.</summary>
    public static string TcpStateName(int state) => state switch
    {
        1 => "ESTABLISHED",
        2 => "SYN_SENT",
        3 => "SYN_RECV",
        4 => "FIN_WAIT1",
        5 => "FIN_WAIT2",
        6 => "TIME_WAIT",
        7 => "CLOSE",
        8 => "CLOSE_WAIT",
        9 => "LAST_ACK",
        10 => "LISTEN",
        11 => "CLOSING",
        _ => "TCP_STATE_" + state.ToString(CultureInfo.InvariantCulture),
    };

    /// <summary>Linux errno numbers the model names (include/uapi/asm-generic/errno*.h).</summary>
    public static string ErrnoName(int errno) => errno switch
    {
        22 => "EINVAL",
        32 => "EPIPE",
        98 => "EADDRINUSE",
        99 => "EADDRNOTAVAIL",
        104 => "ECONNRESET",
        110 => "ETIMEDOUT",
        101 => "ENETUNREACH",
        111 => "ECONNREFUSED",
        113 => "EHOSTUNREACH",
        _ => "E" + errno.ToString(CultureInfo.InvariantCulture),
    };
}
