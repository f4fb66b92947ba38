using System.Diagnostics;
using ConntrackModel.Cli;
using ConntrackModel.Cli.Docs;
using Xunit.Abstractions;

namespace ConntrackModel.Tests.Docs;

/// <summary>The generated specification: committed, current, and rendering offline in a real browser.</summary>
public class SpecTests(ITestOutputHelper output)
{
    /// <summary>The repository root (the directory holding ConntrackModel.sln), found from the test binaries.</summary>
    private static string Root()
    {
        var d = new DirectoryInfo(AppContext.BaseDirectory);
        while (d is not null && !File.Exists(Path.Combine(d.FullName, "ConntrackModel.sln"))) d = d.Parent;
        return d?.FullName ?? throw new InvalidOperationException("not run from inside the repository");
    }

    /// <summary>The docs hold Z3's proofs of the configurations: without the engine they cannot be written.</summary>
    [ConntrackModel.Tests.Solver.Z3Fact]
    public void Docs_Committed_AreWhatCtmodelDocsWrites()
    {
        var root = Root();
        var tmp = Path.Combine(Path.GetTempPath(), $"ctm-docs-{Guid.NewGuid():N}");
        Directory.CreateDirectory(tmp);
        try
        {
            File.Copy(Path.Combine(root, "docs", "conformance.json"), Path.Combine(tmp, "conformance.json"));
            using var o = new StringWriter();
            using var e = new StringWriter();
            Assert.Equal(ExitCode.Ok, Program.Run(["docs", "--out", tmp, "--examples", Path.Combine(root, "examples")], o, e));
            foreach (var f in new[] { "spec.md", "spec.html" })
            {
                var committed = File.ReadAllText(Path.Combine(root, "docs", f));
                var generated = File.ReadAllText(Path.Combine(tmp, f));
                Assert.True(committed == generated, $"docs/{f} is stale: run 'dotnet run --project cli -- docs' and commit the result");
            }
        }
        finally
        {
            Directory.Delete(tmp, recursive: true);
        }
    }

    [ConntrackModel.Tests.Solver.Z3Fact]
    public void Spec_CoversEveryCommandInvariantConfigurationAndExample()
    {
        var root = Root();
        var blocks = SpecBuilder.Build(Path.Combine(root, "examples"), Path.Combine(root, "docs", "conformance.json"));
        var md = SpecWriter.Markdown(blocks);
        foreach (var t in typeof(Model.Scenarios.Command).GetNestedTypes().Where(t => t.IsSubclassOf(typeof(Model.Scenarios.Command))))
            Assert.Contains($"### {t.Name}\n", md, StringComparison.Ordinal);
        foreach (var i in Model.Diagnostics.Invariants.All) Assert.Contains($"`{Model.Diagnostics.Invariants.Name(i)}`", md, StringComparison.Ordinal);
        foreach (var c in ConntrackModel.Properties.Configs.CheckConfigs.Catalogue) Assert.Contains($"`{c.Name}`", md, StringComparison.Ordinal);
        foreach (var f in Directory.GetFiles(Path.Combine(root, "examples"), "*.scenario")) Assert.Contains($"### {Path.GetFileName(f)}\n", md, StringComparison.Ordinal);
        // Every transition-table cell appears: 2 directions x 6 packet classes, each a row.
        Assert.Equal(12, blocks.OfType<DocBlock.Table>().Count(t => t.Headers[0] == "packet \\ state") * 6);
        Assert.Contains("[`nf_nat_used_tuple_harder`](https://elixir.bootlin.com/linux/v6.18/A/ident/nf_nat_used_tuple_harder)", md, StringComparison.Ordinal);
        Assert.Contains("the kernel agreed", md, StringComparison.Ordinal);
        // Sequence diagrams, and a topology flowchart for each example with more than one namespace.
        var flowcharts = blocks.OfType<DocBlock.Code>().Count(c => c.Language == "mermaid");
        Assert.Equal(Directory.GetFiles(Path.Combine(root, "examples"), "node-*.scenario").Length, flowcharts);
        Assert.Equal(blocks.OfType<DocBlock.Diagram>().Count() + flowcharts, md.Split("```mermaid").Length - 1);
        Assert.Contains("subgraph", md, StringComparison.Ordinal);
        // The safety table: the late start collides, boot is proved for runs of any length.
        Assert.Contains("| `late-start` | collision in 3 steps |", md, StringComparison.Ordinal);
        Assert.Contains("| `boot` | proved safe to depth 8 | proved safe (1-induction) |", md, StringComparison.Ordinal);
    }

    [Fact]
    public void SpecHtml_IsOnePageWithoutScriptsOrRemoteResources()
    {
        var page = File.ReadAllText(Path.Combine(Root(), "docs", "spec.html"));
        Assert.DoesNotContain("<script", page, StringComparison.Ordinal);
        Assert.DoesNotContain("src=\"http", page, StringComparison.Ordinal);
        Assert.DoesNotContain("<link", page, StringComparison.Ordinal);
        Assert.True(page.Split("<div class=\"diagram\"><svg").Length - 1 >= 5);
    }

    [ChromiumFact]
    public void SpecHtml_RendersOfflineInHeadlessChromium_WithEveryDiagram()
    {
        var html = Path.Combine(Root(), "docs", "spec.html");
        var diagrams = File.ReadAllText(html).Split("<div class=\"diagram\">").Length - 1;
        var shot = Path.Combine(Path.GetTempPath(), $"ctm-spec-{Guid.NewGuid():N}.png");
        try
        {
            var dom = Browser(ChromiumFactAttribute.Path!, "--dump-dom", html);
            Assert.Equal(diagrams, dom.Split("<svg class=\"sequence\"").Length - 1);
            Assert.Contains("ConntrackModel specification", dom, StringComparison.Ordinal);
            Browser(ChromiumFactAttribute.Path!, $"--screenshot={shot}", html, "--window-size=1200,1600");
            var bytes = File.ReadAllBytes(shot);
            output.WriteLine($"screenshot: {bytes.Length} bytes");
            Assert.True(bytes.Length > 10_000, "the screenshot is (nearly) empty");
            Assert.Equal(0x89, bytes[0]); // PNG
        }
        finally
        {
            File.Delete(shot);
        }
    }

    private static string Browser(string chromium, string mode, string html, string? extra = null)
    {
        var psi = new ProcessStartInfo(chromium) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "--headless", "--no-sandbox", "--disable-gpu", mode }.Concat(extra is null ? [] : [extra]).Append("file://" + html)) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        _ = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(60_000)) p.Kill(true);
        return stdout.Result;
    }
}

/// <summary>A fact that needs Debian's chromium; skipped with the reason where it is not installed (.ci/run installs it).</summary>
public sealed class ChromiumFactAttribute : FactAttribute
{
    private static readonly string[] Paths = ["/usr/bin/chromium", "/usr/bin/chromium-browser"];

    public static string? Path => Paths.FirstOrDefault(File.Exists);

    public ChromiumFactAttribute()
    {
        if (Path is null) Skip = "needs Debian's chromium for the headless rendering check (apt-get install chromium)";
    }
}
