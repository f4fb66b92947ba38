using System.Collections.Immutable;
using System.Diagnostics;
using System.Security.Cryptography;
using ConntrackModel.Properties.Generation;
using FsCheck;
using Microsoft.FSharp.Collections;
using Microsoft.FSharp.Core;

namespace ConntrackModel.Properties.Checking;

/// <summary>
/// Runs <see cref="InvariantProperty"/> for a configuration with FsCheck and gathers the result: the seed, tests
/// run, shrink steps, original and minimal trial, the replay token and the coverage (from FsCheck's stamps).
/// The only place that drives FsCheck's runner; the CLI, the tests and the benchmark all come through here.
/// </summary>
public static class CheckRunner
{
    public static CheckResult Run(CheckOptions options, Action<CheckProgress>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        var seed = options.Replay?.Seed ?? options.Seed ?? FreshSeed();
        var rnd = options.Replay is { } r ? new Rnd(r.Seed, r.Gamma) : new Rnd(seed);
        var size = options.Replay is { } r2 ? FSharpOption<int>.Some(r2.Size) : FSharpOption<int>.None;
        var tests = options.Replay is null ? options.Tests : 1;
        var meter = new ModelMeter();
        var runner = new Collector(tests, progress, meter);
        var config = Config.Quick
            .WithMaxTest(tests)
            .WithMaxRejected(tests)
            .WithReplay(FSharpOption<Replay>.Some(new Replay(rnd, size)))
            .WithRunner(runner);
        var sw = Stopwatch.StartNew();
        Check.One(config, InvariantProperty.ForAll(options.Config, meter));
        sw.Stop();
        var result = runner.Result ?? throw new InvalidOperationException("FsCheck finished without reporting a result");
        var common = new CheckResult(options, seed, 0, 0, null, null, null, [], sw.Elapsed, meter.Commands, meter.CommandsPerSecond, null);
        switch (result)
        {
            case TestResult.Passed p:
                return common with { TestsRun = p.Item1.NumberOfTests, Coverage = CoverageOf(meter) };
            case TestResult.Failed f:
                // A false property and a throwing one both come back as Outcome.Failed; replaying the shrunk trial tells them apart.
                var minimal = (Trial)f.Item3.Head;
                var failure = common with
                {
                    TestsRun = f.Item1.NumberOfTests,
                    ShrinkSteps = f.Item1.NumberOfShrinks,
                    Original = (Trial)f.Item2.Head,
                    Replay = new ReplayToken(f.Item6.Seed, f.Item6.Gamma, f.Item7),
                    Coverage = CoverageOf(meter),
                };
                var thrown = (f.Item4 as Outcome.Failed)?.Item;
                try
                {
                    if (!TrialOutcome.Of(minimal).Holds) return failure with { Minimal = minimal };
                }
                catch (Exception e) when (e is not OutOfMemoryException)
                {
                    thrown = e;
                }
                return failure with { Error = $"the model threw on a generated trial: {thrown?.Message ?? "(no exception recorded)"}" };
            case TestResult.Exhausted e:
                return common with { TestsRun = e.Item.NumberOfTests, Error = "every generated trial was discarded", Coverage = CoverageOf(meter) };
            default:
                throw new InvalidOperationException($"unknown FsCheck result {result}");
        }
    }

    private static ulong FreshSeed() => BitConverter.ToUInt64(RandomNumberGenerator.GetBytes(8)) >> 1;

    /// <summary>
    /// Coverage per label from the meter's tally (FsCheck's own stamp table groups whole label sets and rounds
    /// their share to whole percents, too coarse for sets of many labels).
    /// </summary>
    private static ImmutableArray<CoverageRow> CoverageOf(ModelMeter meter)
    {
        var (labels, tests) = meter.Tally();
        var n = Math.Max(1, tests);
        return [.. labels.Select(kv =>
        {
            var colon = kv.Key.IndexOf(": ", StringComparison.Ordinal);
            var (cat, item) = colon < 0 ? ("other", kv.Key) : (kv.Key[..colon], kv.Key[(colon + 2)..]);
            return new CoverageRow(cat, item, kv.Value, 100.0 * kv.Value / n);
        })];
    }

    /// <summary>FsCheck's runner callbacks: progress while testing and shrinking, and the final result.</summary>
    private sealed class Collector(int tests, Action<CheckProgress>? progress, ModelMeter meter) : IRunner
    {
        private int _done;
        private int _shrinks;

        public TestResult? Result { get; private set; }

        public void OnStartFixture(Type t)
        {
        }

        public void OnArguments(int ntest, FSharpList<object> args, FSharpFunc<int, FSharpFunc<FSharpList<object>, string>> every)
        {
            _done = ntest + 1;
            meter.CommitTest();
            progress?.Invoke(new CheckProgress(_done, tests, false, 0));
        }

        public void OnShrink(FSharpList<object> args, FSharpFunc<FSharpList<object>, string> everyShrink)
        {
            _shrinks++;
            progress?.Invoke(new CheckProgress(_done, tests, true, _shrinks));
        }

        public void OnFinished(string name, TestResult testResult) => Result = testResult;
    }
}
