using System.Globalization;

namespace ConntrackModel.Cli.Commands;

/// <summary>A small option reader: flags, valued options and positionals, with precise errors.</summary>
internal sealed class Options
{
    private readonly Dictionary<string, string?> _values = new(StringComparer.Ordinal);

    public List<string> Positionals { get; } = [];

    public string? Error { get; private set; }

    public static Options Parse(string[] args, IReadOnlySet<string> flags, IReadOnlySet<string> valued)
    {
        var o = new Options();
        for (var i = 0; i < args.Length; i++)
        {
            var a = args[i];
            if (flags.Contains(a))
            {
                o._values[a] = null;
            }
            else if (valued.Contains(a))
            {
                if (i + 1 >= args.Length)
                {
                    o.Error = $"option {a} needs a value";
                    return o;
                }
                o._values[a] = args[++i];
            }
            else if (a.StartsWith("--", StringComparison.Ordinal))
            {
                o.Error = $"unknown option '{a}'";
                return o;
            }
            else
            {
                o.Positionals.Add(a);
            }
        }
        return o;
    }

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
