using System.Globalization;
using System.Text;

namespace ConntrackModel.Model.Scenarios;

/// <summary>
/// The node benchmark workload: the <see cref="NodeTopology"/> with two pods, the pods' MASQUERADE rule from the
/// start, one server port per <see cref="SnatWorkload.ConnectionsPerListener"/> connections, then N × (connect from
/// an ephemeral port of pod 1 or pod 2 in turn, send): every packet crosses two veth pairs and node's forwarding path
/// both ways, and node tracks and NATs every connection.
/// </summary>
public static class NodeWorkload
{
    public static string Text(int connections)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(connections, 1);
        var node = new NodeTopology(2, false);
        var sb = new StringBuilder();
        foreach (var c in node.Setup()) sb.AppendLine(c.ToScript());
        var listeners = (connections + SnatWorkload.ConnectionsPerListener - 1) / SnatWorkload.ConnectionsPerListener;
        for (var l = 1; l < listeners; l++) sb.AppendLine(CultureInfo.InvariantCulture, $"ip netns exec server listen 192.168.1.20:{80 + l}");
        sb.AppendLine(node.Rule);
        for (var i = 0; i < connections; i++)
        {
            sb.AppendLine(CultureInfo.InvariantCulture, $"ip netns exec pod{1 + (i % 2)} connect C{i} 192.168.1.20:{80 + (i / SnatWorkload.ConnectionsPerListener)}");
            sb.AppendLine(CultureInfo.InvariantCulture, $"send C{i} m{i}");
        }
        return sb.ToString();
    }

    public static Scenario Scenario(int connections)
    {
        var parsed = ScenarioParser.Parse("bench-node", Text(connections));
        return parsed.Scenario ?? throw new InvalidOperationException(parsed.Errors[0].ToString());
    }
}
