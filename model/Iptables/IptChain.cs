namespace ConntrackModel.Model.Iptables;

/// <summary>
/// The built-in chains, each attached to the netfilter hook of the same name (<c>enum nf_inet_hooks</c>); which ones a
/// table has: <see cref="IptTables.Builtins"/>. The values index arrays: a new one goes at the end.
/// </summary>
public enum IptChain
{
    PreRouting,
    Input,
    Output,
    PostRouting,
    Forward,
}
