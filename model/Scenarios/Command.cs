using System.Globalization;
using ConntrackModel.Model.Addressing;
using ConntrackModel.Model.Nat;

namespace ConntrackModel.Model.Scenarios;

/// <summary>One line of a scenario script: what a user would type in the shell session.</summary>
public abstract record Command
{
    private Command()
    {
    }

    /// <summary>The command as it would be written in a scenario script.</summary>
    public abstract string ToScript();

    public override string ToString() => ToScript();

    /// <summary><c>listen IP:PORT</c>: a listening socket that accepts every connection.</summary>
    public sealed record Listen(SockAddr Address) : Command
    {
        public override string ToScript() => $"listen {Address}";
    }

    /// <summary><c>connect NAME [LOCAL] REMOTE</c>: bind (if LOCAL is given) and a blocking connect.</summary>
    public sealed record Connect(string Name, SockAddr? Local, SockAddr Remote) : Command
    {
        public override string ToScript() => Local is { } l ? $"connect {Name} {l} {Remote}" : $"connect {Name} {Remote}";
    }

    /// <summary><c>send END LABEL</c>: END is a connection name (client end) or NAME.server (accepted end).</summary>
    public sealed record Send(string End, string Label) : Command
    {
        public override string ToScript() => $"send {End} {Label}";
    }

    /// <summary><c>close END</c>.</summary>
    public sealed record Close(string End) : Command
    {
        public override string ToScript() => $"close {End}";
    }

    /// <summary><c>abort END</c>: SO_LINGER {1, 0} then close, so the kernel sends RST.</summary>
    public sealed record Abort(string End) : Command
    {
        public override string ToScript() => $"abort {End}";
    }

    /// <summary><c>iptables -t nat -A CHAIN ...</c> or <c>-I CHAIN [N] ...</c> (Position 1-based; null appends).</summary>
    public sealed record IptablesAdd(NatRule Rule, int? Position) : Command
    {
        public override string ToScript() => Position is { } p
            ? string.Create(CultureInfo.InvariantCulture, $"iptables -t nat -I {ChainName(Rule.Chain)} {p} {Rule.Spec}")
            : $"iptables -t nat -A {ChainName(Rule.Chain)} {Rule.Spec}";
    }

    /// <summary><c>iptables -t nat -D CHAIN RULE</c> (Rule given) or <c>-D CHAIN N</c> (Index given, 1-based).</summary>
    public sealed record IptablesDelete(NatChain Chain, NatRule? Rule, int? Index) : Command
    {
        public override string ToScript() => Rule is not null
            ? $"iptables -t nat -D {ChainName(Chain)} {Rule.Spec}"
            : string.Create(CultureInfo.InvariantCulture, $"iptables -t nat -D {ChainName(Chain)} {Index}");
    }

    /// <summary><c>iptables -t nat -F [CHAIN]</c>.</summary>
    public sealed record IptablesFlush(NatChain? Chain) : Command
    {
        public override string ToScript() => Chain is { } c ? $"iptables -t nat -F {ChainName(c)}" : "iptables -t nat -F";
    }

    /// <summary><c>modprobe nf_conntrack</c>: in a namespace, a conntrack user that never goes away.</summary>
    public sealed record Modprobe : Command
    {
        public override string ToScript() => "modprobe nf_conntrack";
    }

    /// <summary><c>conntrack -F</c>: delete every entry of the namespace.</summary>
    public sealed record ConntrackFlush : Command
    {
        public override string ToScript() => "conntrack -F";
    }

    /// <summary><c>sysctl -w KEY=VALUE</c>, validated by the parser.</summary>
    public sealed record Sysctl(string Key, string Value) : Command
    {
        public override string ToScript() => Value.Contains(' ', StringComparison.Ordinal) ? $"sysctl -w {Key}=\"{Value}\"" : $"sysctl -w {Key}={Value}";
    }

    /// <summary><c>sleep SECONDS</c>: time passes; timers fire, entries expire.</summary>
    public sealed record Sleep(long Milliseconds) : Command
    {
        public override string ToScript() => string.Create(CultureInfo.InvariantCulture, $"sleep {Milliseconds / 1000.0:0.###}");
    }

    public static string ChainName(NatChain c) => c switch
    {
        NatChain.PreRouting => "PREROUTING",
        NatChain.Input => "INPUT",
        NatChain.Output => "OUTPUT",
        NatChain.PostRouting => "POSTROUTING",
        _ => throw new ArgumentOutOfRangeException(nameof(c)),
    };
}
