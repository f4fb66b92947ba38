using System.Collections.Immutable;
using ConntrackModel.Model.Addressing;
using ConntrackModel.Model.Choices;

namespace ConntrackModel.Model.Nat;

/// <summary>
/// What <c>get_unique_tuple</c> chose: the new original-direction tuple, an entry that
/// <c>nf_nat_used_tuple_harder</c> evicted to make room (or null), and the choices it took.
/// </summary>
public readonly record struct NatOutcome(ConnTuple Tuple, long? Evicted, ImmutableList<ChoiceMade> Choices);
