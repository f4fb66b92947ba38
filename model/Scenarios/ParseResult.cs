using System.Collections.Immutable;

namespace ConntrackModel.Model.Scenarios;

/// <summary>Either a scenario or the errors that prevent reading one (every bad line is reported, not only the first).</summary>
public sealed record ParseResult(Scenario? Scenario, ImmutableList<ParseError> Errors)
{
    public bool Ok => Scenario is not null && Errors.IsEmpty;
}
