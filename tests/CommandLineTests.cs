using System.Diagnostics;
using ConntrackModel.Cli;
using ConntrackModel.Cli.CommandLine;
using Xunit;
using Xunit.Abstractions;

namespace ConntrackModel.Tests;

/// <summary>
/// The command-line conventions of a .NET tool (issue 11): help for every command three ways, --version,
/// --opt=value, "did you mean", validation of output paths before the work, and the tool package itself.
/// </summary>
public class CommandLineTests(ITestOutputHelper output)
{
    private static (ExitCode Code, string Out, string Err) Ctmodel(params string[] args) => Tests.Run.Ctmodel(args);

    public static TheoryData<string> CommandNames => [.. CliParser.Commands.Select(c => c.Name)];

    [Theory]
    [MemberData(nameof(CommandNames))]
    public void EveryCommand_HasHelp_ThatListsEveryOption(string name)
    {
        var spec = CliParser.Commands.Single(c => c.Name == name);
        foreach (var args in new[] { new[] { name, "--help" }, [name, "-h"], ["help", name] })
        {
            var (code, stdout, stderr) = Ctmodel(args);
            Assert.Equal(ExitCode.Ok, code);
            Assert.Equal("", stderr);
            // The usage line names the executable, which in-process is the test host.
            Assert.Matches($@"Usage:\s+\S+ {name} ", stdout);
            Assert.All(spec.Options, o => Assert.Contains(o.Name, stdout, StringComparison.Ordinal));
        }
    }

    [Fact]
    public void Overview_ListsEveryCommand_AndBareCtmodelIsAnError()
    {
        foreach (var args in new[] { new[] { "help" }, ["--help"], ["-h"] })
        {
            var (code, stdout, _) = Ctmodel(args);
            Assert.Equal(ExitCode.Ok, code);
            Assert.All(CliParser.Commands, c => Assert.Contains($"ctmodel {c.Name}", stdout, StringComparison.Ordinal));
        }
        var (bare, _, err) = Ctmodel();
        Assert.Equal(ExitCode.BadInput, bare);
        Assert.Contains("ctmodel simulate FILE", err, StringComparison.Ordinal);
    }

