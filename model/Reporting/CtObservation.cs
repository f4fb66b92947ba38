namespace ConntrackModel.Model.Reporting;

/// <summary>
/// A <c>conntrack -L</c> line: protocol, TCP state (null for UDP, which conntrack prints none for), both tuples as <c>SRC->DST</c>, ASSURED, and the namespace whose
/// table holds it (its name; null for the scenario's initial namespace).
/// </summary>
public sealed record CtObservation(string Proto, string? State, string Orig, string Reply, bool Assured, string? Netns = null);
