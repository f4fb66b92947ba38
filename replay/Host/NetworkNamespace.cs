using System.Globalization;
using System.Runtime.InteropServices;

namespace ConntrackModel.Replay.Host;

/// <summary>
/// A network namespace this process created: a run's initial namespace <c>ctmodel-PID-N</c> (<see cref="Create"/>,
/// <c>lo</c> up), or one of the namespaces its scenario adds, <c>ctmodel-PID-N-NAME</c> (<see cref="CreateScenarioNamespace"/>,
/// <c>lo</c> down as <c>ip netns add</c> leaves it). Disposing one kills what still runs inside it and deletes it; so
/// do SIGINT, SIGTERM, SIGHUP and process exit, for every namespace still alive. A run killed with SIGKILL leaves its
/// namespaces behind: <see cref="RemoveStale"/>, called before each run, kills what runs inside the ones whose
/// creating process (the PID after the prefix, for both forms) is gone and deletes them. Nothing here ever touches the
/// host's own namespace: every command goes through <c>ip netns exec NAME</c> or <c>ip -n NAME</c>.
/// </summary>
public sealed class NetworkNamespace : IDisposable
{
    public const string Prefix = "ctmodel-";

    private static readonly Lock Gate = new();
    private static readonly HashSet<string> Alive = new(StringComparer.Ordinal);
    private static int _counter;
    private static List<PosixSignalRegistration>? _signals;

    public string Name { get; }

    private readonly string _ip;

    private NetworkNamespace(string name, string ip)
    {
        Name = name;
        _ip = ip;
    }

    /// <summary>Creates a fresh namespace with lo up; throws <see cref="ReplayException"/> if ip refuses.</summary>
    public static NetworkNamespace Create()
    {
        var ip = Tool.Find("ip") ?? throw new ReplayException("the 'ip' command is missing (apt-get install iproute2)");
        InstallCleanup();
        var ns = Add(ip, string.Create(CultureInfo.InvariantCulture, $"{Prefix}{Environment.ProcessId}-{Interlocked.Increment(ref _counter)}"));
        var up = Tool.Run(ip, ["-n", ns.Name, "link", "set", "lo", "up"]);
        if (!up.Ok)
        {
            ns.Dispose();
            throw new ReplayException($"ip -n {ns.Name} link set lo up failed: {up.Output}");
        }
        return ns;
    }

    /// <summary>
    /// The longest name <c>ip netns add</c> takes: a namespace's name is a file name under /var/run/netns, so NAME_MAX
    /// (measured with iproute2 6.1: 116 characters taken, 266 refused as an invalid name). IFNAMSIZ's 15 characters
    /// bind device names only.
    /// </summary>
    public const int MaxNameLength = 255;

    /// <summary>
    /// For a scenario's <c>ip netns add <paramref name="scenarioName"/></c>: a fresh namespace named
    /// <c>{Name}-{scenarioName}</c> (so it is unique to this run, and <see cref="RemoveStale"/> reads the creating PID
    /// from it as from this one's), registered for cleanup like every other, with only <c>lo</c>, down. Throws
    /// <see cref="ReplayException"/> if the name cannot be a namespace's or ip refuses.
    /// </summary>
    public NetworkNamespace CreateScenarioNamespace(string scenarioName)
    {
        ArgumentNullException.ThrowIfNull(scenarioName);
        var name = Name + "-" + scenarioName;
        if (scenarioName.Length == 0 || scenarioName is "." or ".." || scenarioName.Contains('/', StringComparison.Ordinal) ||
            scenarioName.Contains('\0', StringComparison.Ordinal) || name.Length > MaxNameLength)
            throw new ReplayException($"'{scenarioName}' cannot name a namespace of this run ({name} would be the namespace's file name; at most {MaxNameLength} characters, no '/')");
        return Add(_ip, name);
    }

    /// <summary><c>ip netns add NAME</c>, registered for cleanup before it exists so that no signal can miss it.</summary>
    private static NetworkNamespace Add(string ip, string name)
    {
        lock (Gate) Alive.Add(name);
        var add = Tool.Run(ip, ["netns", "add", name]);
        if (!add.Ok)
        {
            // Not deleted: ip removes a half-made one itself, and a name that exists already is not this call's.
            lock (Gate) Alive.Remove(name);
            throw new ReplayException($"ip netns add {name} failed: {add.Output}");
        }
        return new NetworkNamespace(name, ip);
    }

