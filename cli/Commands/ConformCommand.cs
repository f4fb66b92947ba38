using ConntrackModel.Cli.CommandLine;
using System.Collections.Immutable;
using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using ConntrackModel.Cli.Output;
using ConntrackModel.Model.Choices;
using ConntrackModel.Model.Kernel;
using ConntrackModel.Model.Reporting;
using ConntrackModel.Model.Scenarios;
using ConntrackModel.Properties.Configs;
using ConntrackModel.Properties.Generation;
using ConntrackModel.Properties.Shrinking;
using ConntrackModel.Replay.Host;
using ConntrackModel.Replay.Kernel;
using FsCheck;
using FsCheck.Fluent;

namespace ConntrackModel.Cli.Commands;

/// <summary>
/// <c>ctmodel conform FILE... [--json]</c> and <c>ctmodel conform --random N [--seed S] [--config C | --setup FILE [--events LIST]] [--out DIR]</c>:
/// runs scenarios in the model and on the kernel and compares what an observer sees.
/// </summary>
public static class ConformCommand
{
    public static CommandSpec Spec { get; } = new("conform", "compare the model with this machine's kernel", "FILE...",
        "Runs each scenario FILE in the model and on the kernel (in a throwaway network namespace) and compares what " +
        "they observe, or, with --random N, N scenarios from a check configuration, shrinking any disagreement. Needs " +
        "Linux, root, ip, iptables, conntrack and sysctl. Exit code 1 when model and kernel disagree.",
        [
            new("--json", null, "print the comparison as JSON"),
            new("--record", "FILE", "write which examples agree to FILE (as docs/conformance.json)"),
            new("--random", "N", "compare N generated scenarios instead of FILEs"),
            new("--seed", "S", "--random: the generator's seed"),
            new("--config", "C", "--random: the check configuration to draw from (default late-start)"),
            new("--setup", "FILE", "--random: draw workloads around this setup instead (as check --setup)"),
            new("--events", "LIST", "--random with --setup: flush,expiry,late (default none)"),
            new("--out", "DIR", "--random: where disagreements are written"),
            new("--shrink-runs", "N", "--random: how many runs a shrink step may take"),
            new("--quiet", null, "no progress on stderr"),
        ],
        Run);

    /// <summary>One scenario compared: both observations and where they differ.</summary>
    public sealed record Comparison(string Name, Scenario Scenario, Observation Model, Observation Kernel, ImmutableArray<Difference> Differences)
    {
        public bool Agree => Differences.IsEmpty;
    }

    /// <summary>How often a shrunk disagreement is re-run to tell a stable one from a timing accident.</summary>
    public const int Reruns = 3;

    public static ExitCode Run(Options o, TextWriter stdout, TextWriter stderr)
    {
        ArgumentNullException.ThrowIfNull(o);
        ArgumentNullException.ThrowIfNull(stdout);
        ArgumentNullException.ThrowIfNull(stderr);
        var random = (int)o.Number("--random", 0, 1, 100_000);
        var seed = (ulong)o.Number("--seed", 1, 0, long.MaxValue);
        var shrinkRuns = (int)o.Number("--shrink-runs", 60, 0, 10_000);
        if (o.Error is not null) return Program.UsageError(stderr, "conform: " + o.Error);
        if (random == 0 && o.Positionals.Count == 0) return Program.UsageError(stderr, "conform: expected scenario FILEs or --random N");
        if (random > 0 && o.Positionals.Count > 0) return Program.UsageError(stderr, "conform: give scenario FILEs or --random N, not both");
        if (random == 0) o.Refuse(["--seed", "--config", "--setup", "--events", "--out", "--shrink-runs", "--quiet"], "applies to --random N only");
        else o.Refuse(["--record"], "applies to scenario FILEs only");
        var record = o.Value("--record") is null ? null : o.Path("--record", "");
        var randomOut = o.Path("--out", "ctmodel-conform");
        if (random > 0 && o.Value("--out") is not null && o.Error is null && FileErrors.CannotWriteDirectory(randomOut) is { } outWhy)
            return Program.UsageError(stderr, $"conform: cannot write to --out '{randomOut}': {outWhy}");
        if (o.Error is not null) return Program.UsageError(stderr, "conform: " + o.Error);
        if (record is not null && Directory.Exists(record)) return Program.UsageError(stderr, $"conform: --record '{record}' is a directory: expected a file such as docs/conformance.json");
        if (record is not null && FileErrors.CannotWriteFile(record) is { } recordWhy) return Program.UsageError(stderr, $"conform: cannot write --record '{record}': {recordWhy}");
        var scenarios = new List<Scenario>();
        foreach (var f in o.Positionals)
        {
            if (!SimulateCommand.TryLoad(f, stderr, out var s)) return ExitCode.BadInput;
            if (!ReplayCommand.ModelAccepts(f, s, stderr)) return ExitCode.BadInput;
            scenarios.Add(s);
        }
        if (CheckCommand.Config(o, "conform", stderr) is not { } config) return ExitCode.BadInput;
        if (!ReplayCommand.CheckRequirements(stderr, "conform", pcap: false)) return ExitCode.BadInput;
        try
        {
            return random > 0
                ? RunRandom(config, random, seed, shrinkRuns, randomOut, o.Has("--json"), o.Has("--quiet"), stdout, stderr)
                : RunFiles(scenarios, o.Has("--json"), record, stdout);
        }
        catch (ReplayException e)
        {
            stderr.WriteLine($"ctmodel: conform: {e.Message}");
            return ExitCode.BadInput;
        }
        catch (Exception e) when (FileErrors.IsFileError(e))
        {
            stderr.WriteLine($"ctmodel: conform: cannot write: {FileErrors.Reason(e)}");
            return ExitCode.BadInput;
        }
    }

