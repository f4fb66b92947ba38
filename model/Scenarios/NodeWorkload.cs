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

    /// <summary>
    /// The UDP workload: the UDP node (the server a UDP socket on 192.168.1.20:53, one more port per
    /// <see cref="SnatWorkload.ConnectionsPerListener"/> flows), the pods' MASQUERADE rule from the start, then N ×
    /// (a UDP flow from an ephemeral port of pod 1 or pod 2 in turn, its datagram, the server's answer, close: a socket
    /// per query, as resolvers do, so a pod's ports last): node tracks, NATs and un-NATs every flow.
    /// </summary>
    public static string UdpText(int flows)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(flows, 1);
        var node = new NodeTopology(2, false) { Udp = true };
        var sb = new StringBuilder();
        foreach (var c in node.Setup()) sb.AppendLine(c.ToScript());
        var servers = (flows + SnatWorkload.ConnectionsPerListener - 1) / SnatWorkload.ConnectionsPerListener;
        for (var l = 1; l < servers; l++) sb.AppendLine(CultureInfo.InvariantCulture, $"ip netns exec server listen -u 192.168.1.20:{53 + l}");
        sb.AppendLine(node.Rule);
        for (var i = 0; i < flows; i++)
        {
            sb.AppendLine(CultureInfo.InvariantCulture, $"ip netns exec pod{1 + (i % 2)} connect -u C{i} 192.168.1.20:{53 + (i / SnatWorkload.ConnectionsPerListener)}");
            sb.AppendLine(CultureInfo.InvariantCulture, $"send C{i} q{i}");
            sb.AppendLine(CultureInfo.InvariantCulture, $"send C{i}.server r{i}");
            sb.AppendLine(CultureInfo.InvariantCulture, $"close C{i}");
        }
        return sb.ToString();
    }

    public static Scenario Scenario(int connections)
    {
        var parsed = ScenarioParser.Parse("bench-node", Text(connections));
        return parsed.Scenario ?? throw new InvalidOperationException(parsed.Errors[0].ToString());
    }
}
