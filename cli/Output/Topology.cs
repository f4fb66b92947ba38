using System.Globalization;
using System.Text;
using ConntrackModel.Model.Kernel;
using ConntrackModel.Model.Net;

namespace ConntrackModel.Cli.Output;

/// <summary>The namespaces, their devices and addresses, the veth links and the routes: as text and as a Mermaid flowchart.</summary>
public static class Topology
{
    /// <summary>One block per namespace (devices as <c>ip -br addr</c> shows them, then its routes), then the links.</summary>
    public static string Text(World world)
    {
        ArgumentNullException.ThrowIfNull(world);
        var sb = new StringBuilder("topology:\n");
        foreach (var ns in world.Namespaces)
        {
            var forward = ns.Sysctls.IpForward ? ", forwarding" : "";
            var tracking = ns.Netfilter.Tracking ? ", conntrack on" : "";
            sb.AppendLine(CultureInfo.InvariantCulture, $"  {ns.Display}{forward}{tracking}");
            foreach (var d in ns.Devices)
            {
                var peer = d.Peer is { } p ? $"@{p.Device} ({world.Namespaces[p.Netns].Display})" : "";
                var addresses = d.Addresses.IsEmpty ? "" : " " + string.Join(" ", d.Addresses);
                sb.AppendLine(CultureInfo.InvariantCulture, $"    {d.Name}{peer} {(d.Up ? "UP" : "DOWN")}{addresses}");
            }
            foreach (var r in Fib.MainTable(ns)) sb.AppendLine(CultureInfo.InvariantCulture, $"    route {r}");
        }
        return sb.ToString();
    }

    /// <summary>A Mermaid flowchart: a subgraph per namespace with its devices, an edge per veth pair.</summary>
    public static string Mermaid(World world)
    {
        ArgumentNullException.ThrowIfNull(world);
        var sb = new StringBuilder("flowchart LR\n");
        foreach (var ns in world.Namespaces)
        {
            sb.AppendLine(CultureInfo.InvariantCulture, $"  subgraph ns{ns.Index}[\"{ns.Display}\"]");
            foreach (var d in ns.Devices)
            {
                if (d.Kind == DeviceKind.Loopback) continue;
                var addresses = d.Addresses.IsEmpty ? "" : "<br/>" + string.Join("<br/>", d.Addresses);
                sb.AppendLine(CultureInfo.InvariantCulture, $"    ns{ns.Index}_{Id(d.Name)}[\"{d.Name}{addresses}\"]");
            }
            sb.AppendLine("  end");
        }
        foreach (var ns in world.Namespaces)
        {
            foreach (var d in ns.Devices)
            {
                // Each pair once: from the end in the namespace with the lower index (or the lower name in one namespace).
                if (d.Peer is not { } p || p.Netns < ns.Index || (p.Netns == ns.Index && string.CompareOrdinal(p.Device, d.Name) < 0)) continue;
                sb.AppendLine(CultureInfo.InvariantCulture, $"  ns{ns.Index}_{Id(d.Name)} --- ns{p.Netns}_{Id(p.Device)}");
            }
        }
        return sb.ToString();
    }

    private static string Id(string device) => new([.. device.Select(c => char.IsAsciiLetterOrDigit(c) ? c : '_')]);
}
