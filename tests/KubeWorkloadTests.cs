using ConntrackModel.Model.Choices;
using ConntrackModel.Model.Kernel;
using ConntrackModel.Model.Scenarios;

namespace ConntrackModel.Tests;

/// <summary>
/// The kube-proxy benchmark workload (<c>bench --workload kube</c>): its table has the rule count the benchmark reports,
/// and every connection reaches the backend its Service's DNAT names, through the pods' MASQUERADE.
/// </summary>
public class KubeWorkloadTests
{
    [Theory]
    [InlineData(12, 5)]
    [InlineData(30, 30)]
    public void EveryConnection_ReachesItsServicesBackend(int connections, int services)
    {
        var scenario = Run.Parse(KubeWorkload.Text(connections, services));
        var sim = Simulation.Run(scenario, ChoiceSource.Seeded(1));
        Assert.Null(sim.Rejected);
        Assert.Equal(KubeWorkload.Rules(services), sim.Final.Namespaces[0].Netfilter.Nat.Rules.Count);
        Assert.Empty(sim.Violations);
        var node = sim.Final.Conntrack.All.Where(e => e.Netns == 0).ToList();
        Assert.Equal(connections, node.Count);
        // Connection j goes to Service j mod S: each ClusterIP has its share of entries, each DNATed to the backend and MASQUERADEd.
        for (var sv = 0; sv < services; sv++)
        {
            var share = Enumerable.Range(0, connections).Count(j => j % services == sv);
            Assert.Equal(share, node.Count(e => e.Orig.Dst.Ip.ToString() == KubeWorkload.ClusterIp(sv)));
        }
        Assert.All(node, e => Assert.Equal(("192.168.1.20:80", "192.168.1.10"), (e.Reply.Src.ToString(), e.Reply.Dst.Ip.ToString())));
        Assert.All(sim.Final.Connections, c => Assert.Equal(ConnectResult.Established, c.Result));
    }
}
