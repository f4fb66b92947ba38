namespace ConntrackModel.Model.Iptables;

/// <summary>
/// The iptables tables the model has (<c>iptable_nat</c>, <c>iptable_filter</c>, <c>iptable_raw</c>,
/// <c>iptable_mangle</c>; with iptables-nft, an nf_tables table of that name whose base chains have the same hooks and
/// priorities).
/// </summary>
public enum IptTable
{
    Nat,
    Filter,
    Raw,
    Mangle,
}

/// <summary>Tables' names and built-in chains, as iptables spells them.</summary>
public static class IptTables
{
    /// <summary>The table's name after <c>-t</c> and <c>*</c> in a dump.</summary>
    public static string Name(this IptTable table) => table switch
    {
        IptTable.Nat => "nat",
        IptTable.Filter => "filter",
        IptTable.Raw => "raw",
        IptTable.Mangle => "mangle",
        _ => throw new ArgumentOutOfRangeException(nameof(table)),
    };

    /// <summary>The table called <paramref name="name"/>, if the model has it.</summary>
    public static IptTable? Parse(string name) => name switch
    {
        "nat" => IptTable.Nat,
        "filter" => IptTable.Filter,
        "raw" => IptTable.Raw,
        "mangle" => IptTable.Mangle,
        _ => null,
    };

    /// <summary>
    /// The table's built-in chains, in the order <c>iptables -S</c> lists them (<c>nf_nat_ipv4_ops</c>: PRE_ROUTING,
    /// LOCAL_IN, LOCAL_OUT, POST_ROUTING; <c>FILTER_VALID_HOOKS</c>: LOCAL_IN, FORWARD, LOCAL_OUT; <c>RAW_VALID_HOOKS</c>:
    /// PRE_ROUTING, LOCAL_OUT; <c>MANGLE_VALID_HOOKS</c>: all five).
    /// </summary>
    public static IReadOnlyList<IptChain> Builtins(this IptTable table) => table switch
    {
        IptTable.Nat => NatChains,
        IptTable.Filter => FilterChains,
        IptTable.Raw => RawChains,
        _ => MangleChains,
    };

    private static readonly IptChain[] MangleChains = [IptChain.PreRouting, IptChain.Input, IptChain.Forward, IptChain.Output, IptChain.PostRouting];

    private static readonly IptChain[] RawChains = [IptChain.PreRouting, IptChain.Output];

    private static readonly IptChain[] NatChains = [IptChain.PreRouting, IptChain.Input, IptChain.Output, IptChain.PostRouting];

    private static readonly IptChain[] FilterChains = [IptChain.Input, IptChain.Forward, IptChain.Output];

    /// <summary>The table's built-in chain called <paramref name="name"/>, if it is one.</summary>
    public static IptChain? Builtin(this IptTable table, string name)
    {
        foreach (var c in table.Builtins())
        {
            if (IptRule.BuiltinName(c) == name) return c;
        }
        return null;
    }
}
