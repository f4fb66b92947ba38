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
/// Runs a scenario on the machine's kernel, in network namespaces made for the run and deleted after it (also on
/// error). The scenario's initial namespace is <c>ctmodel-PID-N</c> (lo up); each <c>ip netns add NAME</c> makes
/// <c>ctmodel-PID-N-NAME</c> (see <see cref="NetworkNamespace.CreateScenarioNamespace"/>), and every namespace a command
/// names is mapped to its real name: ip commands run as <c>ip -n REAL ...</c> with the namespaces of
/// <c>link add ... netns NS</c> and <c>link set DEV netns NS</c> mapped too; iptables, conntrack and sysctl run
/// through <c>ip netns exec REAL</c>. A command naming a namespace the scenario has not created (yet) fails the run
/// with <see cref="ReplayException"/>, as does a second <c>ip netns add</c> of one name. Sockets are real: a dedicated
/// thread moves itself with setns(2) into the namespace of each <c>listen</c> and <c>connect</c> before it creates the
/// socket (a socket stays in the namespace it was made in, so send, close and abort work from wherever the thread is;
/// their namespace is only checked to exist). The scenario's commands map one to one:
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
/// <item><c>iptables</c>, <c>conntrack -F</c>, <c>sysctl -w</c>, <c>ip ...</c>: run as written, in their namespace.</item>
/// </list>
/// The observation reads, at the end: TCP_INFO state and SO_ERROR of every end the application still holds, the
/// peer address accept() reported, the labels each end read, and <c>conntrack -L</c> and <c>conntrack -S</c> of every
/// namespace of the scenario (the initial one first, then in the order they were added; each entry carries its
/// namespace's scenario name, null for the initial one; the counters are summed over the namespaces). Data is read as
/// it arrives (only the bytes FIONREAD reports, so a pending error is never consumed by a read).
/// <para>
/// With <see cref="ReplayOptions.PcapPath"/>, tcpdump records: <c>lo</c> of the initial namespace into that file, from
/// before the first command; and for each <c>ip netns add NAME</c>, <c>-i any</c> inside that namespace into
/// <c>STEM-NAME.pcap</c> beside it (STEM: the path without its extension), from right after the namespace is made, so
/// it holds every device the namespace has or gets, its lo included (cooked headers, LINUX_SLL2: they carry the
/// device's index only, and <c>tcpdump -r</c> prints the name the reading machine gives that index, not the
/// namespace's). Not recorded: the initial namespace's devices other than lo (what crosses a veth end there shows up
/// in the recording of the namespace holding its peer).
/// </para>
/// </summary>
public static partial class KernelReplay
{
    /// <summary>The ctstate match that stands for <c>modprobe nf_conntrack</c> (see the class remarks).</summary>
    public static IReadOnlyList<string> ModprobeRule { get; } = ["iptables", "-t", "filter", "-A", "OUTPUT", "-m", "conntrack", "--ctstate", "NEW", "-j", "ACCEPT"];

    /// <summary>Where a scenario namespace's recording goes: <c>STEM-NAME.pcap</c> beside <paramref name="pcap"/>.</summary>
    public static string PcapPathFor(string pcap, string netns)
    {
        ArgumentNullException.ThrowIfNull(pcap);
        var full = Path.GetFullPath(pcap);
        return Path.Combine(Path.GetDirectoryName(full) ?? ".", $"{Path.GetFileNameWithoutExtension(full)}-{netns}.pcap");
    }

