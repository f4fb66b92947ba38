using System.Collections.Immutable;
using ConntrackModel.Cli.Commands;

namespace ConntrackModel.Cli.CommandLine;

/// <summary>One option of a command: its name, the name of its value (null for a flag) and what it does.</summary>
public sealed record OptionSpec(string Name, string? ValueName, string Description)
{
    public bool IsFlag => ValueName is null;
}

/// <summary>
/// A command as the command line knows it: the one definition of its name, arguments and options, from which
/// <see cref="CliParser"/> builds the parser, the help text and the completions, and what runs it.
/// </summary>
public sealed record CommandSpec(
    string Name,
    string Summary,
    string? ArgumentName,
    string Description,
    ImmutableArray<OptionSpec> Options,
    Func<Options, TextWriter, TextWriter, ExitCode> Run);
