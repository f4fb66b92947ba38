using System.Text;
using System.Text.RegularExpressions;
using ConntrackModel.Cli;
using ConntrackModel.Model.Scenarios;
using Xunit;
using Xunit.Abstractions;

namespace ConntrackModel.Tests;

/// <summary>
/// Feeds <c>ctmodel simulate</c> broken input: mutated examples (characters dropped, inserted, lines duplicated or
/// swapped, numbers replaced by huge or negative ones, CRLF), random bytes (invalid UTF-8, NUL), a 1 MB line and a
/// 100,000-line file. Every run must end with exit code 0, 1 or 2, and every error must name its position
/// (FILE:LINE:COL) or be about the file as a whole; the error output stays small. One fixed seed, one fresh seed
/// (printed, to replay a failure).
/// </summary>
public partial class FuzzTests(ITestOutputHelper output)
{
    private static readonly string[] Examples =
        [.. Directory.GetFiles(Path.Combine(AppContext.BaseDirectory, "examples"), "*.scenario").Order(StringComparer.Ordinal)];

    private static readonly string[] Numbers =
        ["0", "-1", "65536", "4294967296", "99999999999999999999", "1e400", "NaN", "8589935", "256", "1023", "0x10", "1.5", "٣"];

    private const string Alphabet = "abcxyz019:.-_=\"#\t \0\u00e9\u4e2d\ufffd\u202e/\\";

    [GeneratedRegex("[0-9]+")]
    private static partial Regex Digits();

    [Fact]
    public void Simulate_BrokenInput_FixedSeed() => Campaign(20261129, 400);

    [Fact]
    public void Simulate_BrokenInput_FreshSeed()
    {
        var seed = (int)(DateTime.UtcNow.Ticks % int.MaxValue);
        output.WriteLine($"fresh fuzz seed {seed} (replay: Campaign({seed}, 150))");
        Campaign(seed, 150);
    }

    private static string Mutate(Random rng, string text)
    {
        var lines = text.Split('\n').ToList();
        for (var k = rng.Next(1, 5); k > 0; k--)
        {
            if (lines.Count == 0) lines.Add("");
            var i = rng.Next(lines.Count);
            var line = lines[i];
            switch (rng.Next(7))
            {
                case 0 when line.Length > 0:
                    lines[i] = line.Remove(rng.Next(line.Length), 1);
                    break;
                case 1:
                    lines[i] = line.Insert(rng.Next(line.Length + 1), Alphabet[rng.Next(Alphabet.Length)].ToString());
                    break;
                case 2:
                    lines.Insert(i, line);
                    break;
                case 3:
                    var j = rng.Next(lines.Count);
                    (lines[i], lines[j]) = (lines[j], lines[i]);
                    break;
                case 4:
                    var n = 0;
                    var pick = rng.Next(4);
                    lines[i] = Digits().Replace(line, m => n++ == pick ? Numbers[rng.Next(Numbers.Length)] : m.Value);
                    break;
                case 5:
                    lines.RemoveAt(i);
                    break;
                default:
                    lines[i] = line + "\r";
                    break;
            }
        }
        return string.Join("\n", lines);
    }

    private void Campaign(int seed, int count)
    {
        var rng = new Random(seed);
        var dir = Directory.CreateTempSubdirectory("ctmodel-fuzz-");
        var codes = new Dictionary<ExitCode, int>();
        try
        {
            var inputs = new List<(string Name, byte[] Bytes)>();
            for (var i = 0; i < count; i++)
            {
                var bytes = rng.Next(10) switch
                {
                    0 => RandomBytes(rng),
                    _ => Encoding.UTF8.GetBytes(Mutate(rng, File.ReadAllText(Examples[rng.Next(Examples.Length)]))),
                };
                inputs.Add(($"m{i}.scenario", bytes));
            }
            inputs.Add(("long-line.scenario", Encoding.UTF8.GetBytes("listen 127.0.0.1:8080\nconnect " + new string('A', 1 << 20) + " 127.0.0.1:8080\n")));
            inputs.Add(("many-lines.scenario", Encoding.UTF8.GetBytes(string.Concat(Enumerable.Repeat("bogus line\r\n", 100_000)))));
            foreach (var (name, bytes) in inputs)
            {
                var path = Path.Combine(dir.FullName, name);
                File.WriteAllBytes(path, bytes);
                using var stdout = new StringWriter();
                using var stderr = new StringWriter();
                var code = Program.Run(["simulate", path], stdout, stderr);
                codes[code] = codes.GetValueOrDefault(code) + 1;
                var err = stderr.ToString();
                if (code is not (ExitCode.Ok or ExitCode.Violation or ExitCode.BadInput))
                {
                    var text = Encoding.UTF8.GetString(bytes);
                    Assert.Fail($"seed {seed} {name}: exit {code}\n{err}\n--- input ---\n{text[..Math.Min(text.Length, 2000)]}");
                }
                var errorLines = err.Split('\n', StringSplitOptions.RemoveEmptyEntries);
                Assert.True(errorLines.Length <= ScenarioParser.MaxErrors + 1, $"seed {seed} {name}: {errorLines.Length} error lines");
                Assert.True(err.Length < 20_000, $"seed {seed} {name}: {err.Length} characters of errors");
                foreach (var line in errorLines)
                {
                    var positioned = line.StartsWith(path + ":", StringComparison.Ordinal) && PositionPrefix().IsMatch(line[(path.Length + 1)..]);
                    var wholeFile = line.StartsWith("ctmodel: ", StringComparison.Ordinal) && line.Contains(path, StringComparison.Ordinal);
                    Assert.True(positioned || wholeFile, $"seed {seed} {name}: error without a position: {line}");
                }
                if (code == ExitCode.BadInput) Assert.NotEmpty(errorLines);
            }
            output.WriteLine($"seed {seed}: {inputs.Count} inputs; exit codes {string.Join(", ", codes.OrderBy(kv => kv.Key).Select(kv => $"{(int)kv.Key}: {kv.Value}"))}");
            // The campaign must reach both the parser's errors and the model (inputs that still run).
            Assert.True(codes.GetValueOrDefault(ExitCode.BadInput) > count / 10, "too few rejected inputs");
            Assert.True(codes.GetValueOrDefault(ExitCode.Ok) + codes.GetValueOrDefault(ExitCode.Violation) > count / 10, "too few inputs that ran");
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    [GeneratedRegex(@"^\d+:\d+: ")]
    private static partial Regex PositionPrefix();

    private static byte[] RandomBytes(Random rng)
    {
        var b = new byte[rng.Next(0, 2000)];
        rng.NextBytes(b);
        return b;
    }
}
