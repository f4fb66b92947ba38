using ConntrackModel.Model.Iptables;

namespace ConntrackModel.Model.Conntrack;

/// <summary>The rarely present parts of a conntrack entry (<see cref="CtEntry"/>): one shared empty value for none.</summary>
internal sealed record CtExtension(string? MasqDevice, Iptables.IptRule? DnatRule, long UdpStreamTs)
{
    public static CtExtension None { get; } = new(null, null, 0);

    /// <summary><c>ct-&gt;mark</c> (CONFIG_NF_CONNTRACK_MARK): what CONNMARK wrote, 0 for a new entry.</summary>
    public uint Mark { get; init; }

    /// <summary>
    /// Extensions that name only a MASQUERADE device, one per device name: every MASQUERADEd entry of a node carries
    /// the same one, so it costs an entry a reference and not an object. Immutable values, so sharing them is invisible.
    /// </summary>
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, CtExtension> MasqOnly = new(StringComparer.Ordinal);

    /// <summary>This extension with the MASQUERADE device set, shared when that is all it holds.</summary>
    public CtExtension WithMasqDevice(string? device) =>
        device is not null && DnatRule is null && UdpStreamTs == 0 && Mark == 0
            ? MasqOnly.GetOrAdd(device, d => new CtExtension(d, null, 0))
            : this with { MasqDevice = device };
}
