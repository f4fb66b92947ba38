using ConntrackModel.Cli.Docs;

namespace ConntrackModel.Cli.Commands;

/// <summary>
/// <c>ctmodel docs [--out DIR] [--examples DIR]</c>: writes <c>spec.md</c> (GitHub, Mermaid) and
/// <c>spec.html</c> (one offline page) from the model's own definitions; reads the kernel agreement of the
/// examples from <c>DIR/conformance.json</c> (written by <c>ctmodel conform --record</c>).
/// </summary>
public static class DocsCommand
{
    private static readonly HashSet<string> Flags = [];
    private static readonly HashSet<string> Valued = ["--out", "--examples"];

    public static ExitCode Run(string[] args, TextWriter stdout, TextWriter stderr)
    {
        ArgumentNullException.ThrowIfNull(stdout);
        ArgumentNullException.ThrowIfNull(stderr);
        var o = Options.Parse(args, Flags, Valued);
        if (o.Error is not null) return Program.UsageError(stderr, "docs: " + o.Error);
        if (o.Positionals.Count > 0) return Program.UsageError(stderr, $"docs: unexpected argument '{o.Positionals[0]}'");
        var outDir = o.Path("--out", "docs");
        var examples = o.Path("--examples", "examples");
        if (o.Error is not null) return Program.UsageError(stderr, "docs: " + o.Error);
        if (!Directory.Exists(examples)) return Program.UsageError(stderr, $"docs: no examples directory '{examples}' (give --examples DIR)");
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
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            stderr.WriteLine($"ctmodel: docs: cannot write to '{outDir}': {e.Message}");
            return ExitCode.BadInput;
        }
        stdout.WriteLine($"wrote {Path.Combine(outDir, "spec.md")} and {Path.Combine(outDir, "spec.html")}");
        return ExitCode.Ok;
    }
}
