using System.Globalization;
using System.Text;

namespace ConntrackModel.Model.Scenarios;

/// <summary>
/// The benchmark workload: N connections behind a SNAT rule that starts tracking, one listener port per
/// <see cref="ConnectionsPerListener"/> connections (one 4-tuple's ephemeral range, 32768-60999, holds 28,232
/// connections to one server address; the model's port search, like <c>__inet_hash_connect</c>, slows as it fills),
/// then N × (connect from an ephemeral port, send).
/// </summary>
public static class SnatWorkload
{
    public const int ConnectionsPerListener = 10_000;

    public static string Text(int connections)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(connections, 1);
        var sb = new StringBuilder();
        var listeners = (connections + ConnectionsPerListener - 1) / ConnectionsPerListener;
        for (var l = 0; l < listeners; l++) sb.AppendLine(CultureInfo.InvariantCulture, $"listen 127.0.0.1:{8080 + l}");
        sb.AppendLine("iptables -t nat -A POSTROUTING -p tcp -d 127.0.0.1 -j SNAT --to-source 127.0.0.1");
        for (var i = 0; i < connections; i++)
        {
            sb.AppendLine(CultureInfo.InvariantCulture, $"connect C{i} 127.0.0.1:{8080 + (i / ConnectionsPerListener)}");
            sb.AppendLine(CultureInfo.InvariantCulture, $"send C{i} m{i}");
        }
        return sb.ToString();
    }

    public static Scenario Scenario(int connections)
    {
        var parsed = ScenarioParser.Parse("bench", Text(connections));
        return parsed.Scenario ?? throw new InvalidOperationException(parsed.Errors[0].ToString());
    }
}
