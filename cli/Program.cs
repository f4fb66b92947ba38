using System.Globalization;
using System.CommandLine;
using ConntrackModel.Cli.CommandLine;

namespace ConntrackModel.Cli;

/// <summary>Entry point: only wires the commands; each command lives in its own file.</summary>
public static class Program
{
    public static int Main(string[] args)
    {
        CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
        CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
        var code = (int)Run(args, Console.Out, Console.Error);
        Console.Out.Flush();
        Commands.PeakRss.WriteIfAsked();
        return code;
    }

    public static ExitCode Run(string[] args, TextWriter stdout, TextWriter stderr)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(stdout);
        ArgumentNullException.ThrowIfNull(stderr);
        var verbose = args.Contains("--verbose");
        try
        {
            switch (CliParser.Read(args))
            {
                case CliParser.Request.Overview:
                    // Bare 'ctmodel' is a mistake (exit 2, on stderr); asking for help is not.
                    (args.Length == 0 ? stderr : stdout).Write(CliParser.Overview());
                    return args.Length == 0 ? ExitCode.BadInput : ExitCode.Ok;
                case CliParser.Request.Version:
                    stdout.WriteLine(CliParser.VersionText);
                    return ExitCode.Ok;
                case CliParser.Request.Error e:
                    stderr.WriteLine($"ctmodel: {e.Message}");
                    stderr.WriteLine(e.Command is null ? "run 'ctmodel help' for usage" : $"run 'ctmodel {e.Command} --help' for its options");
                    return ExitCode.BadInput;
                case CliParser.Request.BuiltIn b:
                    // Help, --version and the [suggest] completion directive answer themselves.
                    var code = b.Result.Invoke(new InvocationConfiguration { Output = stdout, Error = stderr, EnableDefaultExceptionHandler = false });
                    return code == 0 ? ExitCode.Ok : ExitCode.BadInput;
                case CliParser.Request.Run r:
                    return r.Spec.Run(r.Options, stdout, stderr);
                default:
                    throw new InvalidOperationException("unknown command-line request");
            }
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            stderr.WriteLine($"ctmodel: internal error: {e.Message}");
            stderr.WriteLine(verbose ? e.ToString() : "(run again with --verbose for the stack trace, and please report it)");
            return ExitCode.Internal;
        }
    }

    internal static ExitCode UsageError(TextWriter stderr, string message)
    {
        stderr.WriteLine($"ctmodel: {message}");
        // Messages start with the command's name ("check: ..."): point to that command's help.
        var command = CliParser.Commands.FirstOrDefault(c => message.StartsWith(c.Name + ":", StringComparison.Ordinal));
        stderr.WriteLine(command is null ? "run 'ctmodel help' for usage" : $"run 'ctmodel {command.Name} --help' for its options");
        return ExitCode.BadInput;
    }
}