    [Fact]
    public void Version_IsTheAssemblyVersion()
    {
        var (code, stdout, _) = Ctmodel("--version");
        Assert.Equal(ExitCode.Ok, code);
        Assert.StartsWith(typeof(Program).Assembly.GetName().Version!.ToString(3), stdout, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(new[] { "simulte", "x" }, "unknown command 'simulte'; did you mean 'simulate'?")]
    [InlineData(new[] { "simulate", "x", "--sede", "1" }, "simulate: unknown option '--sede'; did you mean '--seed'?")]
    [InlineData(new[] { "check", "--lst" }, "check: unknown option '--lst'; did you mean '--list'?")]
    [InlineData(new[] { "simulate", "x", "--seed" }, "simulate: option --seed needs a value")]
    [InlineData(new[] { "check", "extra" }, "check: unexpected argument 'extra'")]
    [InlineData(new[] { "help", "simulte" }, "unknown command 'simulte'; did you mean 'simulate'?")]
    [InlineData(new[] { "check", "--list", "true" }, "check: unexpected argument 'true'")]
    public void Mistakes_SayWhatWasMeant_Exit2(string[] args, string message)
    {
        var (code, stdout, stderr) = Ctmodel(args);
        Assert.Equal(ExitCode.BadInput, code);
        Assert.Equal("", stdout);
        Assert.Contains("ctmodel: " + message, stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void AFlagTakesNoValue()
    {
        // "--json false" must not mean --json: the word is left over, and simulate says it expected one FILE.
        var file = Path.Combine(AppContext.BaseDirectory, "examples", "reference.scenario");
        var (code, stdout, stderr) = Ctmodel("simulate", file, "--json", "false");
        Assert.Equal(ExitCode.BadInput, code);
        Assert.Equal("", stdout);
        Assert.Contains("expected exactly one scenario FILE", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void OptionEqualsValue_IsTheSameAsTwoWords()
    {
        var file = Path.Combine(AppContext.BaseDirectory, "examples", "reference.scenario");
        Assert.Equal(Ctmodel("simulate", file, "--seed", "3"), Ctmodel("simulate", file, "--seed=3"));
        Assert.Equal(Ctmodel("simulate", "--seed", "3", file), Ctmodel("simulate", file, "--seed=3"));
    }

    [Fact]
    public void UnwritableOutput_IsRefusedBeforeTheSearch()
    {
        var file = Path.GetTempFileName();
        try
        {
            var sw = Stopwatch.StartNew();
            var (code, stdout, stderr) = Ctmodel("check", "--config", "boot", "--tests", "100000", "--out", Path.Combine(file, "sub"));
            Assert.Equal(ExitCode.BadInput, code);
            Assert.Equal("", stdout);
            Assert.Contains("cannot write to --out", stderr, StringComparison.Ordinal);
            Assert.DoesNotContain("Parameter", stderr, StringComparison.Ordinal);
            Assert.DoesNotContain("tests", stderr, StringComparison.Ordinal); // no progress: the search never started
            output.WriteLine($"refused after {sw.ElapsedMilliseconds} ms");
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public void TheWritabilityCheck_LeavesNoTrace()
    {
        var top = Path.Combine(Path.GetTempPath(), $"ctm-w-{Guid.NewGuid():N}");
        Assert.Null(Cli.Output.FileErrors.CannotWriteDirectory(Path.Combine(top, "a", "b")));
        Assert.False(Directory.Exists(top));
        var file = Path.GetTempFileName();
        try
        {
            Assert.Equal("it is a file, not a directory", Cli.Output.FileErrors.CannotWriteDirectory(file));
            Assert.Equal("a directory on the path does not exist", Cli.Output.FileErrors.CannotWriteDirectory(Path.Combine(file, "x")));
        }
        finally
        {
            File.Delete(file);
        }
    }

    /// <summary>
    /// <c>dotnet pack</c> makes a .NET tool that <c>dotnet tool install</c> installs as <c>ctmodel</c> (the README's
    /// instructions), and the installed command runs the main job.
    /// </summary>
    [Fact]
    public void ToolPackage_InstallsAndRuns()
    {
        var root = RepositoryRoot();
        var dir = Directory.CreateTempSubdirectory("ctmodel-tool-");
        try
        {
            Run("dotnet", ["pack", Path.Combine(root, "cli"), "-c", "Release", "-o", Path.Combine(dir.FullName, "nupkg")], root, 0);
            Run("dotnet", ["tool", "install", "ConntrackModel.Cli", "--tool-path", Path.Combine(dir.FullName, "tools"), "--add-source", Path.Combine(dir.FullName, "nupkg")], root, 0);
            var tool = Path.Combine(dir.FullName, "tools", "ctmodel");
            Assert.StartsWith("0.11.0", Run(tool, ["--version"], root, 0), StringComparison.Ordinal);
            Assert.Contains("no-foreign-reset", Run(tool, ["simulate", Path.Combine(root, "examples", "reference.scenario")], root, 1), StringComparison.Ordinal);
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    private static string RepositoryRoot()
    {
        var d = new DirectoryInfo(AppContext.BaseDirectory);
        while (d is not null && !File.Exists(Path.Combine(d.FullName, "ConntrackModel.sln"))) d = d.Parent;
        return d?.FullName ?? throw new InvalidOperationException("ConntrackModel.sln not found above " + AppContext.BaseDirectory);
    }

    private string Run(string exe, string[] args, string cwd, int expected)
    {
        var psi = new ProcessStartInfo(exe) { WorkingDirectory = cwd, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEnd();
        p.WaitForExit();
        output.WriteLine($"{exe} {string.Join(' ', args)}: exit {p.ExitCode}");
        Assert.True(p.ExitCode == expected, $"{exe} {string.Join(' ', args)} exited {p.ExitCode}\n{stdout.Result}\n{stderr}");
        return stdout.Result;
    }
}
