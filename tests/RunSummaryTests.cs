using System.Text.Json;
using ConntrackModel.Cli.Output;
using ConntrackModel.Model.Choices;
using ConntrackModel.Model.Kernel;
using ConntrackModel.Model.Reporting;
using ConntrackModel.Model.Scenarios;

namespace ConntrackModel.Tests;

/// <summary>
/// simulate --json folds the run without its trace and reuses it as the wire exploration's first run; both must
/// observe exactly what the full simulation observes.
/// </summary>
public class RunSummaryTests
{
    public static TheoryData<string> Examples =>
        [.. Directory.GetFiles(Path.Combine(AppContext.BaseDirectory, "examples"), "*.scenario").Select(f => Path.GetFileName(f)).Order(StringComparer.Ordinal)];

    [Theory]
    [MemberData(nameof(Examples))]
    public void Summary_ObservesWhatTheFullRunObserves(string file)
    {
        var scenario = Run.Parse(Run.Example(file));
        foreach (var seed in new ulong[] { 1, 2, 3 })
        {
            var choices = ChoiceSource.Seeded(seed);
            var sim = Simulation.Run(scenario, choices);
            var summary = RunSummary.Of(scenario, choices);
            Assert.Equal(RunSummary.Of(sim), summary);
            var wireAlone = WireExploration.Explore(scenario, choices);
            var wireReused = WireExploration.Explore(scenario, choices, WireExploration.DefaultBudget, summary);
            Assert.Equal(wireAlone, wireReused);
            Assert.Equal(JsonReport.Write(Observation.Of(sim, wireAlone.Wire)), JsonReport.Write(Observation.Of(summary, wireReused.Wire)));
        }
    }

    /// <summary>The JSON goes out in chunks; a document many chunks long is still one valid document.</summary>
    [Fact]
    public void Json_ManyChunks_IsOneValidDocument()
    {
        var scenario = SnatWorkload.Scenario(600);
        var run = RunSummary.Of(scenario, ChoiceSource.Seeded(1));
        var obs = Observation.Of(run, WireExploration.Explore(scenario, ChoiceSource.Seeded(1), WireExploration.DefaultBudget, run).Wire);
        using var text = new StringWriter();
        JsonReport.Write(obs, text);
        Assert.True(text.ToString().Length > 3 * (1 << 16), "the document spans several chunks");
        using var doc = JsonDocument.Parse(text.ToString());
        Assert.Equal(600, doc.RootElement.GetProperty("connections").GetArrayLength());
        Assert.Equal(600, doc.RootElement.GetProperty("conntrack").GetArrayLength());
        Assert.Equal(JsonReport.Write(obs), text.ToString());
    }
}
