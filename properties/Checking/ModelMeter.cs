using System.Diagnostics;

namespace ConntrackModel.Properties.Checking;

/// <summary>
/// Counts the commands the property ran through the model and the time they took (thread-safe), and tallies
/// coverage labels per test: the labels of the latest evaluation count once the runner reports that test done
/// (<see cref="CommitTest"/>), so the evaluations of shrink candidates, which come after, are not counted.
/// </summary>
public sealed class ModelMeter
{
    private long _commands;
    private long _ticks;
    private readonly Lock _lock = new();
    private readonly Dictionary<string, int> _labels = new(StringComparer.Ordinal);
    private IReadOnlyCollection<string> _pending = [];
    private int _tests;

    public void Observe(IReadOnlyCollection<string> labels)
    {
        lock (_lock) _pending = labels;
    }

    public void CommitTest()
    {
        lock (_lock)
        {
            foreach (var l in _pending) _labels[l] = _labels.GetValueOrDefault(l) + 1;
            _pending = [];
            _tests++;
        }
    }

    /// <summary>Label → number of tests that carried it, and the number of tests.</summary>
    public (IReadOnlyDictionary<string, int> Labels, int Tests) Tally()
    {
        lock (_lock) return (new SortedDictionary<string, int>(_labels, StringComparer.Ordinal), _tests);
    }

    public long Commands => Interlocked.Read(ref _commands);

    public TimeSpan Elapsed => Stopwatch.GetElapsedTime(0, Interlocked.Read(ref _ticks));

    public void Add(long commands, long stopwatchTicks)
    {
        Interlocked.Add(ref _commands, commands);
        Interlocked.Add(ref _ticks, stopwatchTicks);
    }

    /// <summary>Model throughput: commands per second of time spent inside the model.</summary>
    public double CommandsPerSecond => Elapsed.TotalSeconds > 0 ? Commands / Elapsed.TotalSeconds : 0;
}
