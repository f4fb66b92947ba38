using System.Collections.Immutable;
using System.Globalization;
using System.Reflection;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.RegularExpressions;
using ConntrackModel.Model.Addressing;
using ConntrackModel.Model.Choices;
using ConntrackModel.Model.Kernel;
using ConntrackModel.Model.Reporting;
using ConntrackModel.Model.Scenarios;
using ConntrackModel.Replay.Kernel;

namespace ConntrackModel.Cli.Output;

/// <summary>
/// <c>ctmodel export FILE --sh</c>: a scenario as a standalone bash script that runs it on any Linux machine's kernel
/// (root, iproute2, iptables, conntrack-tools, python3; no .NET) and checks that the kernel does what the model
/// predicts. The script mirrors <see cref="KernelReplay"/> command for command (its namespaces are
/// <c>ctx-PID-RANDOM</c> and <c>ctx-PID-RANDOM-NAME</c>, removed by an EXIT trap; sockets are held by an embedded
/// python3 helper, <c>Reproducer.py</c>, that calls what the replay calls), and compares as
/// <see cref="Conformance.Compare"/> does, field by field, against the model's observation written into it.
/// <para>
/// The kernel draws its own ephemeral and NAT ports, so the prediction names the ports the model chose as
/// variables: a connection's own port when connect() chose it (<c>{A.local}</c>), and the port the server saw when
/// NAT changed it to one the scenario does not write (<c>{A.wire}</c>). A variable takes the kernel's value where it
/// first appears (the connection's local address, then the address its server saw, then the conntrack entries,
/// matched one to one) and must read the same everywhere after; every other address is literal. So the script
/// checks the outcome (who was reset, which label was lost, which entries exist and how they relate), not which
/// random port the kernel drew. Decisions the kernel makes by chance that change the outcome (a random NAT port
/// that lands on a live tuple, two timers in the other order) are the model's default run's (<c>--seed</c>).
/// </para>
/// </summary>
public static partial class Reproducer
{
    /// <summary>The script's exit codes, the kernel selftests' (tools/testing/selftests/kselftest.h).</summary>
    public const int Pass = 0, Fail = 1, Skip = 4;

    /// <summary>A scenario the export refuses (the model rejects a line other than a use of a closed end).</summary>
    public sealed class RefusedException(string message) : Exception(message);

    /// <summary>At most this many runs of the model are tried for the outcomes the kernel's hidden decisions allow.</summary>
    public const int MaxRuns = 32;

    /// <summary>At most this many distinct outcomes are written into a script.</summary>
    public const int MaxOutcomes = 8;

    /// <summary>The script for <paramref name="scenario"/> (read from <paramref name="file"/>) under <paramref name="choices"/>.</summary>
    public static string Write(Scenario scenario, string file, ChoiceSource choices, int runs = WireExploration.DefaultBudget)
    {
        ArgumentNullException.ThrowIfNull(scenario);
        ArgumentNullException.ThrowIfNull(file);
        ArgumentNullException.ThrowIfNull(choices);
        var outcomes = Outcomes(scenario, file, choices, runs);
        // The script runs every line any outcome ran; the helper stops where the kernel does.
        var last = outcomes.Any(o => o.Stopped is null) ? null : outcomes.Select(o => o.StoppedAt!).MaxBy(l => l.Line);
        return Script(scenario, file, outcomes, last);
    }

    /// <summary>Writes a script to <paramref name="path"/>, executable by everyone who can read it (as chmod +x).</summary>
    public static void WriteFile(string path, string script)
    {
        ArgumentNullException.ThrowIfNull(path);
        File.WriteAllText(path, script);
        if (!OperatingSystem.IsWindows())
            File.SetUnixFileMode(path, File.GetUnixFileMode(path) | UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute);
    }