    public static KernelRun Run(Scenario scenario, ReplayOptions options)
    {
        ArgumentNullException.ThrowIfNull(scenario);
        ArgumentNullException.ThrowIfNull(options);
        NetworkNamespace.RemoveStale();
        using var ns = NetworkNamespace.Create();
        Tcpdump? tcpdump = null;
        try
        {
            if (options.PcapPath is { } pcap) tcpdump = Tcpdump.Start(ns, "lo", pcap);
            Driver? driver = null;
            Exception? failure = null;
            var thread = new Thread(() =>
            {
                try
                {
                    driver = new Driver(ns, options);
                    driver.Run(scenario);
                }
                catch (Exception e) when (e is not OutOfMemoryException)
                {
                    failure = e;
                }
                finally
                {
                    // On this thread: the scenario namespaces' tcpdumps were started here, and their parent-death
                    // signal is tied to it. Disposing deletes the scenario namespaces.
                    try
                    {
                        driver?.Dispose();
                    }
                    catch (Exception e) when (e is not OutOfMemoryException)
                    {
                        failure ??= e;
                    }
                }
            })
            { Name = "netns " + ns.Name, IsBackground = true };
            thread.Start();
            thread.Join();
            if (failure is ReplayException) throw failure;
            if (failure is not null) throw new ReplayException($"the kernel run failed: {failure.Message}", failure);
            return new KernelRun(driver!.Observation!, [.. driver.Log], ns.Name, driver.StoppedAt) { ScenarioNamespaces = driver.RealNames };
        }
        finally
        {
            tcpdump?.Dispose();
        }
    }

    /// <summary>
    /// One namespace of the run: its scenario name (null for the initial one), the real namespace, an open handle on
    /// its file for setns(2), and its recording.
    /// </summary>
    private sealed class RunNamespace(string? name, NetworkNamespace real, bool owned) : IDisposable
    {
        public string? Name { get; } = name;

        public NetworkNamespace Real { get; } = real;

        public Microsoft.Win32.SafeHandles.SafeFileHandle Handle { get; } = File.OpenHandle(real.Path);

        public Tcpdump? Tcpdump { get; set; }

        public string Display => Name is null ? $"the initial namespace ({Real.Name})" : $"{Name} ({Real.Name})";

        /// <summary>Stops the recording, closes the handle and, for a scenario namespace, deletes it.</summary>
        public void Dispose()
        {
            try
            {
                Tcpdump?.Dispose();
            }
            finally
            {
                Handle.Dispose();
                if (owned) Real.Dispose();
            }
        }
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
    private sealed partial class Driver(NetworkNamespace ns, ReplayOptions options) : IDisposable
    {
        /// <summary>Listeners by the namespace they were made in (null: the initial one) and their address.</summary>
        private readonly Dictionary<(string? Netns, SockAddr Address), Socket> _listeners = [];

        /// <summary>The initial namespace (made by <see cref="Run"/>'s caller, which deletes it), then the scenario's in order.</summary>
        private readonly List<RunNamespace> _namespaces = [];
        private readonly Dictionary<string, RunNamespace> _byName = new(StringComparer.Ordinal);

        /// <summary>The namespace the driver thread is in now (after the first setns).</summary>
        private RunNamespace? _current;
        private ScenarioLine? _line;
        private int _step;

        /// <summary>Connections the server's application never accepted (see <see cref="ParkUnaccepted"/>), held open.</summary>
        private readonly List<Socket> _parked = [];
        private readonly Dictionary<string, End> _ends = new(StringComparer.Ordinal);
        private readonly List<ConnectionInfo> _connections = [];
        private readonly Stopwatch _clock = Stopwatch.StartNew();

        public List<string> Log { get; } = [];

        public Observation? Observation { get; private set; }

        public int? StoppedAt { get; private set; }

        /// <summary>Each scenario namespace's real name.</summary>
        public ImmutableSortedDictionary<string, string> RealNames =>
            _byName.ToImmutableSortedDictionary(kv => kv.Key, kv => kv.Value.Real.Name, StringComparer.Ordinal);

        private void Note(string text) => Log.Add(string.Create(CultureInfo.InvariantCulture, $"{_clock.Elapsed.TotalSeconds,9:0.000000} {text}"));

