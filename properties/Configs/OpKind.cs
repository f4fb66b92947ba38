namespace ConntrackModel.Properties.Configs;

/// <summary>The kinds of command a configuration's generator may produce (its operation alphabet).</summary>
public enum OpKind
{
    Listen,
    Connect,
    Send,
    Close,
    Abort,

    /// <summary><c>iptables -t nat -A/-I</c>: a conntrack-using rule starts tracking in the namespace.</summary>
    RuleAdd,

    /// <summary><c>iptables -t nat -D</c>: deleting the last rule stops tracking.</summary>
    RuleDelete,

    /// <summary><c>iptables -t nat -F</c>.</summary>
    RuleFlush,

    /// <summary><c>iptables -t nat -R</c>: a rule replaced; live entries keep the binding the old one chose.</summary>
    RuleReplace,

    /// <summary><c>conntrack -D</c> with a filter.</summary>
    ConntrackDelete,

    /// <summary><c>modprobe nf_conntrack</c>.</summary>
    Modprobe,

    /// <summary><c>conntrack -F</c>.</summary>
    ConntrackFlush,

    Sleep,

    /// <summary><c>sysctl -w</c> of conntrack settings (loose, established timeout).</summary>
    Sysctl,

    /// <summary>The <c>ip</c> commands that build a topology (namespaces, veth pairs, addresses, routes).</summary>
    Ip,

    /// <summary><c>iptables -t nat -N</c>: a user chain (no configuration generates it; scenarios may carry it).</summary>
    ChainNew,

    /// <summary><c>iptables -t nat -X</c>: user chains deleted.</summary>
    ChainDelete,

    /// <summary><c>iptables-restore</c> with a here-document (no configuration generates it; scenarios may carry it).</summary>
    Restore,

    /// <summary><c>iptables -P CHAIN POLICY</c> (no configuration generates it; scenarios may carry it).</summary>
    Policy,
}

/// <summary>Names and classification of <see cref="OpKind"/>.</summary>
public static class OpKinds
{
    public static string Name(OpKind k) => k switch
    {
        OpKind.Listen => "listen",
        OpKind.Connect => "connect",
        OpKind.Send => "send",
        OpKind.Close => "close",
        OpKind.Abort => "abort",
        OpKind.RuleAdd => "iptables -A/-I",
        OpKind.RuleDelete => "iptables -D",
        OpKind.RuleFlush => "iptables -F",
        OpKind.RuleReplace => "iptables -R",
        OpKind.ConntrackDelete => "conntrack -D",
        OpKind.Modprobe => "modprobe",
        OpKind.ConntrackFlush => "conntrack -F",
        OpKind.Sleep => "sleep",
        OpKind.Sysctl => "sysctl",
        OpKind.Ip => "ip",
        OpKind.ChainNew => "iptables -N",
        OpKind.ChainDelete => "iptables -X",
        OpKind.Restore => "iptables-restore",
        OpKind.Policy => "iptables -P",
        _ => throw new ArgumentOutOfRangeException(nameof(k)),
    };

    public static OpKind Of(Model.Scenarios.Command command) => command switch
    {
        Model.Scenarios.Command.Listen => OpKind.Listen,
        Model.Scenarios.Command.Connect => OpKind.Connect,
        Model.Scenarios.Command.Send => OpKind.Send,
        Model.Scenarios.Command.Close => OpKind.Close,
        Model.Scenarios.Command.Abort => OpKind.Abort,
        Model.Scenarios.Command.IptablesAdd => OpKind.RuleAdd,
        Model.Scenarios.Command.IptablesDelete => OpKind.RuleDelete,
        Model.Scenarios.Command.IptablesFlush => OpKind.RuleFlush,
        Model.Scenarios.Command.IptablesReplace => OpKind.RuleReplace,
        Model.Scenarios.Command.ConntrackDelete => OpKind.ConntrackDelete,
        Model.Scenarios.Command.Modprobe => OpKind.Modprobe,
        Model.Scenarios.Command.ConntrackFlush => OpKind.ConntrackFlush,
        Model.Scenarios.Command.Sleep => OpKind.Sleep,
        Model.Scenarios.Command.Sysctl => OpKind.Sysctl,
        Model.Scenarios.Command.IpCommand => OpKind.Ip,
        Model.Scenarios.Command.IptablesNewChain => OpKind.ChainNew,
        Model.Scenarios.Command.IptablesDeleteChain => OpKind.ChainDelete,
        Model.Scenarios.Command.IptablesRestore => OpKind.Restore,
        Model.Scenarios.Command.IptablesPolicy => OpKind.Policy,
        _ => throw new ArgumentOutOfRangeException(nameof(command)),
    };
}
