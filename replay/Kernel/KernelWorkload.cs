using System.Diagnostics;
using System.Globalization;
using ConntrackModel.Model.Addressing;
using ConntrackModel.Model.Scenarios;
using ConntrackModel.Replay.Host;

namespace ConntrackModel.Replay.Kernel;

/// <summary>
/// A benchmark scenario (listen, iptables, then connect and send) run on this machine's kernel as fast as one thread
/// can make the calls, to set the model's step loop beside the kernel that pushes the same packets. Unlike
/// <see cref="KernelReplay"/> it records nothing and waits for nothing: a namespace of its own (removed afterwards,
/// also on failure), the iptables lines as typed (all before the first connect, from the caller's thread), then, on a
/// thread moved into the namespace, per <c>listen</c> socket(2), bind(2) and listen(2), per <c>connect</c> socket(2)
/// and connect(2), and per <c>send</c> send(2): plain libc calls, without .NET's socket layer. That thread starts no
/// process and no other thread (a thread created from it would inherit the namespace and keep it alive). Loopback delivers in the sender's context, so
/// when connect returns the handshake is done and when send returns the data and its ACK have crossed. The server
/// never calls accept: its connections wait in the accept queue (backlog as long as the scenario needs, with
/// <c>net.core.somaxconn</c> raised in the namespace), which changes no packet and keeps one descriptor per
/// connection: a process may hold only <c>ulimit -n</c> of them.
/// </summary>
public static class KernelWorkload
{
    /// <summary>How long the timed part took: from the first connect to the last send; and the namespace it ran in (gone by now).</summary>
    public sealed record Timing(int Connections, int Commands, TimeSpan Elapsed, string Namespace);

