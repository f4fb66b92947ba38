using System.Globalization;
using ConntrackModel.Cli.Commands;

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
        PeakRss.WriteIfAsked();
        return code;
    }

    public const string Usage = """
        ctmodel - a formal model of Linux conntrack and NAT

        usage:
          ctmodel simulate FILE [--json] [--seed N] [--runs N]   run a scenario script in the model
          ctmodel check [--engine fscheck] [--config C] [--tests N] [--seed S | --replay TOKEN] [--out DIR] [--quiet]
                                                                   search for violations with FsCheck
          ctmodel check --list                                     the configurations check knows
          ctmodel check --engine z3 [--config C] [--depth K] [--out DIR] [--smt]
                                                                   bounded model checking with Z3
          ctmodel prove --config C [--depth K] [--induction]       prove the invariants with Z3
          ctmodel replay FILE --kernel [--json] [--pcap FILE] [--log]
                                                                   run a scenario on this machine's kernel
          ctmodel conform FILE... [--json] [--record FILE]         compare model and kernel
          ctmodel conform --random N [--seed S] [--config C] [--out DIR] [--shrink-runs N] [--json] [--quiet]
                                                                   compare on generated scenarios
          ctmodel docs [--out DIR] [--examples DIR]                write the specification (spec.md, spec.html)
          ctmodel bench [--sizes N,N,...] [--repeat N] [--part loop|commands|all]
                                                                   time the step loop and the commands
          ctmodel bench --check [--config C] [--seeds N] [--tests N] [--first-seed S]
                                                                   measure check over many seeds
          ctmodel bench --z3 [--repeat N]                          measure the Z3 search and proofs
          ctmodel help                                             this text

        simulate prints the packet trace (tcpdump style), the conntrack table, each
        connection's outcome and the invariants that broke. Exit code: 0 no violation,
        1 a violation, 2 bad input, 3 internal error. --seed picks the model's
        nondeterministic choices (default 1); --runs bounds how many alternative NAT
        outcomes are explored to list every possible wire address (default 64).

        check generates command sequences for a configuration (default late-start),
        runs them in the model, and shrinks the first that breaks an invariant to a
        minimal scenario. It writes report.md, report.json and minimal.scenario to
        --out (default ctmodel-check/CONFIG) and exits 1 when it found a violation,
        0 when not. --engine fscheck is the default; --engine z3 searches symbolically
        (minimal depth, --depth K, default 6; --out default ctmodel-check/CONFIG-z3). --seed
        fixes the randomness (a fresh seed is drawn and printed otherwise); --replay
        regenerates one failing test from the token a report prints.

        replay and conform need Linux, root, ip, iptables, conntrack and sysctl (tcpdump
        for --pcap); each run uses a network namespace ctmodel-PID-N that is deleted
        afterwards. conform exits 1 when model and kernel disagree.
        Add --verbose to any command to see stack traces of internal errors.
        """;

    public static ExitCode Run(string[] args, TextWriter stdout, TextWriter stderr)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(stdout);
        ArgumentNullException.ThrowIfNull(stderr);
        var verbose = args.Contains("--verbose");
        var rest = args.Where(a => a != "--verbose").ToArray();
        try
        {
            if (rest.Length == 0 || rest[0] is "help" or "--help" or "-h")
            {
                (rest.Length == 0 ? stderr : stdout).WriteLine(Usage);
                return rest.Length == 0 ? ExitCode.BadInput : ExitCode.Ok;
            }
            return rest[0] switch
            {
                "simulate" => SimulateCommand.Run(rest[1..], stdout, stderr),
                "check" => CheckCommand.Run(rest[1..], stdout, stderr),
                "replay" => ReplayCommand.Run(rest[1..], stdout, stderr),
                "conform" => ConformCommand.Run(rest[1..], stdout, stderr),
                "prove" => Z3Commands.Prove(rest[1..], stdout, stderr),
                "docs" => DocsCommand.Run(rest[1..], stdout, stderr),
                "bench" => BenchCommand.Run(rest[1..], stdout, stderr),
                _ => UsageError(stderr, $"unknown command '{rest[0]}'"),
            };
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
        stderr.WriteLine("run 'ctmodel help' for usage");
        return ExitCode.BadInput;
    }
}