    /// <summary>
    /// The outcomes the script accepts: the model's run under <paramref name="choices"/>, then, breadth first, the runs
    /// with a decision changed that the script can neither see nor steer and that has few outcomes (which of the timers
    /// due together fires first, whether an ISN is after a closing entry's, a small NAT range's outcome, a statistic match: the kinds
    /// <see cref="Conformance.Explain"/> searches), up to <see cref="MaxRuns"/> runs and <see cref="MaxOutcomes"/>
    /// distinct outcomes. The first is the default run's.
    /// </summary>
    internal static ImmutableArray<Expectation> Outcomes(Scenario scenario, string file, ChoiceSource choices, int runs)
    {
        var outcomes = ImmutableArray.CreateBuilder<Expectation>();
        var texts = new HashSet<string>(StringComparer.Ordinal);
        var drawn = Search(scenario, scenario.Choices, null, file, choices, runs, outcomes, texts);
        if (drawn.Count > 0)
        {
            // A counterexample pins a port the kernel draws at random (a NAT offset, an ephemeral port): the script cannot
            // make the kernel draw it, so the outcomes of the kernel's own draws are accepted too, and say so.
            var note = $"the kernel drew its own port where the scenario pins one ({string.Join(", ", drawn.Select(k => $"choose {k} {scenario.Choices[k]}"))}), so what that draw causes did not happen on this run; the kernel draws anew each run";
            Search(scenario, scenario.Choices.RemoveRange(drawn), note, file, choices, runs, outcomes, texts);
        }
        return outcomes.ToImmutable();
    }

    /// <summary>
    /// One breadth-first search of <see cref="Outcomes"/> from <paramref name="start"/>'s pins; returns the pinned
    /// keys of the first run that are draws the script cannot steer.
    /// </summary>
    private static List<string> Search(Scenario scenario, ImmutableSortedDictionary<string, int> start, string? note, string file, ChoiceSource choices, int runs,
        ImmutableArray<Expectation>.Builder outcomes, HashSet<string> texts)
    {
        var drawn = new List<string>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var queue = new Queue<ImmutableSortedDictionary<string, int>>();
        queue.Enqueue(start);
        var done = 0;
        while (queue.Count > 0 && done < MaxRuns && outcomes.Count < MaxOutcomes)
        {
            var pins = queue.Dequeue();
            if (!seen.Add(string.Join(";", pins.Select(kv => kv.Key + "=" + kv.Value)))) continue;
            done++;
            var candidate = scenario with { Choices = pins };
            var sim = Simulation.Run(candidate, choices);
            var stoppedAt = sim.RejectedLine;
            if (stoppedAt is not null && stoppedAt.Command is not (Command.Send or Command.Close or Command.Abort))
            {
                // The scenario itself is wrong (its first run says so); another order that fails is not an outcome.
                if (done == 1 && note is null) throw new RefusedException($"{stoppedAt.Position(file)}: error: {sim.Rejected}");
                continue;
            }
            var made = sim.Events.OfType<KernelEvent.Choice>().Select(c => c.Made).DistinctBy(m => m.Point.Key).ToList();
            if (done == 1)
            {
                drawn.AddRange(made.Where(m => start.ContainsKey(m.Point.Key) &&
                    m.Point.Kind is ChoiceKind.NatPortOffset or ChoiceKind.NatPortOutcome or ChoiceKind.NatAddress or ChoiceKind.EphemeralPort).Select(m => m.Point.Key));
            }
            var model = Observation.Of(sim, WireExploration.Explore(candidate, choices, runs, RunSummary.Of(sim)).Wire);
            var own = Observation.Of(sim, ImmutableDictionary<string, ImmutableArray<string>>.Empty);
            var e = Expect(scenario, model, own, stoppedAt?.Line) with { StoppedAt = stoppedAt, Note = note };
            if (texts.Add(Json(e with { Note = null }))) outcomes.Add(e);
            foreach (var c in made)
            {
                if (pins.ContainsKey(c.Point.Key) || c.Point.Arity is < 2 or > Conformance.MaxExplainedArity ||
                    c.Point.Kind is not (ChoiceKind.Order or ChoiceKind.SeqAdvanced or ChoiceKind.NatPortOutcome or ChoiceKind.Statistic)) continue;
                for (var v = 0; v < c.Point.Arity; v++)
                {
                    if (v != c.Value) queue.Enqueue(pins.SetItem(c.Point.Key, v));
                }
            }
        }
        return drawn;
    }

