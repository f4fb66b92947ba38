using System.Collections.Immutable;
using System.CommandLine;
using System.CommandLine.Parsing;
using System.Reflection;
using System.Text;
using ConntrackModel.Cli.Commands;
using Spelling = ConntrackModel.Model.Scenarios.Spelling;

namespace ConntrackModel.Cli.CommandLine;

/// <summary>
/// The command line, built with System.CommandLine from the commands' <see cref="CommandSpec"/>s: subcommand help
/// (<c>--help</c>, <c>-h</c>, <c>help COMMAND</c>), <c>--version</c>, <c>--opt=value</c>, the <c>[suggest]</c>
/// directive for shell completion, and errors that say what was meant. The exit codes stay ctmodel's own:
/// 0/1 from the command, 2 for a bad command line, 3 for an internal error.
/// </summary>
public static class CliParser
{
    /// <summary>Every command, in the order help lists them.</summary>
    public static ImmutableArray<CommandSpec> Commands { get; } =
    [
        SimulateCommand.Spec, CheckCommand.Spec, Z3Commands.ProveSpec, AdviseCommand.Spec, ReplayCommand.Spec, ConformCommand.Spec,
        ExportCommand.Spec, DocsCommand.Spec, BenchCommand.Spec,
    ];

    private const string General = """
        ctmodel - a formal model of Linux conntrack and NAT

        Exit codes: 0 no violation (or agreement), 1 a violation (or a disagreement), 2 bad input, 3 internal error.
        replay and conform need Linux, root, ip, iptables, conntrack and sysctl (tcpdump for --pcap); each run uses
        a network namespace ctmodel-PID-N that is deleted afterwards. Add --verbose to any command to see the stack
        trace of an internal error. Run 'ctmodel COMMAND --help' for a command's options.
        """;

    /// <summary>The overview <c>ctmodel</c>, <c>ctmodel help</c> and <c>ctmodel --help</c> print.</summary>
    public static string Overview()
    {
        var sb = new StringBuilder();
        sb.AppendLine(General.Split('\n')[0]);
        sb.AppendLine();
        sb.AppendLine("usage:");
        var width = Commands.Max(c => Synopsis(c).Length) + 2;
        foreach (var c in Commands) sb.Append("  ").Append(Synopsis(c).PadRight(width)).AppendLine(c.Summary);
        sb.Append("  ").Append("ctmodel help [COMMAND]".PadRight(width)).AppendLine("this text, or a command's options");
        sb.Append("  ").Append("ctmodel --version".PadRight(width)).AppendLine("the version");
        sb.AppendLine();
        sb.Append(string.Join('\n', General.Split('\n').Skip(2)));
        return sb.ToString();
    }

    private static string Synopsis(CommandSpec c) => $"ctmodel {c.Name}{(c.ArgumentName is null ? "" : " " + c.ArgumentName)} [options]";

    /// <summary>What a command line asks for: a command with its options, something System.CommandLine answers itself (help, version, completion), or an error.</summary>
    public abstract record Request
    {
        public sealed record Run(CommandSpec Spec, Options Options) : Request;

        public sealed record BuiltIn(ParseResult Result) : Request;

        public sealed record Overview : Request;

        public sealed record Version : Request;

        public sealed record Error(string Message, string? Command) : Request;
    }