    /// <summary>How long a connect may wait for its handshake (SO_SNDTIMEO): on loopback it never waits unless a rule drops the SYN.</summary>
    public static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Runs <paramref name="scenario"/> on the kernel; throws <see cref="ReplayException"/> when a call fails or the
    /// scenario is not one it drives: TCP listen, iptables before the first connect, TCP connect from an ephemeral port
    /// to an address the scenario listens on and send by the client of a connection made before, in one namespace, each
    /// listen address and connection name once. All of that is checked before any namespace is made.
    /// </summary>
    public static Timing Run(Scenario scenario)
    {
        ArgumentNullException.ThrowIfNull(scenario);
        var listens = new HashSet<SockAddr>();
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var line in scenario.Lines)
        {
            var ok = line.Command switch
            {
                Command.Listen l => l.Netns is null && l.Proto == L4Proto.Tcp && listens.Add(l.Address),
                Command.IptablesCommand => line.Command.Netns is null && names.Count == 0,
                Command.Connect c => c.Local is null && c.Netns is null && c.Proto == L4Proto.Tcp && listens.Contains(c.Remote) && names.Add(c.Name),
                Command.Send s => names.Contains(s.End),
                _ => false,
            };
            if (!ok) throw new ReplayException($"line {line.Line}: the kernel benchmark drives listen, iptables before the first connect, connect from an ephemeral port to a listening address and send by a connection's client only, over TCP in one namespace, each address and name once; got '{line.Command.ToScript()}'");
        }
        var needed = Descriptors(scenario);
        if (FileLimit() is var limit && limit < (ulong)needed)
            throw new ReplayException(string.Create(CultureInfo.InvariantCulture,
                $"{scenario.Lines.Count(l => l.Command is Command.Connect)} connections need {needed} open files and this process may open {limit} (ulimit -n; raising the hard limit needs CAP_SYS_RESOURCE)"));
        NetworkNamespace.RemoveStale();
        using var ns = NetworkNamespace.Create();
        var somaxconn = ns.Exec(["sysctl", "-q", "-w", string.Create(CultureInfo.InvariantCulture, $"net.core.somaxconn={Backlogs(scenario).Values.DefaultIfEmpty(0).Max() + 1}")]);
        if (!somaxconn.Ok) throw new ReplayException($"sysctl net.core.somaxconn in {ns.Name} failed: {somaxconn.Output}");
        foreach (var line in scenario.Lines.Where(l => l.Command is Command.IptablesCommand))
        {
            var words = ScenarioParser.Words(line.Command.ToScript());
            var r = ns.Exec(words);
            if (!r.Ok) throw new ReplayException($"line {line.Line}: {string.Join(' ', words)} failed: {r.Output}");
        }
        Timing? timing = null;
        Exception? failure = null;
        // setns(2) moves only the calling thread: a thread of its own, so the caller's stays in its namespace.
        var thread = new Thread(() =>
        {
            try
            {
                timing = Drive(ns, scenario);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                failure = e;
            }
        })
        { Name = "bench " + ns.Name, IsBackground = true };
        thread.Start();
        thread.Join();
        if (failure is ReplayException) throw failure;
        if (failure is not null) throw new ReplayException($"the kernel benchmark failed: {failure.Message}", failure);
        return timing!;
    }

    /// <summary>How many connections wait in each listener's accept queue by the end.</summary>
    private static Dictionary<SockAddr, int> Backlogs(Scenario scenario) =>
        scenario.Lines.Select(l => l.Command).OfType<Command.Connect>().GroupBy(c => c.Remote).ToDictionary(g => g.Key, g => g.Count());

    /// <summary>One descriptor per listener and per connection, and some for the runtime's own files.</summary>
    public static int Descriptors(Scenario scenario)
    {
        ArgumentNullException.ThrowIfNull(scenario);
        return scenario.Lines.Count(l => l.Command is Command.Listen or Command.Connect) + 256;
    }

    /// <summary>How many files this process may open once it raises its soft limit to the hard one.</summary>
    public static ulong FileLimit() => Native.getrlimit(Native.RlimitNofile, out var lim) == 0 ? lim.Max : 0;

    private static unsafe Timing Drive(NetworkNamespace ns, Scenario scenario)
    {
        using (var handle = File.OpenHandle(ns.Path))
        {
            if (Native.setns((int)handle.DangerousGetHandle(), Native.CloneNewNet) != 0)
                throw new ReplayException($"setns({ns.Path}) failed: errno {System.Runtime.InteropServices.Marshal.GetLastPInvokeError()}");
        }
        var connections = scenario.Lines.Count(l => l.Command is Command.Connect);
        RaiseFileLimit(Descriptors(scenario));
        var backlog = Backlogs(scenario);
        var listeners = new Dictionary<SockAddr, int>();
        var clients = new Dictionary<string, int>(StringComparer.Ordinal);
        var commands = 0;
        var clock = new Stopwatch();
        var buffer = stackalloc byte[256];
        try
        {
            foreach (var line in scenario.Lines)
            {
                switch (line.Command)
                {
                    case Command.Listen l:
                        var lfd = Socket();
                        listeners[l.Address] = lfd;
                        Check(Bind(lfd, l.Address), line, "bind");
                        Check(Native.listen(lfd, backlog.GetValueOrDefault(l.Address) + 1), line, "listen");
                        break;
                    case Command.Connect c:
                        clock.Start();
                        var fd = Socket();
                        clients[c.Name] = fd;
                        Check(SendTimeout(fd, ConnectTimeout), line, "setsockopt(SO_SNDTIMEO)");
                        Check(Connect(fd, c.Remote), line, "connect");
                        commands++;
                        break;
                    case Command.Send s:
                        var client = clients[s.End];
                        var n = System.Text.Encoding.ASCII.GetBytes(s.Label, new Span<byte>(buffer, 256));
                        var sent = Native.send(client, buffer, (nuint)n, 0);
                        if (sent < 0) Check(-1, line, "send");
                        if (sent != n) throw new ReplayException(string.Create(CultureInfo.InvariantCulture, $"line {line.Line}: send {s.End}: {sent} of {n} bytes sent"));
                        commands++;
                        break;
                }
            }
            clock.Stop();
            return new Timing(connections, commands, clock.Elapsed, ns.Name);
        }
        finally
        {
            foreach (var fd in clients.Values) Native.close(fd);
            foreach (var fd in listeners.Values) Native.close(fd);
        }
    }

    private static int Socket()
    {
        var fd = Native.socket(Native.AfInet, Native.SockStream | Native.SockCloexec, 0);
        Check(fd, null, "socket");
        return fd;
    }

    /// <summary>A failed call, with the scenario line it made and the errno's name where the benchmark expects one.</summary>
    private static void Check(int rc, ScenarioLine? line, string call)
    {
        if (rc >= 0) return;
        var errno = System.Runtime.InteropServices.Marshal.GetLastPInvokeError();
        var where = line is null ? "" : string.Create(CultureInfo.InvariantCulture, $"line {line.Line}: {line.Command.ToScript()}: ");
        var why = errno switch
        {
            // inet_stream_connect: the wait (SO_SNDTIMEO) ended before the handshake did.
            115 when call == "connect" => string.Create(CultureInfo.InvariantCulture, $" (EINPROGRESS: no handshake within {ConnectTimeout.TotalSeconds:0} s)"),
            111 => " (ECONNREFUSED)",
            98 => " (EADDRINUSE)",
            99 => " (EADDRNOTAVAIL)",
            _ => "",
        };
        throw new ReplayException(string.Create(CultureInfo.InvariantCulture, $"{where}{call} failed: errno {errno}{why}"));
    }

    /// <summary>struct sockaddr_in: family in host order, port and address in network order.</summary>
    private static unsafe void Fill(byte* sa, SockAddr a)
    {
        new Span<byte>(sa, 16).Clear();
        *(ushort*)sa = Native.AfInet;
        sa[2] = (byte)(a.Port >> 8);
        sa[3] = (byte)a.Port;
        sa[4] = (byte)(a.Ip.Value >> 24);
        sa[5] = (byte)(a.Ip.Value >> 16);
        sa[6] = (byte)(a.Ip.Value >> 8);
        sa[7] = (byte)a.Ip.Value;
    }

    /// <summary>
    /// SO_SNDTIMEO bounds a blocking connect too (<c>__inet_stream_connect</c> waits <c>sock_sndtimeo</c>; on this kernel
    /// a connect whose SYN a rule drops returns EINPROGRESS after it, as <c>KernelWorkloadTests</c> runs), so such a
    /// scenario fails after <paramref name="timeout"/> instead of after the SYN retries' two minutes.
    /// </summary>
    private static unsafe int SendTimeout(int fd, TimeSpan timeout)
    {
        var tv = stackalloc long[2];
        tv[0] = (long)timeout.TotalSeconds;
        tv[1] = timeout.Microseconds;
        return Native.setsockopt(fd, Native.SolSocket, Native.SoSndtimeo, tv, 16);
    }

    private static unsafe int Bind(int fd, SockAddr a)
    {
        var sa = stackalloc byte[16];
        Fill(sa, a);
        return Native.bind(fd, sa, 16);
    }

    private static unsafe int Connect(int fd, SockAddr a)
    {
        var sa = stackalloc byte[16];
        Fill(sa, a);
        return Native.connect(fd, sa, 16);
    }

    /// <summary>Raises this process's soft open-file limit to what the run needs (<see cref="Run"/> checked the hard one).</summary>
    private static void RaiseFileLimit(int needed)
    {
        if (Native.getrlimit(Native.RlimitNofile, out var lim) != 0 || lim.Cur >= (ulong)needed) return;
        var raised = new Native.Rlimit { Cur = (ulong)needed, Max = lim.Max };
        if (Native.setrlimit(Native.RlimitNofile, raised) != 0)
            throw new ReplayException(string.Create(CultureInfo.InvariantCulture, $"{needed} open files are needed and the limit is {lim.Cur} (setrlimit failed: errno {System.Runtime.InteropServices.Marshal.GetLastPInvokeError()})"));
    }
}