    /// <summary>The kernel run, then the model guided by the kernel's choices, then the comparison.</summary>
    public static Comparison Compare(Scenario scenario, string name)
    {
        ArgumentNullException.ThrowIfNull(scenario);
        var run = KernelReplay.Run(scenario, new ReplayOptions());
        var explained = Conformance.Explain(scenario, run.Observation, run.StoppedAt, ChoiceSource.Seeded(1));
        return new Comparison(name, explained.Scenario, explained.Model, run.Observation, explained.Differences);
    }

    private static ExitCode RunFiles(List<Scenario> scenarios, bool json, string? record, TextWriter stdout)
    {
        var results = scenarios.Select(s => Compare(s, s.Name)).ToList();
        if (record is not null) Record(record, results);
        if (json) stdout.WriteLine(Json(results));
        else foreach (var r in results) stdout.Write(Text(r));
        var bad = results.Count(r => !r.Agree);
        if (!json) stdout.WriteLine($"{results.Count - bad}/{results.Count} scenarios agree with the kernel");
        return bad == 0 ? ExitCode.Ok : ExitCode.Violation;
    }

    /// <summary>
    /// Writes which scenarios agreed, with the date and kernel release, for <c>ctmodel docs</c>'s catalogue
    /// (keyed by file name).
    /// </summary>
    private static void Record(string path, List<Comparison> results)
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteString("date", DateTime.UtcNow.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture));
            w.WriteString("kernel", File.Exists("/proc/sys/kernel/osrelease") ? File.ReadAllText("/proc/sys/kernel/osrelease").Trim() : Environment.OSVersion.VersionString);
            w.WriteStartObject("results");
            foreach (var r in results.OrderBy(r => Path.GetFileName(r.Name), StringComparer.Ordinal)) w.WriteBoolean(Path.GetFileName(r.Name), r.Agree);
            w.WriteEndObject();
            w.WriteEndObject();
        }
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        File.WriteAllText(path, Encoding.UTF8.GetString(stream.ToArray()) + "\n");
    }

    public static string Text(Comparison r)
    {
        ArgumentNullException.ThrowIfNull(r);
        if (r.Agree) return $"{r.Name}: agrees with the kernel\n";
        var sb = new StringBuilder();
        sb.AppendLine(CultureInfo.InvariantCulture, $"{r.Name}: {r.Differences.Length} difference(s)");
        foreach (var d in r.Differences)
        {
            sb.AppendLine(CultureInfo.InvariantCulture, $"  {d.Field}");
            sb.AppendLine(CultureInfo.InvariantCulture, $"    - model:  {d.Model}");
            sb.AppendLine(CultureInfo.InvariantCulture, $"    + kernel: {d.Kernel}");
        }
        return sb.ToString();
    }

    private static string Json(IEnumerable<Comparison> results)
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            w.WriteStartArray();
            foreach (var r in results)
            {
                w.WriteStartObject();
                w.WriteString("scenario", r.Name);
                w.WriteBoolean("agree", r.Agree);
                w.WriteStartArray("differences");
                foreach (var d in r.Differences)
                {
                    w.WriteStartObject();
                    w.WriteString("field", d.Field);
                    w.WriteString("model", d.Model);
                    w.WriteString("kernel", d.Kernel);
                    w.WriteEndObject();
                }
                w.WriteEndArray();
                w.WritePropertyName("model");
                w.WriteRawValue(JsonReport.Write(r.Model));
                w.WritePropertyName("kernel");
                w.WriteRawValue(JsonReport.Write(r.Kernel));
                w.WriteEndObject();
            }
            w.WriteEndArray();
        }
        return Encoding.UTF8.GetString(stream.ToArray());
    }

    /// <summary>The <paramref name="n"/> scenarios <c>conform --random</c> draws for a configuration and seed, without choices (the kernel makes its own).</summary>
    public static Trial[] RandomTrials(CheckConfig config, int n, ulong seed) =>
        [.. Gen.Sample(TrialGen.For(config), n, new Rnd(seed), 50).Select(t => t with { Choices = Trial.NoChoices })];

    /// <summary>
    /// N scenarios from the configuration's generator (FsCheck, seeded), each on both. A disagreement is shrunk
    /// with the property shrinker's candidates, each re-run on the kernel, and written to OUT as a scenario.
    /// </summary>
    private static ExitCode RunRandom(CheckConfig config, int n, ulong seed, int shrinkRuns, string outDir, bool json, bool quiet, TextWriter stdout, TextWriter stderr)
    {
        var trials = RandomTrials(config, n, seed);
        var results = new List<Comparison>();
        var disagreements = 0;
        for (var i = 0; i < trials.Length; i++)
        {
            var trial = trials[i];
            var name = string.Create(CultureInfo.InvariantCulture, $"random-{seed}-{i + 1}");
            var r = Compare(trial.ToScenario(name), name);
            results.Add(r);
            if (!quiet) stderr.WriteLine($"  {i + 1}/{n} {(r.Agree ? "agree" : "DISAGREE")} ({trial.Length} commands)");
            if (r.Agree) continue;
            disagreements++;
            var (minimal, runs) = ShrinkDisagreement(config, trial, r, shrinkRuns, quiet ? null : stderr);
            // Timing on a busy machine can make a kernel run differ once; say how often the minimal one reproduces.
            var again = Enumerable.Range(0, Reruns).Count(_ => !Compare(minimal.Scenario with { Choices = Trial.NoChoices }, name).Agree);
            Directory.CreateDirectory(outDir);
            var path = Path.Combine(outDir, name + ".scenario");
            File.WriteAllText(path, $"# Model and kernel disagree (ctmodel conform --random {n} --seed {seed} {CheckReport.ConfigArgs(config)}, scenario {i + 1}; shrunk with {runs} kernel runs; the shrunk scenario disagreed again in {again} of {Reruns} re-runs)\n" +
                                    string.Concat(minimal.Scenario.Lines.Select(l => l.Command.ToScript() + "\n")) +
                                    string.Concat(Text(minimal).Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => "# " + l + "\n")));
            File.WriteAllText(Path.ChangeExtension(path, ".json"), Json([minimal]) + "\n");
            stdout.Write(Text(minimal));
            stdout.WriteLine($"  disagreed again in {again} of {Reruns} re-runs; written to {path} (both observations in {Path.ChangeExtension(path, ".json")})");
        }
        if (json) stdout.WriteLine(Json(results));
        // With --json, stdout stays one JSON document; the summary goes to stderr.
        (json ? stderr : stdout).WriteLine(string.Create(CultureInfo.InvariantCulture, $"{n - disagreements}/{n} random {config.Name} scenarios (seed {seed}) agree with the kernel"));
        return disagreements == 0 ? ExitCode.Ok : ExitCode.Violation;
    }

    private static (Comparison Minimal, int Runs) ShrinkDisagreement(CheckConfig config, Trial trial, Comparison first, int budget, TextWriter? progress)
    {
        var best = (Trial: trial, Result: first);
        var runs = 0;
        var improved = true;
        while (improved && runs < budget)
        {
            improved = false;
            foreach (var candidate in TrialShrinker.Shrink(config, best.Trial).Select(c => c with { Choices = Trial.NoChoices }))
            {
                if (runs++ >= budget) break;
                var r = Compare(candidate.ToScenario(first.Name), first.Name);
                if (r.Agree) continue;
                best = (candidate, r);
                improved = true;
                progress?.WriteLine($"    shrunk to {candidate.Length} commands");
                break;
            }
        }
        return (best.Result, runs);
    }
}