    /// <summary>Runs a command inside the namespace (<c>ip netns exec NAME ...</c>).</summary>
    public ToolResult Exec(IEnumerable<string> argv, TimeSpan? timeout = null) => Tool.Run(_ip, ["netns", "exec", Name, .. argv], timeout);

    /// <summary>Runs an iproute2 command in the namespace (<c>ip -n NAME ARGS</c>).</summary>
    public ToolResult Ip(IEnumerable<string> args) => Tool.Run(_ip, ["-n", Name, .. args]);

    /// <summary>The ip command the namespace was made with (for processes started inside it, such as tcpdump).</summary>
    internal string IpPath => _ip;

    /// <summary>The namespace's file, for setns(2).</summary>
    public string Path => "/var/run/netns/" + Name;

    public void Dispose()
    {
        Delete(_ip, Name);
        lock (Gate) Alive.Remove(Name);
    }

    /// <summary>
    /// Kills every process still inside the namespace (a tcpdump, say), then deletes it. Deleting alone would only
    /// unmount its name: a process inside keeps the namespace alive, unlisted and out of reach of later runs.
    /// </summary>
    private static void Delete(string ip, string name)
    {
        foreach (var pid in Pids(ip, name)) Native.kill(pid, Native.SigKill);
        Tool.Run(ip, ["netns", "del", name]);
    }

    /// <summary>The processes inside the namespace (<c>ip netns pids NAME</c>).</summary>
    public static IReadOnlyList<int> Pids(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        return Tool.Find("ip") is { } ip ? Pids(ip, name) : [];
    }

    private static List<int> Pids(string ip, string name) =>
        [.. Tool.Run(ip, ["netns", "pids", name]).Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => int.TryParse(l.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var pid) ? pid : 0).Where(pid => pid > 0)];

    /// <summary>Deletes namespaces with our prefix whose creating process no longer exists; returns their names.</summary>
    public static IReadOnlyList<string> RemoveStale()
    {
        var ip = Tool.Find("ip");
        if (ip is null) return [];
        var list = Tool.Run(ip, ["netns", "list"]);
        var removed = new List<string>();
        foreach (var line in list.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var name = line.Split(' ', 2)[0];
            if (!name.StartsWith(Prefix, StringComparison.Ordinal)) continue;
            var pidText = name[Prefix.Length..].Split('-')[0];
            if (!int.TryParse(pidText, NumberStyles.None, CultureInfo.InvariantCulture, out var pid)) continue;
            lock (Gate)
            {
                if (Alive.Contains(name)) continue;
            }
            if (pid == Environment.ProcessId || Directory.Exists($"/proc/{pid}")) continue;
            Delete(ip, name);
            removed.Add(name);
        }
        return removed;
    }

    /// <summary>Namespaces with our prefix that exist now.</summary>
    public static IReadOnlyList<string> List()
    {
        var ip = Tool.Find("ip");
        if (ip is null) return [];
        return [.. Tool.Run(ip, ["netns", "list"]).Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => l.Split(' ', 2)[0]).Where(n => n.StartsWith(Prefix, StringComparison.Ordinal))];
    }

    private static void InstallCleanup()
    {
        lock (Gate)
        {
            if (_signals is not null) return;
            _signals = [];
            foreach (var sig in new[] { PosixSignal.SIGINT, PosixSignal.SIGTERM, PosixSignal.SIGHUP })
                _signals.Add(PosixSignalRegistration.Create(sig, _ => DeleteAll()));
            AppDomain.CurrentDomain.ProcessExit += (_, _) => DeleteAll();
        }
    }

    private static void DeleteAll()
    {
        var ip = Tool.Find("ip");
        string[] names;
        lock (Gate) names = [.. Alive];
        if (ip is null) return;
        foreach (var n in names) Delete(ip, n);
        lock (Gate) Alive.Clear();
    }
}
