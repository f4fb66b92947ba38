namespace ConntrackModel.Model.Net;

/// <summary>
/// A hash key qualified by its namespace: the kernel keeps one conntrack hash and one set of socket hashes for all
/// namespaces and compares the namespace with the key (<c>nf_ct_key_equal</c>: <c>net_eq(net, nf_ct_net(h))</c>;
/// <c>inet_match</c>: <c>net_eq(sock_net(sk), net)</c>). The model's tables do the same.
/// </summary>
public readonly record struct NetKey<T>(int Netns, T Key)
    where T : struct, IEquatable<T>
{
    public bool Equals(NetKey<T> other) => Netns == other.Netns && Key.Equals(other.Key);

    public override int GetHashCode() => Key.GetHashCode() ^ (Netns * 397);
}
