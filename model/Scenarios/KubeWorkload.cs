using System.Globalization;
using System.Text;

namespace ConntrackModel.Model.Scenarios;

/// <summary>
/// The kube-proxy benchmark workload: the <see cref="NodeTopology"/> with two pods, a nat table as kube-proxy writes it
/// for S ClusterIP Services (per Service a KUBE-SERVICES rule, a KUBE-MARK-MASQ rule and a jump in its KUBE-SVC chain, a
/// DNAT in its KUBE-SEP chain: four rules, so 500 Services make a table of about 2,000 rules), restored with one
/// <c>iptables-restore</c>, then N × (connect from an ephemeral port of pod 1 or pod 2 in turn to Service i mod S, send).
/// The nat table sees each connection's first packet, and PREROUTING walks KUBE-SERVICES rule by rule, as the kernel
/// does, to the connection's Service.
/// </summary>
public static class KubeWorkload
{
    /// <summary>Rules the table has besides the four per Service (PREROUTING, OUTPUT, POSTROUTING, KUBE-MARK-MASQ, KUBE-POSTROUTING's three, the pods' MASQUERADE).</summary>
    public const int BaseRules = 8;

    /// <summary>The nat table's rule count for <paramref name="services"/> Services.</summary>
    public static int Rules(int services) => BaseRules + (4 * services);

    /// <summary>Service <paramref name="i"/>'s ClusterIP: 10.96.0.0/16 in order.</summary>
    public static string ClusterIp(int i) => string.Create(CultureInfo.InvariantCulture, $"10.96.{(i + 1) / 256}.{(i + 1) % 256}");

    public static string Text(int connections, int services)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(connections, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(services, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(services, 60_000);
        var node = new NodeTopology(2, false);
        var sb = new StringBuilder();
        foreach (var c in node.Setup()) sb.AppendLine(c.ToScript());
        var ports = Math.Max(1, (connections + SnatWorkload.ConnectionsPerListener - 1) / SnatWorkload.ConnectionsPerListener);
        for (var l = 1; l < ports; l++) sb.AppendLine(CultureInfo.InvariantCulture, $"ip netns exec server listen 192.168.1.20:{80 + l}");
        sb.AppendLine("iptables-restore <<'EOF'");
        sb.AppendLine("*nat");
        foreach (var chain in new[] { "PREROUTING", "INPUT", "OUTPUT", "POSTROUTING" }) sb.AppendLine(CultureInfo.InvariantCulture, $":{chain} ACCEPT [0:0]");
        sb.AppendLine(":KUBE-SERVICES - [0:0]");
        sb.AppendLine(":KUBE-MARK-MASQ - [0:0]");
        sb.AppendLine(":KUBE-POSTROUTING - [0:0]");
        for (var i = 0; i < services; i++)
        {
            sb.AppendLine(CultureInfo.InvariantCulture, $":KUBE-SVC-{i} - [0:0]");
            sb.AppendLine(CultureInfo.InvariantCulture, $":KUBE-SEP-{i} - [0:0]");
        }
        sb.AppendLine("-A PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES");
        sb.AppendLine("-A OUTPUT -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES");
        sb.AppendLine("-A POSTROUTING -m comment --comment \"kubernetes postrouting rules\" -j KUBE-POSTROUTING");
        sb.AppendLine("-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000");
        sb.AppendLine("-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN");
        sb.AppendLine("-A KUBE-POSTROUTING -j MARK --set-xmark 0x4000/0x0");
        sb.AppendLine("-A KUBE-POSTROUTING -j MASQUERADE --random-fully");
        sb.AppendLine("-A POSTROUTING -s 10.244.0.0/16 -o eth1 -j MASQUERADE");
        for (var i = 0; i < services; i++)
        {
            var ip = ClusterIp(i);
            sb.AppendLine(CultureInfo.InvariantCulture, $"-A KUBE-SERVICES -d {ip}/32 -p tcp -m comment --comment \"default/svc{i}:http cluster IP\" -m tcp --dport 80 -j KUBE-SVC-{i}");
            sb.AppendLine(CultureInfo.InvariantCulture, $"-A KUBE-SVC-{i} ! -s 10.244.0.0/16 -d {ip}/32 -p tcp -m tcp --dport 80 -j KUBE-MARK-MASQ");
            sb.AppendLine(CultureInfo.InvariantCulture, $"-A KUBE-SVC-{i} -j KUBE-SEP-{i}");
            sb.AppendLine(CultureInfo.InvariantCulture, $"-A KUBE-SEP-{i} -p tcp -m tcp -j DNAT --to-destination 192.168.1.20:{80 + (i % ports)}");
        }
        sb.AppendLine("COMMIT");
        sb.AppendLine("EOF");
        for (var j = 0; j < connections; j++)
        {
            sb.AppendLine(CultureInfo.InvariantCulture, $"ip netns exec pod{1 + (j % 2)} connect C{j} {ClusterIp(j % services)}:80");
            sb.AppendLine(CultureInfo.InvariantCulture, $"send C{j} m{j}");
        }
        return sb.ToString();
    }
}
