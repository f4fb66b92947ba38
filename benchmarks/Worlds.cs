using ConntrackModel.Model.Choices;
using ConntrackModel.Model.Kernel;
using ConntrackModel.Model.Scenarios;

namespace ConntrackModel.Benchmarks;

/// <summary>The namespaces the benchmarks start from: the benchmark workload run to its end (N live connections).</summary>
public static class Worlds
{
    public static World After(int connections)
    {
        var run = RunSummary.Of(SnatWorkload.Scenario(connections), ChoiceSource.Seeded(1));
        return run.Rejected is null ? run.Final : throw new InvalidOperationException(run.Rejected);
    }
}
