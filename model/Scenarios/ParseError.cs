using System.Globalization;

namespace ConntrackModel.Model.Scenarios;

/// <summary>A scenario that cannot be read: where (1-based line and column) and what was expected there.</summary>
public sealed record ParseError(string File, int Line, int Column, string Message)
{
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{File}:{Line}:{Column}: {Message}");
}
