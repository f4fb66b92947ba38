using ConntrackModel.Cli.CommandLine;
using System.Diagnostics;
using System.Globalization;
using ConntrackModel.Model.Choices;
using ConntrackModel.Model.Kernel;
using ConntrackModel.Model.Scenarios;

namespace ConntrackModel.Cli.Commands;

/// <summary>
/// <c>ctmodel bench [--sizes N,N,...] [--repeat N] [--part loop|commands|kernel|all] [--workload snat|node|udp|kube [--services S,...]]</c>: times what
/// users run and the loop inside it, on generated scenarios of N connections behind a SNAT rule on loopback
/// (<see cref="SnatWorkload"/>) or from two pods through a MASQUERADEing node (<see cref="NodeWorkload"/>).
/// <list type="bullet">
/// <item><b>loop</b>: the step loop <c>simulate --json</c> runs (<see cref="RunSummary.Of(Scenario, ChoiceSource)"/>:
/// every command through <c>LinuxKernel.Run</c>, invariants checked after each), in this process after a warm-up:
/// wall time, commands/s, bytes allocated per command, bytes the final world retains per connection.</item>
/// <item><b>commands</b>: <c>ctmodel simulate FILE --json</c> at each size, <c>check</c> for <c>late-start</c> and
/// <c>boot</c>, and <c>prove --config boot --depth 16</c>, each as a child process timed from its start to the
/// last byte of its output, with the child's peak resident memory (its own VmHWM, see <see cref="PeakRss"/>).</item>
/// <item><b>kernel</b>: the same snat scenario on this machine's kernel (<see cref="Replay.Kernel.KernelWorkload"/>), in a
/// network namespace of its own, timed from the first connect to the last send, beside the step loop's rate: what
/// "as fast as the kernel pushes the same packets" means on this machine. Needs root; <b>all</b> skips it, saying
/// why, where it cannot run.</item>
/// </list>
/// Every figure is a median with min and max over the repeats; growth is the ratio of medians between sizes.
/// </summary>
public static class BenchCommand
{
    private static readonly string[] Modes = ["--check", "--z3", "--advise"];

    private static readonly string[] CheckOnly = ["--config", "--setup", "--events", "--seeds", "--tests", "--first-seed"];

    public static CommandSpec Spec { get; } = new("bench", "time the step loop and the commands", null,
        "Times what users run (simulate, check and prove as child processes, to the last byte of output, with peak " +
        "RSS) and the step loop inside them (commands/s, bytes allocated per command, bytes retained per connection), " +
        "and, as root, the same scenario on this machine's kernel beside the loop; " +
        "--check measures check over many seeds, --z3 the Z3 search and proofs.",
        [
            new("--sizes", "N,N,...", "connection counts of the generated scenarios (default 1000,10000,100000)"),
            new("--repeat", "N", "runs per figure (default 5)"),
            new("--part", "loop|commands|kernel|all", "what to time (default all; kernel: the snat scenario on this machine's kernel, as root)"),
            new("--workload", "snat|node|udp|kube", "the generated scenarios: N connections behind a SNAT rule on loopback, from two pods through a MASQUERADEing node, N UDP flows (datagram and answer) through that node, or N connections from the pods to ClusterIP Services through kube-proxy's nat table (default snat)"),
            new("--services", "S,S,...", "--workload kube: how many Services the nat table has, 4 rules each (default 500: about 2,000 rules)"),
            new("--check", null, "measure check over many seeds instead"),
            new("--config", "C", "--check: the configuration (default late-start)"),
            new("--setup", "FILE", "--check: workloads around this setup instead (as check --setup)"),
            new("--events", "LIST", "--check with --setup: flush,expiry,late (default none)"),
            new("--seeds", "N", "--check: how many seeds"),
            new("--tests", "N", "--check: tests per seed"),
            new("--first-seed", "S", "--check: the first seed"),
            new("--z3", null, "measure the Z3 search and proofs instead"),
            new("--advise", "FILE", "time 'advise --setup FILE' instead: the command from process start, and each cell"),
        ],
        Run);

    public const int MaxSize = 2_000_000;