    /// <summary>Reads a command line.</summary>
    public static Request Read(IReadOnlyList<string> args)
    {
        ArgumentNullException.ThrowIfNull(args);
        if (args.Count == 0 || args is ["help"] or ["--help"] or ["-h"] or ["-?"]) return new Request.Overview();
        if (args is ["--version"]) return new Request.Version();
        if (args[0] == "help")
        {
            if (args.Count > 2) return new Request.Error($"help: unexpected argument '{args[2]}'", null);
            if (Commands.All(c => c.Name != args[1]))
                return new Request.Error($"unknown command '{args[1]}'{Suggest(args[1], Commands.Select(c => c.Name))}", null);
            args = [args[1], "--help"];
        }
        var (root, commands) = Build();
        var result = root.Parse(args);
        var command = result.CommandResult.Command;
        var spec = commands.GetValueOrDefault(command);
        if (result.Errors.Count > 0) return new Request.Error(Describe(result, spec), spec?.Name);
        if (result.Action is not null) return new Request.BuiltIn(result);
        if (spec is null) return new Request.Overview();
        var given = new List<(string, string?)>();
        foreach (var option in command.Options)
        {
            if (option.Name == "--verbose" || result.GetResult(option) is not { Implicit: false } r) continue;
            given.Add((option.Name, r.Tokens.Count > 0 ? r.Tokens[^1].Value : null));
        }
        var positionals = command.Arguments.Count > 0 ? result.GetValue((Argument<string[]>)command.Arguments[0]) ?? [] : [];
        return new Request.Run(spec, Options.From(given, positionals));
    }

    private static (RootCommand Root, Dictionary<Command, CommandSpec> Commands) Build()
    {
        var root = new RootCommand(General);
        var verbose = new Option<bool>("--verbose") { Description = "show the stack trace of an internal error", Recursive = true };
        root.Add(verbose);
        var map = new Dictionary<Command, CommandSpec>();
        foreach (var spec in Commands)
        {
            var command = new Command(spec.Name, spec.Description);
            if (spec.ArgumentName is { } argName)
            {
                var argument = new Argument<string[]>(argName) { Arity = ArgumentArity.ZeroOrMore };
                // An unknown option would otherwise be taken for a file name.
                argument.Validators.Add(r =>
                {
                    foreach (var t in r.Tokens)
                    {
                        if (t.Value.Length > 1 && t.Value[0] == '-') r.AddError(Unknown(spec, t.Value));
                    }
                });
                command.Add(argument);
            }
            foreach (var o in spec.Options)
            {
                // A flag takes no value: System.CommandLine's bool options would read "--json false" as given.
                Option option = o.IsFlag
                    ? new Option<bool>(o.Name) { Description = o.Description, Arity = ArgumentArity.Zero }
                    : new Option<string>(o.Name) { Description = o.Description, HelpName = o.ValueName };
                command.Add(option);
            }
            root.Add(command);
            map[command] = spec;
        }
        return (root, map);
    }

    /// <summary>The first error, in ctmodel's words, with the name most likely meant.</summary>
    private static string Describe(ParseResult result, CommandSpec? spec)
    {
        var prefix = spec is null ? "" : spec.Name + ": ";
        foreach (var token in result.UnmatchedTokens)
        {
            if (token.Length > 1 && token[0] == '-') return prefix + Unknown(spec, token);
            if (spec is null) return $"unknown command '{token}'{Suggest(token, Commands.Select(c => c.Name))}";
            return $"{prefix}unexpected argument '{token}'";
        }
        var e = result.Errors[0];
        if (e.SymbolResult is OptionResult { Tokens.Count: 0 } missing) return $"{prefix}option {missing.Option.Name} needs a value";
        return prefix + e.Message.TrimEnd('.');
    }

    private static string Unknown(CommandSpec? spec, string token)
    {
        var name = token.Split('=', ':')[0];
        var known = (spec?.Options.Select(o => o.Name) ?? []).Concat(["--verbose", "--help"]);
        if (spec is null) known = known.Append("--version");
        return $"unknown option '{token}'{Suggest(name, known)}";
    }

    /// <summary>"; did you mean 'X'?" for the closest known name, if one is close enough to be a typo.</summary>
    private static string Suggest(string given, IEnumerable<string> known) =>
        Spelling.Closest(given, known, name => Math.Max(1, name.Length / 3)) is { } meant ? $"; did you mean '{meant}'?" : "";

    /// <summary>The informational version <c>--version</c> prints (ctmodel's, not the host's: in-process that is a test runner).</summary>
    public static string VersionText =>
        typeof(CliParser).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "unknown";
}
