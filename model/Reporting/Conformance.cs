using System.Collections.Immutable;
using System.Globalization;
using ConntrackModel.Model.Addressing;
using ConntrackModel.Model.Choices;
using ConntrackModel.Model.Kernel;
using ConntrackModel.Model.Scenarios;

namespace ConntrackModel.Model.Reporting;

/// <summary>
/// Model versus kernel. <see cref="Guided(Scenario, Observation, ChoiceSource)"/> first lets the kernel's own decisions (ephemeral ports, the NAT port
/// a range gave) answer the model's choice points, so the comparison asks "is what the kernel did one of the
/// model's possible runs?" rather than "did both draw the same random numbers?". <see cref="Compare"/> then goes
/// field by field: connect result, local address, the kernel's wire address among the model's, each end's state
/// and pending error, the labels delivered and received, the conntrack table as a set, and the insert_failed and
/// drop counters as zero versus non-zero (their exact values depend on retransmissions the model times exactly).
/// </summary>
public static class Conformance
{
    /// <summary>How many times <see cref="Guided(Scenario, Observation, ChoiceSource)"/> re-runs the model to follow choices that depend on earlier ones.</summary>
    public const int GuideRounds = 6;

    public static ImmutableArray<Difference> Compare(Observation model, Observation kernel)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(kernel);
        var d = ImmutableArray.CreateBuilder<Difference>();
        var names = model.Connections.Select(c => c.Name).Union(kernel.Connections.Select(c => c.Name)).ToList();
        foreach (var name in names)
        {
            var m = model.Connections.FirstOrDefault(c => c.Name == name);
            var k = kernel.Connections.FirstOrDefault(c => c.Name == name);
            if (m is null || k is null)
            {
                d.Add(new Difference($"{name}", m is null ? "no such connection" : "present", k is null ? "no such connection" : "present"));
                continue;
            }
            Field(d, $"{name}.connect", m.Connect, k.Connect);
            Field(d, $"{name}.local", m.Local, k.Local);
            var kw = k.Wire.IsEmpty ? "nothing" : k.Wire[0];
            var mw = m.Wire.IsEmpty ? "nothing" : string.Join(" or ", m.Wire);
            // The model's wire is every address its explored runs gave the server; the kernel's is the one address of its
            // run. A kernel run whose server accepted nothing is judged by the connect and server fields: other orders
            // and NAT outcomes of the same scenario may well connect.
            if (!k.Wire.IsEmpty && !k.Wire.Any(w => WireContains(m.Wire, w)))
                d.Add(new Difference($"{name}.wire", mw, kw));
            Field(d, $"{name}.client", EndObservation.Text(m.Client), EndObservation.Text(k.Client));
            Field(d, $"{name}.server", EndObservation.Text(m.Server), EndObservation.Text(k.Server));
            Field(d, $"{name}.delivered", List(m.Delivered), List(k.Delivered));
            Field(d, $"{name}.received", List(m.Received), List(k.Received));
        }
        var mt = model.Conntrack.Select(e => e.Text).ToHashSet(StringComparer.Ordinal);
        var kt = kernel.Conntrack.Select(e => e.Text).ToHashSet(StringComparer.Ordinal);
        foreach (var e in mt.Except(kt).Order(StringComparer.Ordinal)) d.Add(new Difference("conntrack", e, "(no such entry)"));
        foreach (var e in kt.Except(mt).Order(StringComparer.Ordinal)) d.Add(new Difference("conntrack", "(no such entry)", e));
        Field(d, "insert_failed", ZeroOrNot(model.InsertFailed), ZeroOrNot(kernel.InsertFailed));
        Field(d, "drop", ZeroOrNot(model.Drop), ZeroOrNot(kernel.Drop));
        return d.ToImmutable();
    }

    private static void Field(ImmutableArray<Difference>.Builder d, string field, string model, string kernel)
    {
        if (model != kernel) d.Add(new Difference(field, model, kernel));
    }


    private static string List(ImmutableArray<string> labels) => "[" + string.Join(", ", labels) + "]";


    private static string ZeroOrNot(long n) => n == 0 ? "0" : "non-zero";

    /// <summary>Is <paramref name="address"/> one of <paramref name="wire"/> (entries IP:PORT or IP:LOW-HIGH)?</summary>
    public static bool WireContains(IEnumerable<string> wire, string address)
    {
        ArgumentNullException.ThrowIfNull(wire);
        if (!SockAddr.TryParse(address, out var a)) return false;
        foreach (var w in wire)
        {
            if (w == address) return true;
            var colon = w.LastIndexOf(':');
            var dash = colon < 0 ? -1 : w.IndexOf('-', colon);
            if (dash < 0 || !IPv4Address.TryParse(w[..colon], out var ip) || ip != a.Ip) continue;
            if (int.TryParse(w[(colon + 1)..dash], NumberStyles.None, CultureInfo.InvariantCulture, out var lo) &&
                int.TryParse(w[(dash + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out var hi) && a.Port >= lo && a.Port <= hi)
                return true;
        }
        return false;
    }

    /// <summary>
    /// The scenario with the kernel's decisions pinned as choices: each unbound connect's ephemeral port (as an
    /// offset from ip_local_port_range's low end at that step), and the NAT source-port outcome of each connection's
    /// last SYN, which produced the address the server saw (or the kernel's entry for it, <see cref="NatSource"/>). Re-runs the model until no more choices can be matched.
    /// The scenario's own pins are dropped first: they choose one of the paths the kernel may take, and the kernel,
    /// drawing its own ports, need not take it (a counterexample from check pins the colliding NAT port; the kernel
    /// usually picks another). The comparison is with the path the kernel took, so the scenarios check writes
    /// conform too.
    /// </summary>
    public static Scenario Guided(Scenario scenario, Observation kernel, ChoiceSource fallback) =>
        Guided(scenario, kernel, fallback, ImmutableSortedDictionary.Create<string, int>(StringComparer.Ordinal));

    /// <summary>
    /// <see cref="Guided(Scenario, Observation, ChoiceSource)"/> starting from <paramref name="tried"/>: the pins
    /// <see cref="Explain"/> is trying (an order, a NAT outcome the kernel's observation does not name), which the
    /// kernel's own decisions are added to; where both name the same choice, the search's pin stays.
    /// </summary>
    private static Scenario Guided(Scenario scenario, Observation kernel, ChoiceSource fallback, ImmutableSortedDictionary<string, int> tried)
    {
        ArgumentNullException.ThrowIfNull(scenario);
        ArgumentNullException.ThrowIfNull(kernel);
        ArgumentNullException.ThrowIfNull(fallback);
        var pins = tried;
        for (var round = 0; round < GuideRounds; round++)
        {
            var trace = Simulation.Trace(scenario with { Choices = pins }, fallback, World.Initial).TakeWhile(t => t.Rejected is null).ToList();
            // The address the server saw comes from the last SYN's mapping: only that NAT decision is pinned; earlier
            // ones (a SYN that collided and was reset, then re-sent) stay open for Explain.
            var lastNat = trace.SelectMany(t => t.Step.Events.OfType<KernelEvent.Choice>())
                .Where(c => c.Made.Point.Kind is ChoiceKind.NatPortOutcome or ChoiceKind.NatPortOffset && c.Made.Point.Key.StartsWith("nat:src:", StringComparison.Ordinal))
                .GroupBy(c => c.Owner).ToDictionary(g => g.Key, g => g.Last().Made.Point.Key, StringComparer.Ordinal);
            // A connect whose deadline met its own SYN retransmission offers one more outcome, always the last: the wait
            // runs out as the answer comes (LinuxKernel's FirstDue). The last such decision of a connection is at its deadline.
            var lastRace = trace.SelectMany(t => t.Step.Events.OfType<KernelEvent.Choice>())
                .Where(IsAnswerMissedRace)
                .GroupBy(c => c.Owner).ToDictionary(g => g.Key, g => g.Last().Made.Point.Key, StringComparer.Ordinal);
            var added = pins;
            var before = World.Initial;
            foreach (var (step, after, _) in trace)
            {
                foreach (var ev in step.Events.OfType<KernelEvent.Choice>())
                {
                    var key = ev.Made.Point.Key;
                    // What the search is trying stays as it set it (see Explain).
                    if (tried.ContainsKey(key)) continue;
                    var conn = kernel.Connections.FirstOrDefault(c => c.Name == Packets.Segment.ConnectionOf(ev.Owner));
                    if (conn is null) continue;
                    if (ev.Made.Point.Kind == ChoiceKind.EphemeralPort && SockAddr.TryParse(conn.Local, out var local))
                    {
                        // The range is the one in force when the connect ran.
                        var low = before.Sysctls.LocalPortLow;
                        if (local.Port >= low && local.Port - low < ev.Made.Point.Arity) added = added.SetItem(key, local.Port - low);
                    }
                    else if (key == lastRace.GetValueOrDefault(ev.Owner) && conn.Connect == "timeout" && HandshakeCompleted(kernel, conn))
                    {
                        // The kernel's connect timed out, yet its entry saw the handshake complete (ASSURED): the SYN
                        // went first and the wait ran out as the answer came.
                        added = added.SetItem(key, ev.Made.Point.Arity - 1);
                    }
                    else if (ev.Made.Point.Kind == ChoiceKind.Statistic && ev.Made.Point.Arity == 2 && !pins.ContainsKey(key) &&
                             DnatTarget(kernel.Conntrack.Select(e => (e.Orig, e.Reply)), conn.Local) is { } want &&
                             DnatTarget(trace[^1].After.Conntrack.All.Select(e => (e.Orig.ToString(), e.Reply.ToString())), conn.Local) is { } got && want != got)
                    {
                        // A statistic draw led the model's connection to another endpoint than the kernel's (its entry's
                        // reply source): the other outcome, once; the next round sees whether a later draw must follow.
                        added = added.SetItem(key, 1 - ev.Made.Value);
                    }
                    else if (key == lastNat.GetValueOrDefault(ev.Owner) && NatSource(kernel, conn) is { } wire && ev.Made.ValueFor(wire) is { } v)
                    {
                        // Re-pinned every round: an earlier connection's pin can change this one's list of outcomes.
                        added = added.SetItem(key, v);
                    }
                }
                before = after;
            }
            if (added.Count == pins.Count && added.All(kv => pins.TryGetValue(kv.Key, out var v) && v == kv.Value)) break;
            pins = added;
        }
        return scenario with { Choices = pins };
    }

    /// <summary>
    /// The source address a connection's last SYN (a UDP flow: its last new source) was NATed to on the kernel: the address its server saw, or, when the
    /// server accepted nothing, the reply destination of the kernel's entry for the connection's own local address.
    /// </summary>
    private static SockAddr? NatSource(Observation kernel, ConnectionObservation conn)
    {
        // A UDP flow's server lists every source it saw, in order: the last NAT decision made the last one.
        if (!conn.Wire.IsEmpty) return SockAddr.TryParse(conn.Connect == "connected" ? conn.Wire[^1] : conn.Wire[0], out var w) ? w : null;
        var entry = kernel.Conntrack.FirstOrDefault(e => e.Orig.StartsWith(conn.Local + "->", StringComparison.Ordinal));
        if (entry is null) return null;
        var arrow = entry.Reply.IndexOf("->", StringComparison.Ordinal);
        return arrow > 0 && SockAddr.TryParse(entry.Reply[(arrow + 2)..], out var dst) ? dst : null;
    }

    /// <summary>The reply source (a DNAT's endpoint) of the entry whose original tuple starts at <paramref name="local"/>, among <paramref name="entries"/> (tuples as "a:p->b:p").</summary>
    private static string? DnatTarget(IEnumerable<(string Orig, string Reply)> entries, string local)
    {
        foreach (var (orig, reply) in entries)
        {
            if (!orig.StartsWith(local + "->", StringComparison.Ordinal)) continue;
            var arrow = reply.IndexOf("->", StringComparison.Ordinal);
            return arrow > 0 ? reply[..arrow] : null;
        }
        return null;
    }

    /// <summary>An order decision at a connect's deadline whose last outcome is "the SYN goes, the wait runs out before the answer".</summary>
    private static bool IsAnswerMissedRace(KernelEvent.Choice c) =>
        c.Made.Point.Kind == ChoiceKind.Order && c.Made.Alternatives.Length > 0 &&
        c.Made.Alternatives[^1].EndsWith(LinuxKernel.AnswerMissedSuffix, StringComparison.Ordinal);

    /// <summary>Did the kernel's entry for the connection's own local address see a handshake complete (ASSURED)?</summary>
    private static bool HandshakeCompleted(Observation kernel, ConnectionObservation conn) =>
        kernel.Conntrack.Any(e => e.Assured && e.Orig.StartsWith(conn.Local + "->", StringComparison.Ordinal));

    /// <summary>What the model observes for a scenario: the run with <paramref name="fallback"/> plus every wire address.</summary>
    public static Observation Observe(Scenario scenario, ChoiceSource fallback)
    {
        ArgumentNullException.ThrowIfNull(scenario);
        var sim = Simulation.Run(scenario, fallback);
        return Observation.Of(sim, WireExploration.Explore(scenario, fallback).Wire);
    }

    /// <summary>
    /// The model run that best explains the kernel's: <see cref="Guided(Scenario, Observation, ChoiceSource)"/>
    /// first; if that still differs, the remaining small choices the runs make (an order of things due together, an
    /// ISN order, an earlier NAT outcome) are searched breadth first, each candidate guided again, until a run agrees or
    /// <paramref name="budget"/> candidates have been tried (each is up to <see cref="GuideRounds"/> guiding runs, one
    /// run and its wire exploration); the run with the fewest differences is kept. A candidate
    /// may change any decision its run left open, the last first; a set of pins is run once. A search and not a greedy walk: the kernel's path often
    /// differs in several decisions at once (a NAT port, then which of two timers fired first), and one change alone
    /// need not bring it closer. <paramref name="kernelStoppedAt"/> is the line where the kernel run stopped on a
    /// failed precondition; the model must stop at the same line (both observe what happened before it).
    /// </summary>
    public static (Scenario Scenario, Observation Model, ImmutableArray<Difference> Differences) Explain(Scenario scenario, Observation kernel, int? kernelStoppedAt, ChoiceSource fallback, int budget = 96)
    {
        ArgumentNullException.ThrowIfNull(scenario);
        ArgumentNullException.ThrowIfNull(kernel);
        ImmutableArray<Difference> Diff(Scenario s, Observation o, Simulation sim)
        {
            var d = Compare(o, kernel);
            var m = sim.RejectedLine?.Line;
            return m == kernelStoppedAt ? d : d.Add(new Difference("stopped",
                m is null ? "ran every line" : $"line {m}: {sim.Rejected}",
                kernelStoppedAt is null ? "ran every line" : $"line {kernelStoppedAt}: the end was already closed"));
        }
        (Scenario Scenario, Observation Model, ImmutableArray<Difference> Differences)? best = null;
        var queue = new Queue<ImmutableSortedDictionary<string, int>>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        queue.Enqueue(ImmutableSortedDictionary.Create<string, int>(StringComparer.Ordinal));
        var runs = 0;
        while (queue.Count > 0 && runs < budget && best is not { Differences.IsEmpty: true })
        {
            var tried = queue.Dequeue();
            if (!seen.Add(string.Join(";", tried.Select(kv => kv.Key + "=" + kv.Value)))) continue;
            runs++;
            var candidate = Guided(scenario, kernel, fallback, tried);
            var sim = Simulation.Run(candidate, fallback);
            var obs = Observation.Of(sim, WireExploration.Explore(candidate, fallback).Wire);
            var diff = Diff(candidate, obs, sim);
            if (best is null || diff.Length < best.Value.Differences.Length) best = (candidate, obs, diff);
            // Guidance's own pins are open to the search too: a NAT decision pinned because it was a connection's last
            // may, changed, make the SYN collide and a later decision the last (which guidance then pins instead).
            var open = sim.Events.OfType<KernelEvent.Choice>()
                .Where(c => !tried.ContainsKey(c.Made.Point.Key) && c.Made.Point.Arity is > 1 and <= MaxExplainedArity)
                .Select(c => c.Made).DistinctBy(m => m.Point.Key).ToList();
            // Breadth first: every run with one decision changed before any with two. Within a level the last
            // decision first: the end of a run is where the kernel's observation is taken, and early decisions (a
            // SYN's NAT port before it clashed and was dropped) often change nothing it shows. Every open decision
            // of the candidate's run, earlier ones too: changing one (an order) can free another that guidance had
            // pinned in the parent (the last NAT decision moves).
            for (var i = open.Count - 1; i >= 0; i--)
            {
                for (var v = 0; v < open[i].Point.Arity; v++)
                {
                    if (v != open[i].Value) queue.Enqueue(tried.SetItem(open[i].Point.Key, v));
                }
            }
            // A port search over a large range (a random u16 start) is too wide to walk, but the starts that matter are
            // few: those whose first port is one a connection of the run holds (a SYN that collided by chance on the
            // kernel, then re-sent from another port, leaves only the collision's reset to show for it).
            var held = sim.Final.Connections.Select(c => c.Local.Port).Concat(sim.Final.Sockets.Ends.Select(e => e.Remote.Port)).ToHashSet();
            foreach (var m in sim.Events.OfType<KernelEvent.Choice>().Select(c => c.Made)
                         .Where(m => m.Point.Kind == ChoiceKind.NatPortOffset && m.Point.PortCount > 0 && !tried.ContainsKey(m.Point.Key)).DistinctBy(m => m.Point.Key))
            {
                foreach (var port in held.Order())
                {
                    var v = port - m.Point.PortLow;
                    if (v >= 0 && v < m.Point.PortCount && v != m.Value) queue.Enqueue(tried.SetItem(m.Point.Key, v));
                }
            }
        }
        return best!.Value;
    }

    /// <summary>Choices with more alternatives than this are not explored by <see cref="Explain"/> (they are pinned or irrelevant).</summary>
    public const int MaxExplainedArity = 4;
}