    public static ExitCode Run(Options o, TextWriter stdout, TextWriter stderr)
    {
        ArgumentNullException.ThrowIfNull(o);
        ArgumentNullException.ThrowIfNull(stdout);
        if (o.Positionals.Count > 0) return Program.UsageError(stderr, $"bench: unexpected argument '{o.Positionals[0]}'");
        if (Modes.Count(o.Has) > 1) return Program.UsageError(stderr, "bench: give one of --check, --z3 and --advise");
        if (o.Value("--advise") is { } adviseSetup)
        {
            o.Refuse(["--sizes", "--part", "--workload", "--services", .. CheckOnly], "does not apply to bench --advise");
            if (o.Error is not null) return Program.UsageError(stderr, "bench: " + o.Error);
            return AdviseBench.Run(adviseSetup, (int)o.Number("--repeat", 3, 1, 1000), o, stdout, stderr);
        }
        if (o.Has("--check")) o.Refuse(["--sizes", "--repeat", "--part", "--workload", "--services"], "does not apply to bench --check");
        if (o.Has("--z3")) o.Refuse(["--sizes", "--part", "--workload", "--services", .. CheckOnly], "does not apply to bench --z3");
        if (o.Error is not null) return Program.UsageError(stderr, "bench: " + o.Error);
        if (o.Has("--check")) return CheckBench.Run(o, stdout, stderr);
        if (o.Has("--z3")) return Z3Bench.Run(o, stdout, stderr);
        if (CheckOnly.FirstOrDefault(o.Has) is { } only)
            return Program.UsageError(stderr, $"bench: {only} belongs to 'bench --check'");
        var repeat = (int)o.Number("--repeat", 5, 1, 1000);
        var sizes = new List<int>();
        foreach (var part in (o.Value("--sizes") ?? "1000,10000,100000").Split(','))
        {
            if (!int.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out var n) || n < 1 || n > MaxSize)
                return Program.UsageError(stderr, $"bench: --sizes expects comma-separated connection counts from 1 to {MaxSize}, got '{part}'");
            sizes.Add(n);
        }
        var which = o.Value("--part") ?? "all";
        if (which is not ("loop" or "commands" or "kernel" or "all"))
            return Program.UsageError(stderr, $"bench: --part expects loop, commands, kernel or all, got '{which}'");
        var workload = o.Value("--workload") ?? "snat";
        if (workload is not ("snat" or "node" or "udp" or "kube"))
            return Program.UsageError(stderr, $"bench: --workload expects snat, node, udp or kube, got '{workload}'");
        if (o.Has("--services") && workload != "kube") return Program.UsageError(stderr, "bench: --services belongs to --workload kube");
        var services = new List<int>();
        foreach (var part in (o.Value("--services") ?? "500").Split(','))
        {
            if (!int.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out var sv) || sv < 1 || sv > 60_000)
                return Program.UsageError(stderr, $"bench: --services expects comma-separated Service counts from 1 to 60000, got '{part}'");
            services.Add(sv);
        }
        if (o.Error is not null) return Program.UsageError(stderr, "bench: " + o.Error);
        if (which == "kernel" && workload != "snat")
            return Program.UsageError(stderr, "bench: --part kernel runs the snat workload only (the others need several namespaces)");
        if (which == "kernel" && Replay.Host.Requirements.Missing(pcap: false) is { Count: > 0 } lacking)
        {
            ReplayCommand.ReportMissing(stderr, "bench --part kernel", lacking);
            return ExitCode.BadInput;
        }
        if (workload == "kube")
        {
            // One table size after another: the growth with the rule count is the question (the kernel walks rules linearly).
            foreach (var sv in services)
            {
                stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"scenario: a node with two pods, kube-proxy's nat table for {sv} ClusterIP Services ({KubeWorkload.Rules(sv)} rules, one iptables-restore), N x (connect from pod 1 or 2 in turn to Service i mod {sv}, send); {repeat} runs each; median [min-max]"));
                Func<int, string> kube = n => KubeWorkload.Text(n, sv);
                if (which is "loop" or "all" && Loop(sizes, repeat, kube, stdout, stderr) is var kl && kl != ExitCode.Ok) return kl;
                if (which is "commands" or "all" && Commands(sizes, repeat, kube, workload, stdout, stderr) is var kc && kc != ExitCode.Ok) return kc;
                stdout.WriteLine();
            }
            return which == "all" ? Kernel(sizes, repeat, workload, [], stdout, stderr) : ExitCode.Ok;
        }

        Func<int, string> text = workload switch { "node" => NodeWorkload.Text, "udp" => NodeWorkload.UdpText, _ => SnatWorkload.Text };
        stdout.WriteLine(workload switch
        {
            "node" => string.Create(CultureInfo.InvariantCulture, $"scenario: a node with two pods and a server namespace, the pods' MASQUERADE rule, N x (connect from an ephemeral port of pod 1 or 2 in turn, send); {SnatWorkload.ConnectionsPerListener} connections per server port; {repeat} runs each; median [min-max]"),
            "udp" => string.Create(CultureInfo.InvariantCulture, $"scenario: a node with two pods and a UDP server namespace, the pods' MASQUERADE rule, N x (connect -u from an ephemeral port of pod 1 or 2 in turn, send, the server's answer, close); {SnatWorkload.ConnectionsPerListener} flows per server port; {repeat} runs each; median [min-max]"),
            _ => string.Create(CultureInfo.InvariantCulture, $"scenario: listen, a SNAT rule, N x (connect from an ephemeral port, send); {SnatWorkload.ConnectionsPerListener} connections per listener port; {repeat} runs each; median [min-max]"),
        });
        var rates = new List<(int N, double PerSecond)>();
        if (which is "loop" or "all" && Loop(sizes, repeat, text, stdout, stderr, rates) is var loop && loop != ExitCode.Ok) return loop;
        if (which is "commands" or "all" && Commands(sizes, repeat, text, workload, stdout, stderr) is var commands && commands != ExitCode.Ok) return commands;
        if (which is "kernel" or "all") return Kernel(sizes, repeat, workload, rates, stdout, stderr);
        return ExitCode.Ok;
    }

    // ------------------------------------------------------------ the step loop, in process

    private static Scenario Parse(string text) =>
        ScenarioParser.Parse("bench", text).Scenario ?? throw new InvalidOperationException("the generated benchmark scenario does not parse");

    private static ExitCode Loop(List<int> sizes, int repeat, Func<int, string> text, TextWriter stdout, TextWriter stderr, List<(int N, double PerSecond)>? rates = null)
    {
        stdout.WriteLine();
        stdout.WriteLine("step loop (RunSummary.Of: LinuxKernel.Run and the invariants for every command; in process, after warm-up;");
        stdout.WriteLine("  GC pause: the collector's pauses within the timed run, GC.GetTotalPauseDuration, and how many collections)");
        stdout.WriteLine($"{"connections",12} {"commands",10} {"wall ms",26} {"commands/s",11} {"alloc B/cmd",12} {"retained B/conn",16} {"GC pause ms",12} {"GCs",4}");
        // Warm up the JIT so the first size is not charged for it: tiered compilation recompiles hot methods in the
        // background only after calls pause for 100 ms and keeps doing so for a while, so run for a second and a half.
        var warmup = Parse(text(1000));
        var warming = Stopwatch.StartNew();
        while (warming.Elapsed < TimeSpan.FromSeconds(1.5)) _ = RunSummary.Of(warmup, ChoiceSource.Seeded(1));
        var medians = new List<(int N, double Ms)>();
        foreach (var n in sizes)
        {
            var scenario = Parse(text(n));
            var times = new List<double>();
            var allocs = new List<double>();
            var retained = new List<double>();
            var pauses = new List<double>();
            var collections = new List<double>();
            for (var r = 0; r < repeat; r++)
            {
                var before = GC.GetTotalMemory(forceFullCollection: true);
                var (ms, allocated, after, pause, gcs, problem) = Once(scenario, n, (ulong)r + 1);
                if (problem is not null)
                {
                    stderr.WriteLine($"bench: generated scenario did not run: {problem}");
                    return ExitCode.Internal;
                }
                times.Add(ms);
                allocs.Add(allocated / (double)scenario.Lines.Count);
                retained.Add((after - before) / (double)n);
                pauses.Add(pause);
                collections.Add(gcs);
            }
            var median = Percentiles.Median(times);
            medians.Add((n, median));
            var commands = scenario.Lines.Count;
            rates?.Add((n, commands / (median / 1000)));
            stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{n,12} {commands,10} {Spread(times),26} {commands / (median / 1000),11:0} {Percentiles.Median(allocs),12:0} {Percentiles.Median(retained),16:0} {Percentiles.Median(pauses),12:0} {Percentiles.Median(collections),4:0}"));
            stdout.Flush();
        }
        Growth(medians, stdout);
        return ExitCode.Ok;
    }

    /// <summary>
    /// One timed run; the heap is measured while the run's result is still held. Not inlined, so nothing of this run
    /// stays reachable from the caller's frame when it measures the heap before the next one.
    /// </summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private static (double Ms, long Allocated, long HeapAfter, double PauseMs, int Collections, string? Problem) Once(Scenario scenario, int n, ulong seed)
    {
        var a0 = GC.GetAllocatedBytesForCurrentThread();
        var (p0, c0) = (GC.GetTotalPauseDuration(), GC.CollectionCount(0));
        var sw = Stopwatch.StartNew();
        var run = RunSummary.Of(scenario, ChoiceSource.Seeded(seed));
        sw.Stop();
        var (pause, collections) = ((GC.GetTotalPauseDuration() - p0).TotalMilliseconds, GC.CollectionCount(0) - c0);
        var allocated = GC.GetAllocatedBytesForCurrentThread() - a0;
        var after = GC.GetTotalMemory(forceFullCollection: true);
        var problem = run.Rejected ?? (run.Final.ConnectionCount != n ? $"{run.Final.ConnectionCount} connections instead of {n}" : null);
        GC.KeepAlive(run);
        return (sw.Elapsed.TotalMilliseconds, allocated, after, pause, collections, problem);
    }

    // ------------------------------------------------------------ the kernel, for comparison

    /// <summary>
    /// The snat scenario on this machine's kernel at each size, a fresh namespace per run; with the step loop's rate
    /// (when it ran) as a ratio. <c>--part all</c> prints why it skips where the kernel part cannot run.
    /// </summary>
    private static ExitCode Kernel(List<int> sizes, int repeat, string workload, List<(int N, double PerSecond)> rates, TextWriter stdout, TextWriter stderr)
    {
        stdout.WriteLine();
        const string Title = "kernel (the same scenario on this machine's kernel, in a network namespace of its own: socket, connect and send";
        if (workload != "snat")
        {
            stdout.WriteLine($"{Title}): skipped, it runs the snat workload only");
            return ExitCode.Ok;
        }
        if (Replay.Host.Requirements.Missing(pcap: false) is { Count: > 0 } lacking)
        {
            stdout.WriteLine($"{Title}): skipped, this machine lacks {string.Join("; ", lacking)}");
            return ExitCode.Ok;
        }
        stdout.WriteLine(Title);
        stdout.WriteLine("  as libc calls from one thread, the server's connections left in its accept queue; wall time from the first connect");
        stdout.WriteLine("  to the last send; a command is a connect or a send)");
        stdout.WriteLine($"{"connections",12} {"commands",10} {"wall ms",26} {"commands/s",11} {"step loop / kernel",19}");
        foreach (var n in sizes)
        {
            var scenario = Parse(SnatWorkload.Text(n));
            var needed = Replay.Kernel.KernelWorkload.Descriptors(scenario);
            if (Replay.Kernel.KernelWorkload.FileLimit() is var limit && limit < (ulong)needed)
            {
                stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{n,12} skipped: needs {needed} open files, this process may open {limit} (ulimit -Hn; raising it needs CAP_SYS_RESOURCE)"));
                continue;
            }
            var times = new List<double>();
            var commands = 0;
            for (var r = 0; r < repeat; r++)
            {
                try
                {
                    var t = Replay.Kernel.KernelWorkload.Run(scenario);
                    times.Add(t.Elapsed.TotalMilliseconds);
                    commands = t.Commands;
                }
                catch (Replay.Host.ReplayException e)
                {
                    // What the machine refused (a limit, a tool), as replay reports it: not a bug in ctmodel.
                    stderr.WriteLine($"ctmodel: bench: the kernel run of {n} connections failed: {e.Message}");
                    return ExitCode.BadInput;
                }
            }
            var median = Percentiles.Median(times);
            var perSecond = commands / (median / 1000);
            var model = rates.FirstOrDefault(x => x.N == n).PerSecond;
            var ratio = model > 0 ? string.Create(CultureInfo.InvariantCulture, $"x{model / perSecond:0.00}") : "-";
            stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{n,12} {commands,10} {Spread(times),26} {perSecond,11:0} {ratio,19}"));
            stdout.Flush();
        }
        return ExitCode.Ok;
    }

    // ------------------------------------------------------------ the commands, as child processes

    private static ExitCode Commands(List<int> sizes, int repeat, Func<int, string> text, string workload, TextWriter stdout, TextWriter stderr)
    {
        var self = SelfCommand();
        var dir = Directory.CreateTempSubdirectory("ctmodel-bench-");
        try
        {
            stdout.WriteLine();
            stdout.WriteLine("commands (child processes: wall time from process start to the last byte of output; peak RSS is the child's VmHWM)");
            stdout.WriteLine($"{"command",-52} {"wall ms",26} {"peak RSS MB",12} {"output",10}");
            var medians = new List<(int N, double Ms)>();
            foreach (var n in sizes)
            {
                var file = Path.Combine(dir.FullName, string.Create(CultureInfo.InvariantCulture, $"bench-{n}.scenario"));
                File.WriteAllText(file, text(n));
                var m = Time(self, ["simulate", file, "--json"], repeat, string.Create(CultureInfo.InvariantCulture, $"simulate --json, {n} {(workload == "udp" ? "flows" : "connections")}"), dir.FullName, stdout, stderr);
                if (m is null) return ExitCode.Internal;
                medians.Add((n, m.Value));
            }
            Growth(medians, stdout);
            if (workload == "node") return NodeCommands(self, repeat, dir.FullName, stdout, stderr);
            if (workload == "udp") return UdpCommands(self, repeat, dir.FullName, stdout, stderr);
            var outDir = Path.Combine(dir.FullName, "check");
            if (Time(self, ["check", "--config", "late-start", "--seed", "1", "--quiet", "--out", outDir], repeat, "check --config late-start --seed 1", dir.FullName, stdout, stderr) is null ||
                Time(self, ["check", "--config", "boot", "--tests", "2000", "--seed", "1", "--quiet", "--out", outDir], repeat, "check --config boot --tests 2000 --seed 1", dir.FullName, stdout, stderr) is null)
                return ExitCode.Internal;
            if (Solver.Native.Z3Runtime.Problem is { } problem)
            {
                stdout.WriteLine($"{"prove --config boot --depth 16",-52} skipped: the Z3 engine is unavailable: {problem}");
            }
            else
            {
                foreach (var depth in new[] { 8, 12, 16 })
                {
                    if (Time(self, ["prove", "--config", "boot", "--depth", depth.ToString(CultureInfo.InvariantCulture)], repeat,
                            $"prove --config boot --depth {depth} ({Solver.Bmc.ModelChecker.SlotsFor(depth)} connections)", dir.FullName, stdout, stderr) is null)
                        return ExitCode.Internal;
                }
            }
            return ExitCode.Ok;
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    /// <summary>The UDP configurations' checks, as child processes (UDP is outside the symbolic fragment: no proof).</summary>
    private static ExitCode UdpCommands(string[] self, int repeat, string dir, TextWriter stdout, TextWriter stderr)
    {
        var outDir = Path.Combine(dir, "check");
        if (Time(self, ["check", "--config", "udp-late", "--seed", "1", "--quiet", "--out", outDir], repeat, "check --config udp-late --seed 1", dir, stdout, stderr) is null ||
            Time(self, ["check", "--config", "udp-boot", "--tests", "2000", "--seed", "1", "--quiet", "--out", outDir], repeat, "check --config udp-boot --tests 2000 --seed 1", dir, stdout, stderr) is null)
            return ExitCode.Internal;
        return ExitCode.Ok;
    }

    /// <summary>The node configurations' check and proof, as child processes.</summary>
    private static ExitCode NodeCommands(string[] self, int repeat, string dir, TextWriter stdout, TextWriter stderr)
    {
        var outDir = Path.Combine(dir, "check");
        if (Time(self, ["check", "--config", "node-late", "--seed", "1", "--quiet", "--out", outDir], repeat, "check --config node-late --seed 1", dir, stdout, stderr) is null ||
            Time(self, ["check", "--config", "node-boot", "--tests", "2000", "--seed", "1", "--quiet", "--out", outDir], repeat, "check --config node-boot --tests 2000 --seed 1", dir, stdout, stderr) is null)
            return ExitCode.Internal;
        if (Solver.Native.Z3Runtime.Problem is { } problem)
        {
            stdout.WriteLine($"{"prove --config node-boot --depth 8",-52} skipped: the Z3 engine is unavailable: {problem}");
            return ExitCode.Ok;
        }
        foreach (var depth in new[] { 4, 8, 12 })
        {
            if (Time(self, ["prove", "--config", "node-boot", "--depth", depth.ToString(CultureInfo.InvariantCulture), "--induction"], repeat,
                    $"prove --config node-boot --depth {depth} --induction", dir, stdout, stderr) is null)
                return ExitCode.Internal;
        }
        return ExitCode.Ok;
    }

    /// <summary>
    /// Runs the command <paramref name="repeat"/> times; prints median [min-max] wall time, median peak RSS and the
    /// output size. Returns the median, or null (after printing why) if a run failed.
    /// </summary>
    internal static double? Time(string[] self, string[] args, int repeat, string label, string dir, TextWriter stdout, TextWriter stderr,
        Action? afterEach = null)
    {
        var times = new List<double>();
        var peaks = new List<double>();
        long bytes = 0;
        var peakFile = Path.Combine(dir, "peak-rss");
        for (var r = 0; r < repeat; r++)
        {
            var psi = new ProcessStartInfo(self[0]) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (var a in self.Skip(1).Concat(args)) psi.ArgumentList.Add(a);
            psi.Environment[PeakRss.Variable] = peakFile;
            File.Delete(peakFile);
            var sw = Stopwatch.StartNew();
            using var p = Process.Start(psi) ?? throw new InvalidOperationException("could not start " + self[0]);
            var err = p.StandardError.ReadToEndAsync();
            bytes = 0;
            var buffer = new char[1 << 16];
            int read;
            while ((read = p.StandardOutput.Read(buffer, 0, buffer.Length)) > 0) bytes += read;
            p.WaitForExit();
            sw.Stop();
            // 0 no violation, 1 violation found: both are the command working as intended.
            if (p.ExitCode is not (0 or 1))
            {
                stderr.WriteLine($"bench: '{label}' exited with {p.ExitCode}: {err.Result.Trim()}");
                return null;
            }
            times.Add(sw.Elapsed.TotalMilliseconds);
            afterEach?.Invoke();
            if (File.Exists(peakFile) && double.TryParse(File.ReadAllText(peakFile).Trim(), NumberStyles.Number, CultureInfo.InvariantCulture, out var kb)) peaks.Add(kb / 1024);
        }
        var peak = peaks.Count > 0 ? Percentiles.Median(peaks).ToString("0", CultureInfo.InvariantCulture) : "n/a";
        stdout.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{label,-52} {Spread(times),26} {peak,12} {Size(bytes),10}"));
        stdout.Flush();
        return Percentiles.Median(times);
    }

    /// <summary>How to start this same program again: the apphost itself, or <c>dotnet ctmodel.dll</c>.</summary>
    internal static string[] SelfCommand()
    {
        var path = Environment.ProcessPath ?? throw new InvalidOperationException("no process path");
        return Path.GetFileNameWithoutExtension(path) == "dotnet" ? [path, typeof(Program).Assembly.Location] : [path];
    }

    private static string Spread(List<double> ms) =>
        string.Create(CultureInfo.InvariantCulture, $"{Percentiles.Median(ms):0.0} [{ms.Min():0.0}-{ms.Max():0.0}]");

    private static string Size(long chars) => chars >= 1 << 20
        ? string.Create(CultureInfo.InvariantCulture, $"{chars / (double)(1 << 20):0.0} MB")
        : string.Create(CultureInfo.InvariantCulture, $"{chars / 1024.0:0.0} KB");

    private static void Growth(List<(int N, double Ms)> medians, TextWriter stdout)
    {
        for (var i = 1; i < medians.Count; i++)
        {
            var (n0, t0) = medians[i - 1];
            var (n1, t1) = medians[i];
            stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  growth {n0} -> {n1} connections: size x{n1 / (double)n0:0.##}, time x{t1 / t0:0.00}"));
        }
    }

}
