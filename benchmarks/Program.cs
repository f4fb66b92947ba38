using BenchmarkDotNet.Running;

namespace ConntrackModel.Benchmarks;

/// <summary>
/// The inner loops under BenchmarkDotNet: <c>dotnet run -c Release --project benchmarks -- --filter '*'</c>.
/// What users run end to end is timed by <c>ctmodel bench</c>.
/// </summary>
public static class Program
{
    public static void Main(string[] args) => BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
}
