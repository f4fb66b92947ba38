using System.Globalization;

namespace ConntrackModel.Properties.Checking;

/// <summary>
/// What FsCheck needs to regenerate one test case exactly: its random state (seed, gamma) and size. Printed
/// as <c>SEED,GAMMA,SIZE</c> and accepted by <c>ctmodel check --replay</c>.
/// </summary>
public readonly record struct ReplayToken(ulong Seed, ulong Gamma, int Size)
{
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Seed},{Gamma},{Size}");

    public static bool TryParse(string text, out ReplayToken token)
    {
        ArgumentNullException.ThrowIfNull(text);
        token = default;
        var p = text.Split(',');
        if (p.Length != 3) return false;
        if (!ulong.TryParse(p[0], NumberStyles.None, CultureInfo.InvariantCulture, out var s) ||
            !ulong.TryParse(p[1], NumberStyles.None, CultureInfo.InvariantCulture, out var g) || (g & 1) == 0 ||
            !int.TryParse(p[2], NumberStyles.None, CultureInfo.InvariantCulture, out var size)) return false;
        token = new ReplayToken(s, g, size);
        return true;
    }
}
