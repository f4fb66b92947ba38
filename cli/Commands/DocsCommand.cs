using ConntrackModel.Cli.Output;
using ConntrackModel.Cli.CommandLine;
using ConntrackModel.Cli.Docs;

namespace ConntrackModel.Cli.Commands;

/// <summary>
/// <c>ctmodel docs [--out DIR] [--examples DIR]</c>: writes <c>spec.md</c> (GitHub, Mermaid) and
/// <c>spec.html</c> (one offline page) from the model's own definitions; reads the kernel agreement of the
/// examples from <c>DIR/conformance.json</c> (written by <c>ctmodel conform --record</c>).
/// </summary>
public static class DocsCommand
{
    public static CommandSpec Spec { get; } = new("docs", "write the specification (spec.md, spec.html)", null,
        "Writes the specification generated from the model's definitions and comments, with every example run and, " +
        "where recorded, its agreement with the kernel.",
        [
            new("--out", "DIR", "where spec.md and spec.html go (default docs)"),
            new("--examples", "DIR", "the example scenarios to document (default examples)"),
        ],
        Run);

    public static ExitCode Run(Options o, TextWriter stdout, TextWriter stderr)
    {
        ArgumentNullException.ThrowIfNull(o);
        ArgumentNullException.ThrowIfNull(stdout);
        ArgumentNullException.ThrowIfNull(stderr);
        if (o.Error is not null) return Program.UsageError(stderr, "docs: " + o.Error);
        if (o.Positionals.Count > 0) return Program.UsageError(stderr, $"docs: unexpected argument '{o.Positionals[0]}'");
        var outDir = o.Path("--out", "docs");
        var examples = o.Path("--examples", "examples");
        if (o.Error is not null) return Program.UsageError(stderr, "docs: " + o.Error);
        if (!Directory.Exists(examples)) return Program.UsageError(stderr, $"docs: no examples directory '{examples}' (give --examples DIR)");
        if (FileErrors.CannotWriteDirectory(outDir) is { } why) return Program.UsageError(stderr, $"docs: cannot write to --out '{outDir}': {why}");
        // Every example must parse and run: the catalogue documents each one's outcome, and a command the model
        // refuses has none.
        foreach (var f in Directory.GetFiles(examples, "*.scenario").Order(StringComparer.Ordinal))
        {
            if (!SimulateCommand.TryLoad(f, stderr, out var s) || !ReplayCommand.ModelAccepts(f, s, stderr)) return ExitCode.BadInput;
        }
        System.Collections.Immutable.ImmutableArray<DocBlock> blocks;
        try
        {
            blocks = SpecBuilder.Build(examples, Path.Combine(outDir, "conformance.json"));
        }
        catch (FormatException e)
        {
            stderr.WriteLine($"ctmodel: docs: {e.Message}");
            return ExitCode.BadInput;
        }
        try
        {
            Directory.CreateDirectory(outDir);
            File.WriteAllText(Path.Combine(outDir, "spec.md"), SpecWriter.Markdown(blocks));
            File.WriteAllText(Path.Combine(outDir, "spec.html"), SpecWriter.Html(blocks));
        }
        catch (Exception e) when (FileErrors.IsFileError(e))
        {
            stderr.WriteLine($"ctmodel: docs: cannot write to '{outDir}': {FileErrors.Reason(e)}");
            return ExitCode.BadInput;
        }
        stdout.WriteLine($"wrote {Path.Combine(outDir, "spec.md")} and {Path.Combine(outDir, "spec.html")}");
        return ExitCode.Ok;
    }
}
