using System.Collections.Immutable;
using System.Globalization;
using ConntrackModel.Model.Addressing;
using ConntrackModel.Model.Choices;
using ConntrackModel.Model.Kernel;
using ConntrackModel.Model.Scenarios;

namespace ConntrackModel.Model.Reporting;

/// <summary>
/// Model versus kernel. <see cref="Guided"/> first lets the kernel's own decisions (ephemeral ports, the NAT port
/// a range gave) answer the model's choice points, so the comparison asks "is what the kernel did one of the
/// model's possible runs?" rather than "did both draw the same random numbers?". <see cref="Compare"/> then goes
/// field by field: connect result, local address, the kernel's wire address among the model's, each end's state
/// and pending error, the labels delivered and received, the conntrack table as a set, and the insert_failed and
/// drop counters as zero versus non-zero (their exact values depend on retransmissions the model times exactly).
/// </summary>
public static class Conformance
{
    /// <summary>How many times <see cref="Guided"/> re-runs the model to follow choices that depend on earlier ones.</summary>
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
            if (k.Wire.IsEmpty != m.Wire.IsEmpty || (!k.Wire.IsEmpty && !k.Wire.Any(w => WireContains(m.Wire, w))))
                d.Add(new Difference($"{name}.wire", mw, kw));
            Field(d, $"{name}.client", End(m.Client), End(k.Client));
            Field(d, $"{name}.server", End(m.Server), End(k.Server));
            Field(d, $"{name}.delivered", List(m.Delivered), List(k.Delivered));
            Field(d, $"{name}.received", List(m.Received), List(k.Received));
        }
        var mt = model.Conntrack.Select(Entry).ToHashSet(StringComparer.Ordinal);
        var kt = kernel.Conntrack.Select(Entry).ToHashSet(StringComparer.Ordinal);
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

    private static string End(EndObservation? e) => e is null ? "(never accepted)" : e.Error is null ? e.State : $"{e.State} ({e.Error})";

    private static string List(ImmutableArray<string> labels) => "[" + string.Join(", ", labels) + "]";

    private static string Entry(CtObservation e) => $"{e.Proto} {e.State} {e.Orig} | {e.Reply}{(e.Assured ? " [ASSURED]" : "")}";

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
    /// last SYN, which produced the address the server saw. Re-runs the model until no more choices can be matched.
    /// The scenario's own pins are dropped first: they choose one of the paths the kernel may take, and the kernel,
    /// drawing its own ports, need not take it (a counterexample from check pins the colliding NAT port; the kernel
    /// usually picks another). The comparison is with the path the kernel took, so the scenarios check writes
    /// conform too.
    /// </summary>
    public static Scenario Guided(Scenario scenario, Observation kernel, ChoiceSource fallback)
    {
        ArgumentNullException.ThrowIfNull(scenario);
        ArgumentNullException.ThrowIfNull(kernel);
        ArgumentNullException.ThrowIfNull(fallback);
        var pins = ImmutableSortedDictionary.Create<string, int>(StringComparer.Ordinal);
        for (var round = 0; round < GuideRounds; round++)
        {
            var trace = Simulation.Trace(scenario with { Choices = pins }, fallback, World.Initial).TakeWhile(t => t.Rejected is null).ToList();
            // The address the server saw comes from the last SYN's mapping: only that NAT decision is pinned; earlier
            // ones (a SYN that collided and was reset, then re-sent) stay open for Explain.
            var lastNat = trace.SelectMany(t => t.Step.Events.OfType<KernelEvent.Choice>())
                .Where(c => c.Made.Point.Kind is ChoiceKind.NatPortOutcome or ChoiceKind.NatPortOffset && c.Made.Point.Key.StartsWith("nat:src:", StringComparison.Ordinal))
                .GroupBy(c => c.Owner).ToDictionary(g => g.Key, g => g.Last().Made.Point.Key, StringComparer.Ordinal);
            var added = pins;
            var before = World.Initial;
            foreach (var (step, after, _) in trace)
            {
                foreach (var ev in step.Events.OfType<KernelEvent.Choice>())
                {
                    var key = ev.Made.Point.Key;
                    var conn = kernel.Connections.FirstOrDefault(c => c.Name == Packets.Segment.ConnectionOf(ev.Owner));
                    if (conn is null) continue;
                    if (ev.Made.Point.Kind == ChoiceKind.EphemeralPort && SockAddr.TryParse(conn.Local, out var local))
                    {
                        // The range is the one in force when the connect ran.
                        var low = before.Sysctls.LocalPortLow;
                        if (local.Port >= low && local.Port - low < ev.Made.Point.Arity) added = added.SetItem(key, local.Port - low);
                    }
                    else if (key == lastNat.GetValueOrDefault(ev.Owner) && !conn.Wire.IsEmpty && SockAddr.TryParse(conn.Wire[0], out var wire) &&
                             ev.Made.ValueFor(wire) is { } v)
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

    /// <summary>What the model observes for a scenario: the run with <paramref name="fallback"/> plus every wire address.</summary>
    public static Observation Observe(Scenario scenario, ChoiceSource fallback)
    {
        ArgumentNullException.ThrowIfNull(scenario);
        var sim = Simulation.Run(scenario, fallback);
        return Observation.Of(sim, WireExploration.Explore(scenario, fallback).Wire);
    }

    /// <summary>
    /// The model run that best explains the kernel's: <see cref="Guided"/> first; if that still differs, the
    /// remaining small choices the run made (an ISN order, a later NAT outcome) are tried one at a time, greedily
    /// keeping the run with the fewest differences, up to <paramref name="budget"/> model runs.
    /// <paramref name="kernelStoppedAt"/> is the line where the kernel run stopped on a failed precondition; the
    /// model must stop at the same line (both observe what happened before it).
    /// </summary>
    public static (Scenario Scenario, Observation Model, ImmutableArray<Difference> Differences) Explain(Scenario scenario, Observation kernel, int? kernelStoppedAt, ChoiceSource fallback, int budget = 48)
    {
        ArgumentNullException.ThrowIfNull(scenario);
        ArgumentNullException.ThrowIfNull(kernel);
        ImmutableArray<Difference> Diff(Scenario s, Observation o)
        {
            var d = Compare(o, kernel);
            var sim = Simulation.Run(s, fallback);
            var m = sim.RejectedLine?.Line;
            return m == kernelStoppedAt ? d : d.Add(new Difference("stopped",
                m is null ? "ran every line" : $"line {m}: {sim.Rejected}",
                kernelStoppedAt is null ? "ran every line" : $"line {kernelStoppedAt}: the end was already closed"));
        }
        var best = Guided(scenario, kernel, fallback);
        var bestObs = Observe(best, fallback);
        var bestDiff = Diff(best, bestObs);
        var runs = 0;
        var improved = true;
        while (!bestDiff.IsEmpty && improved && runs < budget)
        {
            improved = false;
            var open = Simulation.Run(best, fallback).Events.OfType<KernelEvent.Choice>()
                .Where(c => !best.Choices.ContainsKey(c.Made.Point.Key) && c.Made.Point.Arity is > 1 and <= MaxExplainedArity)
                .Select(c => c.Made).DistinctBy(m => m.Point.Key).ToList();
            foreach (var made in open)
            {
                for (var v = 0; v < made.Point.Arity && runs < budget; v++)
                {
                    if (v == made.Value) continue;
                    runs++;
                    var candidate = Guided(best with { Choices = best.Choices.SetItem(made.Point.Key, v) }, kernel, fallback);
                    var obs = Observe(candidate, fallback);
                    var diff = Diff(candidate, obs);
                    if (diff.Length >= bestDiff.Length) continue;
                    (best, bestObs, bestDiff, improved) = (candidate, obs, diff, true);
                    break;
                }
                if (improved) break;
            }
        }
        return (best, bestObs, bestDiff);
    }

    /// <summary>Choices with more alternatives than this are not explored by <see cref="Explain"/> (they are pinned or irrelevant).</summary>
    public const int MaxExplainedArity = 4;
}