    /// <summary>The prediction, with the ports the model chose as variables (see the class remarks).</summary>
    internal sealed record Expectation(
        ImmutableArray<(string Name, int Port)> Variables,
        ImmutableArray<ExpectedConnection> Connections,
        ImmutableArray<string> Conntrack,
        string InsertFailed,
        string Drop,
        string? Stopped)
    {
        /// <summary>The line the model stopped at (a use of an end already closed), if it did.</summary>
        public ScenarioLine? StoppedAt { get; init; }

        /// <summary>Why this outcome is not the scenario's own (the kernel drew another port than it pins), or null.</summary>
        public string? Note { get; init; }
    }

    internal sealed record ExpectedConnection(string Name, string Connect, string Local, ImmutableArray<string> Wire,
        string Client, string Server, ImmutableArray<string> Delivered, ImmutableArray<string> Received);

    [GeneratedRegex(@"(?<![\d.])(\d{1,3}(?:\.\d{1,3}){3}):(\d{1,5})(?!\d|-\d)")]
    private static partial Regex AddressToken();

    internal static Expectation Expect(Scenario scenario, Observation model, Observation own, int? stoppedLine)
    {
        // Addresses the scenario writes (a bind, a listener, a NAT rule's single address): the kernel has no choice there.
        var literal = scenario.Lines.SelectMany(l => AddressToken().Matches(l.Command.ToScript()).Select(m => m.Value)).ToHashSet(StringComparer.Ordinal);
        var connects = scenario.Lines.Select(l => l.Command).OfType<Command.Connect>().GroupBy(c => c.Name).ToDictionary(g => g.Key, g => g.Last(), StringComparer.Ordinal);
        var variables = new List<(string Name, int Port)>();
        foreach (var c in own.Connections)
        {
            // connect() chose the port: __inet_hash_connect's offset, or udp_lib_get_port's.
            if (connects.TryGetValue(c.Name, out var cmd) && cmd.Local is null && SockAddr.TryParse(c.Local, out var a) && a.Port != 0 &&
                variables.All(v => v.Port != a.Port))
                variables.Add((c.Name + ".local", a.Port));
        }
        foreach (var c in own.Connections)
        {
            var explicitPort = connects.TryGetValue(c.Name, out var cmd) && cmd.Local is { } l ? l.Port : -1;
            for (var i = 0; i < c.Wire.Length; i++)
            {
                // NAT kept a bound port (it does when the tuple is free) or gave one the scenario writes: literal.
                if (!SockAddr.TryParse(c.Wire[i], out var w) || literal.Contains(c.Wire[i]) || w.Port == explicitPort || variables.Any(v => v.Port == w.Port)) continue;
                variables.Add((c.Name + ".wire" + (i == 0 ? "" : (i + 1).ToString(CultureInfo.InvariantCulture)), w.Port));
            }
        }
        string Abstract(string text) => AddressToken().Replace(text, m =>
        {
            if (literal.Contains(m.Value)) return m.Value;
            var port = int.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture);
            var v = variables.FirstOrDefault(v => v.Port == port);
            return v.Name is null ? m.Value : $"{m.Groups[1].Value}:{{{v.Name}}}";
        });
        var connections = model.Connections.Select(c => new ExpectedConnection(c.Name, c.Connect, Abstract(c.Local), [.. c.Wire.Select(Abstract)],
            EndObservation.Text(c.Client), EndObservation.Text(c.Server), c.Delivered, c.Received)).ToImmutableArray();
        // As Conformance compares entries: the namespace is part of an entry.
        var entries = model.Conntrack.Select(e => Abstract(e.Text)).ToImmutableArray();
        return new Expectation([.. variables], connections, entries, model.InsertFailed == 0 ? "0" : "non-zero", model.Drop == 0 ? "0" : "non-zero",
            stoppedLine is { } s ? "line " + s.ToString(CultureInfo.InvariantCulture) : null);
    }

    /// <summary>One outcome as the helper reads it.</summary>
    internal static string Json(Expectation e) => Write(w => Outcome(w, e));

    /// <summary>The outcomes as the script carries them: <c>{"outcomes": [...]}</c>.</summary>
    internal static string Json(IEnumerable<Expectation> outcomes) => Write(w =>
    {
        w.WriteStartObject();
        w.WriteStartArray("outcomes");
        foreach (var e in outcomes) Outcome(w, e);
        w.WriteEndArray();
        w.WriteEndObject();
    });

    private static string Write(Action<Utf8JsonWriter> write)
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            write(w);
        }
        return Encoding.UTF8.GetString(stream.ToArray());
    }

    private static void Outcome(Utf8JsonWriter w, Expectation e)
    {
        w.WriteStartObject();
        w.WriteStartArray("connections");
        foreach (var c in e.Connections)
        {
            w.WriteStartObject();
            w.WriteString("name", c.Name);
            w.WriteString("connect", c.Connect);
            w.WriteString("local", c.Local);
            Strings(w, "wire", c.Wire);
            w.WriteString("client", c.Client);
            w.WriteString("server", c.Server);
            Strings(w, "delivered", c.Delivered);
            Strings(w, "received", c.Received);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        Strings(w, "conntrack", e.Conntrack);
        w.WriteString("insert_failed", e.InsertFailed);
        w.WriteString("drop", e.Drop);
        if (e.Stopped is null) w.WriteNull("stopped");
        else w.WriteString("stopped", e.Stopped);
        if (e.Note is not null) w.WriteString("note", e.Note);
        w.WriteEndObject();
    }

    private static void Strings(Utf8JsonWriter w, string name, IEnumerable<string> values)
    {
        w.WriteStartArray(name);
        foreach (var v in values) w.WriteStringValue(v);
        w.WriteEndArray();
    }

    /// <summary>The embedded python3 helper (cli/Output/Reproducer.py).</summary>
    internal static string Helper()
    {
        using var s = typeof(Reproducer).Assembly.GetManifestResourceStream("Reproducer.py")
            ?? throw new InvalidOperationException("the socket helper Reproducer.py is not embedded in ctmodel");
        using var r = new StreamReader(s, Encoding.UTF8);
        return r.ReadToEnd();
    }

    private const string HelperEnd = "CTMODEL_HELPER_PY", ExpectedEnd = "CTMODEL_EXPECTED_JSON";

    private static string Script(Scenario scenario, string file, ImmutableArray<Expectation> outcomes, ScenarioLine? stoppedAt)
    {
        var sb = new StringBuilder();
        void L(string line = "") => sb.Append(line).Append('\n');
        var version = typeof(Reproducer).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "unknown";
        L("#!/usr/bin/env bash");
        L("# shellcheck disable=SC2317 # cleanup runs from a trap, and not every script uses every function");
        L($"# {Path.GetFileName(file)} on this machine's kernel: runs the scenario in network namespaces of its own and checks");
        L("# that the kernel does what the ConntrackModel model predicts for it.");
        L($"# Written by 'ctmodel export {Path.GetFileName(file)} --sh' (ctmodel {version.Split('+')[0]}).");
        L("#");
        L("# Needs root, ip (iproute2), iptables, conntrack (conntrack-tools), sysctl and python3; nothing else (the");
        L("# sockets are held by a small python3 helper written out by this script). Every command runs in namespaces the");
        L("# script makes (ctx-PID-N, and ctx-PID-N-NAME for each 'ip netns add NAME') and deletes on exit, whatever");
        L("# happens; the machine's own namespace is never touched.");
        L("# Exit status, as the kernel selftests': 0 the kernel did what the model predicts, 1 it did not (the");
        L("# differences are printed, with a log of the run), 4 skipped (not root, a tool missing, no namespaces).");
        L("#");
        L("# The scenario:");
        foreach (var line in scenario.Lines)
        {
            var text = line.Command.ToScript().Split('\n');
            L($"#   {line.Line,3}  {text[0]}");
            foreach (var more in text.Skip(1)) L($"#        {more}");
        }
        L("#");
        L(outcomes.Length == 1
            ? "# The model predicts ({NAME} is a port the kernel chooses; it must read the same wherever it appears):"
            : $"# The model predicts one of {outcomes.Length} outcomes: the kernel decides things the script can neither see nor steer\n" +
              "# (which of the timers due together fires first, an ISN, a small NAT range's port). {NAME} is a port the kernel\n" +
              "# chooses; it must read the same wherever it appears:");
        for (var i = 0; i < outcomes.Length; i++)
        {
            var expected = outcomes[i];
            if (outcomes.Length > 1) L($"#  outcome {i + 1}:{(expected.Note is null ? "" : " if the kernel draws its own port where the scenario pins one")}");
            if (expected.StoppedAt is { } at) L($"#   the run stops at line {at.Line}: the end it uses is already closed");
            foreach (var c in expected.Connections)
            {
                L($"#   {c.Name}: connect {c.Connect}, local {c.Local}{(c.Wire.IsEmpty ? "" : ", server sees " + string.Join(" or ", c.Wire))}");
                L($"#      client {c.Client}, received [{string.Join(", ", c.Received)}]; server {c.Server}, delivered [{string.Join(", ", c.Delivered)}]");
            }
            L("#   conntrack:" + (expected.Conntrack.IsEmpty ? " (empty)" : ""));
            foreach (var e in expected.Conntrack) L($"#      {e}");
            L($"#   insert_failed {expected.InsertFailed}, drop {expected.Drop}");
        }
        L();
        L("set -u");
        L($"readonly ksft_pass={Pass} ksft_fail={Fail} ksft_skip={Skip}");
        L("readonly connect_timeout_ms=" + LinuxKernel.ConnectTimeoutMs.ToString(CultureInfo.InvariantCulture));
        L("readonly settle_ms=" + new ReplayOptions().SettleMs.ToString(CultureInfo.InvariantCulture));
        L("run=\"ctx-$$-${RANDOM}\"");
        L("work=");
        L("namespaces=()");
        L("helper_pid=");
        L("stopped=0");
        L();
        L(Functions);
        L("main() {");
        L("  preflight");
        L("  add_ns - \"$run\"");
        L("  tool 0 ip -n \"$run\" link set lo up");
        foreach (var line in scenario.Lines)
        {
            L();
            L($"  step {line.Line} {Q(line.Command.ToScript().Split('\n')[0])} && {{");
            foreach (var cmd in Commands(line)) L("    " + cmd);
            L("  }");
            if (line == stoppedAt) break;
        }
        L();
        L("  finish");
        L("}");
        L();
        L("write_files() {");
        L($"  cat >\"$work/helper.py\" <<'{HelperEnd}'");
        sb.Append(Helper().Replace("\r\n", "\n", StringComparison.Ordinal).TrimEnd('\n')).Append('\n');
        L(HelperEnd);
        L($"  cat >\"$work/expected.json\" <<'{ExpectedEnd}'");
        L(Json(outcomes));
        L(ExpectedEnd);
        L("}");
        L();
        L("main \"$@\"");
        return sb.ToString();
    }

    /// <summary>The bash of one scenario line, as <see cref="KernelReplay"/> runs it.</summary>
    private static IEnumerable<string> Commands(ScenarioLine line)
    {
        var n = line.Line.ToString(CultureInfo.InvariantCulture);
        var c = line.Command;
        var ns = Real(c.Netns);
        var scenarioNs = c.Netns ?? "-";
        switch (c)
        {
            case Command.Listen l:
                yield return $"helper listen {scenarioNs} {(l.Proto == L4Proto.Udp ? "udp" : "tcp")} {l.Address}";
                break;
            case Command.Connect k:
                yield return $"helper connect {scenarioNs} {(k.Proto == L4Proto.Udp ? "udp" : "tcp")} {Q(k.Name)} {(k.Local is { } lo ? lo.ToString() : "-")} {k.Remote}";
                break;
            case Command.Send s:
                yield return $"helper send {Q(s.End)} {Q(s.Label)} {n}";
                break;
            case Command.Close cl:
                yield return $"helper close {Q(cl.End)} {n}";
                break;
            case Command.Abort a:
                yield return $"helper abort {Q(a.End)} {n}";
                break;
            case Command.Modprobe:
                // In a namespace, a conntrack user stands for the module (KernelReplay.ModprobeRule says why).
                yield return $"tool {n} ip netns exec {ns} {string.Join(' ', KernelReplay.ModprobeRule.Select(Q))}";
                break;
            case Command.Sysctl sy:
                yield return $"tool {n} ip netns exec {ns} sysctl -w {Q($"{sy.Key}={sy.Value}")}";
                break;
            case Command.ConntrackFlush:
                yield return $"tool {n} ip netns exec {ns} conntrack -F";
                break;
            case Command.ConntrackDelete del:
                yield return $"ct_delete {n} {ns} {string.Join(' ', del.Filter.ToString().Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(Q))}";
                break;
            case Command.IptablesCommand:
                yield return $"tool {n} ip netns exec {ns} {string.Join(' ', ScenarioParser.Words((c with { Netns = null }).ToScript()).Select(Q))}";
                break;
            case Command.IptablesRestore restore:
                // The dump as a here-document, its lines and its end at the start of their lines as bash wants them.
                yield return $"tool {n} ip netns exec {ns} iptables-restore{(restore.NoFlush ? " --noflush" : "")} <<'{restore.Tag}'\n" +
                             string.Join("\n", restore.Dump) + (restore.Dump.IsEmpty ? "" : "\n") + restore.Tag;
                break;
            case Command.NetnsAdd add:
                yield return $"add_ns {Q(add.Name)} {Real(add.Name)}";
                break;
            case Command.LinkAddVeth v:
                yield return $"tool {n} ip -n {ns} link add {Q(v.Device)}{NetnsArg(v.DeviceNetns)} type veth peer name {Q(v.Peer)}{NetnsArg(v.PeerNetns)}";
                break;
            case Command.LinkSetNetns m:
                yield return $"tool {n} ip -n {ns} link set {Q(m.Device)} netns {Real(m.Target)}";
                break;
            case Command.LinkSetState st:
                yield return $"tool {n} ip -n {ns} link set {Q(st.Device)} {(st.Up ? "up" : "down")}";
                break;
            case Command.AddrChange ad:
                yield return $"tool {n} ip -n {ns} addr {(ad.Add ? "add" : "del")} {ad.Address} dev {Q(ad.Device)}";
                break;
            case Command.RouteChange r:
                var dst = r.Destination.PrefixLength == 0 ? "default" : string.Create(CultureInfo.InvariantCulture, $"{r.Destination.Network}/{r.Destination.PrefixLength}");
                yield return $"tool {n} ip -n {ns} route {(r.Add ? "add" : "del")} {dst}{(r.Gateway is { } g ? " via " + g : "")}{(r.Device is { } d ? " dev " + Q(d) : "")}";
                break;
            case Command.Sleep sl:
                yield return $"helper settle {sl.Milliseconds.ToString(CultureInfo.InvariantCulture)}";
                yield break;
            default:
                throw new RefusedException($"line {line.Line}: no kernel mapping for '{c.ToScript()}'");
        }
        // As the replay: after a command, its packets are given time to arrive (not after a connect, which waited
        // for its answer), then every socket is read.
        yield return c is Command.Connect ? "helper settle 0" : "helper settle \"$settle_ms\"";
    }

    private static string NetnsArg(string? netns) => netns is null ? "" : " netns " + Real(netns);

    /// <summary>The script's name for a scenario namespace (null: the initial one).</summary>
    private static string Real(string? netns) => netns is null ? "\"$run\"" : $"\"$run\"-{Q(netns)}";

    [GeneratedRegex(@"^[A-Za-z0-9_./:=,+@%^-]+$")]
    private static partial Regex Plain();

    /// <summary>A word for bash: as is when it is plain, else single-quoted.</summary>
    internal static string Q(string word) => word.Length > 0 && Plain().IsMatch(word) ? word : "'" + word.Replace("'", "'\\''", StringComparison.Ordinal) + "'";

    private const string Functions = """
        say() { printf '%s\n' "$*"; }

        # The run's log, printed (as '# ' lines) when the kernel disagrees or a command fails.
        show_log() {
          if [ -n "$work" ] && [ -s "$work/log" ]; then
            say "# log of the run:"
            sed 's/^/#   /' "$work/log"
          fi
        }

        fail() {
          say "FAIL: $*"
          show_log
          exit "$ksft_fail"
        }

        skip() {
          say "SKIP: $*"
          exit "$ksft_skip"
        }

        cleanup() {
          local i
          if [ -n "$helper_pid" ]; then
            kill "$helper_pid" 2>/dev/null
            wait "$helper_pid" 2>/dev/null
          fi
          # Newest first: a namespace may hold a device whose peer is in an older one.
          for ((i = ${#namespaces[@]} - 1; i >= 0; i--)); do
            ip netns pids "${namespaces[i]}" 2>/dev/null | xargs -r kill -9 2>/dev/null
            ip netns del "${namespaces[i]}" 2>/dev/null
          done
          if [ -n "$work" ]; then rm -rf "$work"; fi
        }

        preflight() {
          local t
          for t in ip iptables conntrack sysctl python3; do
            if ! command -v "$t" >/dev/null 2>&1; then skip "'$t' is missing"; fi
          done
          if [ "$(id -u)" -ne 0 ]; then skip "needs root (it creates network namespaces)"; fi
          trap cleanup EXIT
          trap 'exit 130' INT
          trap 'exit 143' TERM
          trap 'exit 129' HUP
          work=$(mktemp -d) || skip "cannot make a temporary directory"
          write_files
          : >"$work/log"
        }

        # add_ns NAME REAL: the scenario's 'ip netns add NAME' (- for the initial namespace) as the namespace REAL.
        add_ns() {
          namespaces+=("$2")
          if ! ip netns add "$2" 2>>"$work/log"; then
            if [ "$1" = - ]; then skip "cannot create a network namespace"; fi
            fail "cannot create the namespace $2 for '$1'"
          fi
          if [ "$1" = - ]; then
            coproc CTX { exec python3 "$work/helper.py" "$connect_timeout_ms" 2>>"$work/log"; }
            helper_pid=$CTX_PID
          fi
          helper netns "$1" "$2"
        }

        # step LINE TEXT: announces a scenario line; false once the kernel stopped (an end the line uses is closed).
        step() {
          if [ "$stopped" -ne 0 ]; then return 1; fi
          say "[$1] $2"
          printf '[%s] %s\n' "$1" "$2" >>"$work/log"
        }

        # tool LINE COMMAND...: a command the model accepted; the kernel refusing it is a disagreement.
        tool() {
          local line=$1 out
          shift
          if ! out=$("$@" 2>&1); then fail "line $line: the kernel refused '$*': $out"; fi
          printf '    %s: %s\n' "$*" "$out" >>"$work/log"
        }

        # ct_delete LINE NETNS FILTER...: conntrack -D exits 1 when it deleted nothing (conntrack-tools 1.4.7).
        ct_delete() {
          local line=$1 ns=$2 out
          shift 2
          out=$(ip netns exec "$ns" conntrack -D "$@" 2>&1)
          case $out in
            *"flow entries have been deleted"*) printf '    conntrack -D %s: %s\n' "$*" "$out" >>"$work/log" ;;
            *) fail "line $line: the kernel refused 'conntrack -D $*': $out" ;;
          esac
        }

        # helper COMMAND...: one request to the socket helper, one reply.
        helper() {
          local reply
          printf '%s\n' "$*" >&"${CTX[1]}"
          if ! IFS= read -r reply <&"${CTX[0]}"; then fail "the socket helper died"; fi
          case $reply in
            ok) ;;
            stop\ *) stopped=1 ;;
            *) fail "socket helper: $reply" ;;
          esac
        }

        finish() {
          local reply
          printf 'finish %s %s\n' "$work/expected.json" "$settle_ms" >&"${CTX[1]}"
          if ! IFS= read -r reply <&"${CTX[0]}"; then fail "the socket helper died"; fi
          case $reply in
            "differences 0")
              say "PASS: the kernel did what the model predicts"
              exit "$ksft_pass" ;;
            "differences 0 "*)
              say "PASS: the kernel did what the model predicts, but ${reply#differences 0 }"
              exit "$ksft_pass" ;;
            differences\ *)
              say "FAIL: the kernel did not do what the model predicts (${reply#differences } differences):"
              cat "$work/differences"
              show_log
              exit "$ksft_fail" ;;
            *) fail "socket helper: $reply" ;;
          esac
        }

        """;
}