        public void Run(Scenario scenario)
        {
            var initial = new RunNamespace(null, ns, owned: false);
            _namespaces.Add(initial);
            Enter(initial);
            Note($"initial namespace: {ns.Name}");
            var step = 0;
            foreach (var line in scenario.Lines)
            {
                step++;
                _line = line;
                _step = step;
                Note($"[{step}] {line.Command.ToScript()}");
                if (AppClosedEnd(line.Command) is { } closed)
                {
                    // The model refuses this command (LinuxKernel.Check); the script stops here on both sides.
                    Note($"    {closed}: no such end, or the application already closed it; the run stops here");
                    StoppedAt = line.Line;
                    break;
                }
                Execute(line);
                if (line.Command is not (Command.Connect or Command.Sleep)) Thread.Sleep(options.SettleMs);
                Drain();
            }
            Thread.Sleep(options.SettleMs);
            Drain();
            Observation = Observe();
        }

        private string? AppClosedEnd(Command command)
        {
            var udpEnd = command switch { Command.Send x => x.End, Command.Close x => x.End, _ => null };
            if (udpEnd is not null && IsUdp(udpEnd)) return UdpEndUnusable(udpEnd);
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

        private void Execute(ScenarioLine line)
        {
            // Every namespace the command names must exist, whatever the command (the model refuses it too).
            var where = Resolve(line.Command.Netns);
            switch (line.Command)
            {
                case Command.Listen l when l.Proto == L4Proto.Udp:
                    Enter(where);
                    ListenUdp(where, l.Address);
                    break;
                case Command.Connect c when c.Proto == L4Proto.Udp:
                    Enter(where);
                    ConnectUdp(where, c);
                    break;
                case Command.Send send when IsUdp(send.End):
                    SendUdp(send.End, send.Label);
                    break;
                case Command.Close cl when IsUdp(cl.End):
                    CloseUdp(cl.End);
                    break;
                case Command.Listen l:
                    Enter(where);
                    var s = NewSocket();
                    try
                    {
                        s.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
                        s.Bind(Ep(l.Address));
                        s.Listen(128);
                        s.Blocking = false;
                    }
                    catch
                    {
                        // Closed now: a socket holds its namespace until it is closed.
                        s.Dispose();
                        throw;
                    }
                    _listeners[(where.Name, l.Address)] = s;
                    break;
                case Command.Connect c:
                    Enter(where);
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
                    Tool(where, ModprobeRule);
                    break;
                case Command.Sysctl sy:
                    Tool(where, ["sysctl", "-w", $"{sy.Key}={sy.Value}"]);
                    break;
                case Command.ConntrackFlush:
                    Tool(where, ["conntrack", "-F"]);
                    break;
                case Command.ConntrackDelete del:
                    // conntrack -D exits 1 when it deleted nothing (measured, 1.4.7): what it printed is all that matters.
                    var deleted = where.Real.Exec(["conntrack", "-D", .. del.Filter.ToString().Split(' ', StringSplitOptions.RemoveEmptyEntries)]);
                    Note($"    conntrack -D {del.Filter}: exit {deleted.ExitCode}: {deleted.Output.Replace('\n', ' ')}");
                    if (!deleted.Ok && !deleted.Output.Contains("flow entries have been deleted", StringComparison.Ordinal))
                        throw new ReplayException($"{Where()}: the kernel refused 'conntrack -D {del.Filter}': {deleted.Output}");
                    break;
                case Command.IptablesCommand:
                    // As typed in its own namespace: "iptables -t nat ...", not "ip netns exec NS iptables ...".
                    Tool(where, [.. ScenarioParser.Words((line.Command with { Netns = null }).ToScript())]);
                    break;
                case Command.IptablesRestore restore:
                    // iptables-restore reads a file as it reads its stdin.
                    var dump = Path.GetTempFileName();
                    try
                    {
                        File.WriteAllText(dump, string.Join('\n', restore.Dump) + "\n");
                        Tool(where, restore.NoFlush ? ["iptables-restore", "--noflush", dump] : ["iptables-restore", dump]);
                    }
                    finally
                    {
                        File.Delete(dump);
                    }
                    break;
                case Command.NetnsAdd add:
                    AddNamespace(add.Name);
                    break;
                case Command.IpCommand ip:
                    Ip(where, IpArgs(ip));
                    break;
                case Command.Sleep sl:
                    Thread.Sleep(TimeSpan.FromMilliseconds(sl.Milliseconds));
                    break;
                default:
                    throw new ReplayException($"line {line.Line}: no kernel mapping for '{line.Command.ToScript()}'");
            }
        }

        private void Tool(RunNamespace where, IReadOnlyList<string> argv) =>
            Check($"ip netns exec {where.Real.Name} {string.Join(' ', argv)}", where.Real.Exec(argv));

        private void Ip(RunNamespace where, IReadOnlyList<string> args) =>
            Check($"ip -n {where.Real.Name} {string.Join(' ', args)}", where.Real.Ip(args));

        private void Check(string command, ToolResult r)
        {
            Note($"    {command}: exit {r.ExitCode}{(r.Output.Length > 0 ? ": " + r.Output.Replace('\n', ' ') : "")}");
            // conntrack -F says how many entries it deleted on stderr; only a non-zero exit is a failure.
            if (!r.Ok) throw new ReplayException($"{Where()}: the kernel refused '{command}': {r.Output}");
        }

        private string Where() => _line is { } l ? $"line {l.Line} (step {_step})" : "before the first command";

        /// <summary>The run's namespace a command names (null: the initial one); one the scenario has not created fails the run.</summary>
        private RunNamespace Resolve(string? name)
        {
            if (name is null) return _namespaces[0];
            if (_byName.TryGetValue(name, out var n)) return n;
            throw new ReplayException(
                $"{Where()}: '{_line?.Command.ToScript()}' names the namespace '{name}', which the scenario has not created (no earlier 'ip netns add {name}')");
        }

        /// <summary>The argument list of an ip command, as typed after <c>ip</c>, with every namespace it names mapped to its real name.</summary>
        private string[] IpArgs(Command.IpCommand c) => c switch
        {
            Command.LinkAddVeth v =>
                ["link", "add", v.Device, .. NetnsArg(v.DeviceNetns), "type", "veth", "peer", "name", v.Peer, .. NetnsArg(v.PeerNetns)],
            Command.LinkSetNetns m => ["link", "set", m.Device, "netns", Resolve(m.Target).Real.Name],
            Command.LinkSetState st => ["link", "set", st.Device, st.Up ? "up" : "down"],
            Command.AddrChange a => ["addr", a.Add ? "add" : "del", a.Address.ToString(), "dev", a.Device],
            Command.RouteChange r =>
            [
                "route", r.Add ? "add" : "del",
                r.Destination.PrefixLength == 0 ? "default" : string.Create(CultureInfo.InvariantCulture, $"{r.Destination.Network}/{r.Destination.PrefixLength}"),
                .. r.Gateway is { } g ? new[] { "via", g.ToString() } : [],
                .. r.Device is { } d ? new[] { "dev", d } : [],
            ],
            _ => throw new ReplayException($"{Where()}: no kernel mapping for '{c.ToScript()}'"),
        };

        private string[] NetnsArg(string? name) => name is null ? [] : ["netns", Resolve(name).Real.Name];

        /// <summary>
        /// <c>ip netns add NAME</c>: the run's namespace for NAME, with its recording when the run records (started
        /// here, on the driver thread, which stops it in <see cref="Dispose"/>).
        /// </summary>
        private void AddNamespace(string name)
        {
            if (_byName.ContainsKey(name))
                throw new ReplayException($"{Where()}: the namespace '{name}' exists already (ip netns add refuses a second one)");
            var real = ns.CreateScenarioNamespace(name);
            RunNamespace added;
            try
            {
                added = new RunNamespace(name, real, owned: true);
            }
            catch
            {
                real.Dispose();
                throw;
            }
            _namespaces.Add(added);
            _byName[name] = added;
            Note($"    namespace {name}: created as {real.Name}");
            if (options.PcapPath is { } pcap)
            {
                added.Tcpdump = Tcpdump.Start(real, "any", PcapPathFor(pcap, name));
                Note($"    namespace {name}: recording -i any into {added.Tcpdump.PcapPath}");
            }
        }

        /// <summary>Moves the driver thread into <paramref name="n"/> (setns(2) affects the calling thread only).</summary>
        private void Enter(RunNamespace n)
        {
            if (ReferenceEquals(_current, n)) return;
            if (Native.setns((int)n.Handle.DangerousGetHandle(), Native.CloneNewNet) != 0)
                throw new ReplayException($"setns({n.Real.Path}) failed: errno {System.Runtime.InteropServices.Marshal.GetLastPInvokeError()}");
            _current = n;
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
                    101 or 113 => "unreachable",
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
            DrainUdp();
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
            var connections = _connections.Select(c => _udpClients.ContainsKey(c.Name) ? ObserveUdp(c) : new ConnectionObservation(
                c.Name, c.Result, c.Local,
                c.Peer is null ? [] : [c.Peer],
                EndOf(c.Name)!,
                c.Peer is null ? null : EndOf(c.Name + ".server"),
                _ends.TryGetValue(c.Name + ".server", out var srv) ? [.. srv.Labels] : [],
                [.. _ends[c.Name].Labels])).ToImmutableArray();
            var table = ImmutableArray.CreateBuilder<CtObservation>();
            long insertFailed = 0, drop = 0;
            foreach (var n in _namespaces)
            {
                var list = n.Real.Exec(["conntrack", "-L"]);
                var stats = n.Real.Exec(["conntrack", "-S"]);
                if (!list.Ok || !stats.Ok)
                    throw new ReplayException($"conntrack -L/-S in {n.Display} failed: {list.Output} {stats.Output}".TrimEnd());
                Note($"conntrack -L in {n.Display}:\n" + list.Stdout.TrimEnd() + $"\nconntrack -S in {n.Display}:\n" + stats.Stdout.TrimEnd());
                table.AddRange(ConntrackTool.ParseList(list.Stdout, n.Name));
                insertFailed += ConntrackTool.Counter(stats.Stdout, "insert_failed");
                drop += ConntrackTool.Counter(stats.Stdout, "drop");
            }
            return new Observation(connections, table.ToImmutable(), insertFailed, drop, []);
        }

        /// <summary>
        /// Closes every socket, then, newest first, stops each namespace's recording, closes its handle and deletes the
        /// scenario namespaces (the initial one is its creator's to delete). Every step is tried; the first failure is
        /// thrown at the end (a namespace whose deletion failed stays registered, and process exit retries it).
        /// </summary>
        public void Dispose()
        {
            foreach (var e in _ends.Values) e.Socket?.Dispose();
            foreach (var u in _udpClients.Values) u.Socket?.Dispose();
            foreach (var u in _udpServers.Values) u.Socket?.Dispose();
            foreach (var l in _listeners.Values) l.Dispose();
            foreach (var p in _parked) p.Dispose();
            Exception? first = null;
            try
            {
                // Out of the scenario namespaces before they go (the thread would keep a deleted one alive until it ends).
                if (_namespaces.Count > 0) Enter(_namespaces[0]);
            }
            catch (ReplayException e)
            {
                first = e;
            }
            for (var i = _namespaces.Count - 1; i >= 0; i--)
            {
                try
                {
                    _namespaces[i].Dispose();
                    if (_namespaces[i].Name is { } name) Note($"namespace {name}: {_namespaces[i].Real.Name} deleted");
                }
                catch (Exception e) when (e is not OutOfMemoryException)
                {
                    first ??= e;
                }
            }
            _namespaces.Clear();
            if (first is not null) throw first;
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
        92 => "ENOPROTOOPT",
        _ => "E" + errno.ToString(CultureInfo.InvariantCulture),
    };
}
