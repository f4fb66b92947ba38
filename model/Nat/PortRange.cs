using System.Globalization;

namespace ConntrackModel.Model.Nat;

/// <summary>An inclusive port range as <c>--sport</c>/<c>--dport</c> take it (<c>P</c> or <c>P:Q</c>).</summary>
public readonly record struct PortRange(int Min, int Max)
{
    public bool Contains(int port) => port >= Min && port <= Max;

    public override string ToString() => Min == Max ? Min.ToString(CultureInfo.InvariantCulture) : string.Create(CultureInfo.InvariantCulture, $"{Min}:{Max}");
}
