using System.Collections.Immutable;

namespace ConntrackModel.Model.Scenarios;

/// <summary>A parsed scenario script: its name (file path) and commands in order.</summary>
public sealed record Scenario(string Name, ImmutableList<ScenarioLine> Lines)
{
    public static Scenario Of(string name, params Command[] commands) =>
        new(name, commands.Select((c, i) => new ScenarioLine(i + 1, c.ToScript(), c)).ToImmutableList());

    /// <summary>The scenario as a script, one command a line.</summary>
    public string ToScript() => string.Concat(Lines.Select(l => l.Command.ToScript() + "\n"));

    public bool Equals(Scenario? other) => other is not null && Name == other.Name && Lines.SequenceEqual(other.Lines);

    public override int GetHashCode() => HashCode.Combine(Name, Lines.Count);
}
