using System.Globalization;

namespace ConntrackModel.Cli.Commands;

/// <summary>The options a command was given (parsed by <see cref="CommandLine.CliParser"/>), read with precise errors.</summary>
public sealed class Options
{
    private readonly Dictionary<string, string?> _values = new(StringComparer.Ordinal);

    public List<string> Positionals { get; } = [];

    public string? Error { get; private set; }

    /// <summary>The options and arguments the command line parser found (names with their values, flags with null).</summary>
    public static Options From(IEnumerable<(string Name, string? Value)> given, IEnumerable<string> positionals)
    {
        ArgumentNullException.ThrowIfNull(given);
        ArgumentNullException.ThrowIfNull(positionals);
        var o = new Options();
        foreach (var (name, value) in given) o._values[name] = value;
        o.Positionals.AddRange(positionals);
        return o;
    }

    /// <summary>How many options were given.</summary>
    public int Count => _values.Count;

    public bool Has(string flag) => _values.ContainsKey(flag);

    /// <summary>A path option, or the default; sets <see cref="Error"/> when it is given empty.</summary>
    public string Path(string name, string fallback)
    {
        var v = Value(name);
        if (v is null) return fallback;
        if (v.Trim().Length == 0) Error = $"option {name} expects a path, got an empty one";
        return v;
    }

    /// <summary>Sets <see cref="Error"/> if any of <paramref name="names"/> was given: they do not apply in this mode.</summary>
    public void Refuse(IEnumerable<string> names, string why)
    {
        if (Error is null && names.FirstOrDefault(Has) is { } n) Error = $"option {n} {why}";
    }

    public string? Value(string name) => _values.GetValueOrDefault(name);

    /// <summary>A non-negative integer option, or the default; sets <see cref="Error"/> when malformed.</summary>
    public long Number(string name, long fallback, long min, long max)
    {
        var v = Value(name);
        if (v is null) return fallback;
        if (long.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n >= min && n <= max) return n;
        Error = $"option {name} expects a whole number from {min} to {max}, got '{v}'";
        return fallback;
    }
}
