using System.Collections.Frozen;
using System.Collections.Immutable;
using System.Globalization;
using ConntrackModel.Model.Addressing;
using ConntrackModel.Model.Conntrack;
using ConntrackModel.Model.Iptables;
using ConntrackModel.Model.Kernel;
using ConntrackModel.Model.Nat;

namespace ConntrackModel.Model.Scenarios;

/// <summary>
/// Reads scenario scripts: one command a line, <c>#</c> starts a comment, double quotes group words.
/// Every error names file, line and column and says what was expected there.
/// </summary>
/// <remarks>
/// <para>
/// The <c>ip</c> (iproute2) subset, in ip's own syntax. Objects and subcommands may be abbreviated as ip resolves
/// them (the first of ip's names that the word begins: <c>a</c>/<c>addr</c>/<c>address</c>, <c>r</c>/<c>ro</c>/<c>route</c>,
/// <c>l</c>/<c>link</c>, <c>netns</c>; <c>del</c> for <c>delete</c>):
/// </para>
/// <list type="bullet">
/// <item><c>ip netns add NAME</c></item>
/// <item><c>ip link add NAME [netns NS] type veth peer [name] NAME2 [netns NS2]</c> (<c>name NAME</c> or <c>dev NAME</c> also name the first end)</item>
/// <item><c>ip link set [dev] DEV up|down|netns NS</c> (one change a line)</item>
/// <item><c>ip addr add|del [local] ADDR[/LEN] dev DEV</c> (no LEN: /32)</item>
/// <item><c>ip route add|del [to] default|PREFIX[/LEN] [via GW] [dev DEV]</c> (add: at least one of via and dev; no LEN: /32;
/// host bits set in PREFIX are refused as the kernel refuses them)</item>
/// <item><c>ip netns exec NS COMMAND...</c>: any command of the script, run in NS (<see cref="Command.Netns"/>)</item>
/// <item><c>ip -n NS OBJECT ...</c> (also <c>-netns NS</c>): an ip command run in NS</item>
/// </list>
/// <para>
/// Anything else of ip's (other objects, subcommands, options, link types, route types and attributes) is an error
/// that names it as unsupported, never ignored; a namespace switch inside another is an error. Names are checked as
/// ip and the kernel check them (a device name is 1-15 bytes without '/', ':' or whitespace and not '.' or '..'; a
/// netns name is 1-255 bytes without '/' and not '.' or '..'), not whether they exist: the kernel step does that when
/// the command runs.
/// </para>
/// </remarks>
public static partial class ScenarioParser
{
    private sealed record Token(string Text, int Column);

    private sealed class ParseException(int column, string message) : Exception(message)
    {
        public int Column { get; } = column;
    }

    public static ParseResult Parse(string file, string text) => Parse(file, text, null);

    /// <summary>
    /// <see cref="Parse(string, string)"/> with a way to read the files <c>iptables-restore FILE</c> names
    /// (<paramref name="include"/>: the path as written → the name to report errors under, and the text or why it
    /// cannot be read). The model reads no file itself: the caller, at the edge, does.
    /// </summary>
    public static ParseResult Parse(string file, string text, Func<string, (string Display, string? Text, string? Error)>? include)
    {
        ArgumentNullException.ThrowIfNull(file);
        ArgumentNullException.ThrowIfNull(text);
        var lines = ImmutableList.CreateBuilder<ScenarioLine>();
        var errors = ImmutableList.CreateBuilder<ParseError>();
        var choices = ImmutableSortedDictionary.CreateBuilder<string, int>(StringComparer.Ordinal);
        var pinnedAt = ImmutableSortedDictionary.CreateBuilder<string, SourcePosition>(StringComparer.Ordinal);
        var optIn = ImmutableSortedSet.CreateBuilder<Diagnostics.InvariantId>();
        var rawLines = text.Replace("\r\n", "\n", StringComparison.Ordinal).Split('\n');
        var more = 0;
        ParseError? firstMore = null;
        for (var i = 0; i < rawLines.Length; i++)
        {
            var raw = rawLines[i];
            if (errors.Count >= MaxErrors)
            {
                // Past the limit, lines are still read so the count of the rest is exact.
                var extra = TryLine(file, i, raw, lines, choices, pinnedAt, optIn);
                if (extra is not null)
                {
                    firstMore ??= extra;
                    more++;
                }
                continue;
            }
            // iptables-restore takes the lines of its here-document with it.
            var restored = TryRestore(file, rawLines, i, lines, errors, include);
            if (restored >= 0)
            {
                i = restored;
                continue;
            }
            if (TryLine(file, i, raw, lines, choices, pinnedAt, optIn) is { } error) errors.Add(error);
        }
        if (firstMore is not null)
            errors.Add(firstMore with { Message = string.Create(CultureInfo.InvariantCulture, $"{more} more error{(more == 1 ? "" : "s")} from here on not shown (only the first {MaxErrors} are)") });
        return errors.Count > 0
            ? new ParseResult(null, errors.ToImmutable())
            : new ParseResult(new Scenario(file, lines.ToImmutable()) { Choices = choices.ToImmutable(), PinnedAt = pinnedAt.ToImmutable(), Invariants = optIn.ToImmutable() }, []);
    }

    /// <summary>How many errors a parse reports before it only counts the rest.</summary>
    public const int MaxErrors = 20;

    /// <summary>Longest line read (64 KiB): a longer one is an error, not a token to echo.</summary>
    public const int MaxLineLength = 65536;

    /// <summary>How much of a token an error message echoes.</summary>
    public const int MaxEcho = 40;

    /// <summary>
    /// A token as error messages quote it: at most <see cref="MaxEcho"/> characters, control characters escaped, so
    /// a megabyte of garbage or a NUL byte never lands on the terminal whole.
    /// </summary>
    public static string Q(string token)
    {
        ArgumentNullException.ThrowIfNull(token);
        return Quote(token, '\'');
    }

    /// <summary><see cref="Q"/> with another quotation mark (iproute2 quotes with <c>"</c>).</summary>
    private static string Quote(string token, char mark) =>
        token.Length > MaxEcho
            ? string.Create(CultureInfo.InvariantCulture, $"{mark}{Escape(token)}{mark}... ({token.Length} characters)")
            : $"{mark}{Escape(token)}{mark}";

    /// <summary>The first <see cref="MaxEcho"/> characters of a token, control characters escaped.</summary>
    private static string Escape(string token)
    {
        var sb = new System.Text.StringBuilder();
        foreach (var c in token.Length > MaxEcho ? token[..MaxEcho] : token)
        {
            if (char.IsControl(c)) sb.Append(CultureInfo.InvariantCulture, $"\\u{(int)c:x4}");
            else sb.Append(c);
        }
        return sb.ToString();
    }

    /// <summary>Reads one line into <paramref name="lines"/> or <paramref name="choices"/>; returns its error, if any.</summary>
    private static ParseError? TryLine(string file, int i, string raw, ImmutableList<ScenarioLine>.Builder lines,
        ImmutableSortedDictionary<string, int>.Builder choices, ImmutableSortedDictionary<string, SourcePosition>.Builder pinnedAt,
        ImmutableSortedSet<Diagnostics.InvariantId>.Builder optIn)
    {
        if (raw.Length > MaxLineLength)
            return new ParseError(file, i + 1, 1, string.Create(CultureInfo.InvariantCulture, $"line is {raw.Length} characters long: the limit is {MaxLineLength}"));
        try
        {
            var tokens = Tokenize(raw);
            if (tokens.Count == 0) return null;
            if (tokens[0].Text == "invariant")
            {
                Arity(tokens, 2, 2, "invariant NAME (turns on an opt-in invariant: " + string.Join(", ", Diagnostics.Invariants.OptIn.Select(Diagnostics.Invariants.Name).Order(StringComparer.Ordinal)) + ")");
                if (!Diagnostics.Invariants.TryParse(tokens[1].Text, out var id) || !Diagnostics.Invariants.OptIn.Contains(id))
                    throw new ParseException(tokens[1].Column, $"unknown opt-in invariant {Q(tokens[1].Text)}: expected one of " +
                        string.Join(", ", Diagnostics.Invariants.OptIn.Select(Diagnostics.Invariants.Name).Order(StringComparer.Ordinal)) + " (the others are always checked)");
                optIn.Add(id);
                return null;
            }
            if (tokens[0].Text == "choose")
            {
                var (key, value) = Choose(tokens);
                if (!choices.TryAdd(key, value)) throw new ParseException(tokens[1].Column, $"choice {Q(key)} is already pinned on an earlier line");
                pinnedAt[key] = new SourcePosition(i + 1, tokens[1].Column);
                return null;
            }
            lines.Add(new ScenarioLine(i + 1, raw.Trim(), ParseCommand(tokens, raw)) { Column = tokens[0].Column });
            return null;
        }
        catch (ParseException e)
        {
            return new ParseError(file, i + 1, e.Column, e.Message);
        }
    }

    /// <summary>Parses one command line (no comment handling beyond the trailing <c>#</c>).</summary>
    public static Command ParseLine(string line)
    {
        ArgumentNullException.ThrowIfNull(line);
        var r = Parse("<line>", line);
        if (!r.Ok) throw new FormatException(r.Errors[0].ToString());
        return r.Scenario!.Lines.Single().Command;
    }

    /// <summary>
    /// <paramref name="line"/> split into words as the scenario language (and the shell, for what it uses) splits
    /// them: at white space, a quoted string one word without its quotes, a <c>#</c> outside quotes ending the line.
    /// What the kernel replay hands to <c>execve</c>, so that <c>--log-prefix "a b: "</c> reaches iptables as one argument.
    /// </summary>
    public static IReadOnlyList<string> Words(string line)
    {
        ArgumentNullException.ThrowIfNull(line);
        return [.. Tokenize(line).Select(t => t.Text)];
    }

    private static List<Token> Tokenize(string line)
    {
        var tokens = new List<Token>();
        var i = 0;
        while (i < line.Length)
        {
            if (char.IsWhiteSpace(line[i]))
            {
                i++;
                continue;
            }
            if (line[i] == '#') break;
            var start = i;
            if (line[i] == '"')
            {
                var close = line.IndexOf('"', i + 1);
                if (close < 0) throw new ParseException(start + 1, "unterminated quoted string: expected a closing '\"'");
                tokens.Add(new Token(line[(i + 1)..close], start + 1));
                i = close + 1;
                continue;
            }
            var sb = new System.Text.StringBuilder();
            while (i < line.Length && !char.IsWhiteSpace(line[i]))
            {
                if (line[i] == '"')
                {
                    // KEY="a b": the quotes group, as in the shell.
                    var close = line.IndexOf('"', i + 1);
                    if (close < 0) throw new ParseException(i + 1, "unterminated quoted string: expected a closing '\"'");
                    sb.Append(line, i + 1, close - i - 1);
                    i = close + 1;
                    continue;
                }
                sb.Append(line[i]);
                i++;
            }
            tokens.Add(new Token(sb.ToString(), start + 1));
        }
        return tokens;
    }

    /// <summary>
    /// <c>choose KEY VALUE</c>: pins the answer to one choice point (as <c>simulate</c> prints it, e.g.
    /// <c>ephemeral:B</c>, <c>nat:src:B#1:port</c> or <c>order@3000#0</c>); values beyond the point's arity are clamped
    /// when it is asked.
    /// </summary>
    private static (string Key, int Value) Choose(List<Token> t)
    {
        Arity(t, 3, 3, "choose KEY VALUE (e.g. choose ephemeral:B 0)");
        var key = t[1].Text;
        if (!(key.StartsWith("ephemeral:", StringComparison.Ordinal) || key.StartsWith("nat:", StringComparison.Ordinal) || key.StartsWith("order@", StringComparison.Ordinal)))
            throw new ParseException(t[1].Column, $"unknown choice key {Q(key)}: expected ephemeral:NAME, nat:src|dst:END#N:port|addr|offR or order@MS#N");
        if (!int.TryParse(t[2].Text, NumberStyles.None, CultureInfo.InvariantCulture, out var v))
            throw new ParseException(t[2].Column, $"expected VALUE as a non-negative integer, got {Q(t[2].Text)}");
        return (key, v);
    }

    private const string Commands = "listen, connect, send, close, abort, iptables, ip, modprobe, conntrack, sysctl, sleep, choose";

    /// <summary>
    /// One command: <paramref name="t"/> starts with its verb. <paramref name="within"/> is the namespace switch the
    /// command is wrapped in (<c>ip netns exec NS</c>), null at the top level; a second switch inside is an error.
    /// </summary>
    private static Command ParseCommand(List<Token> t, string raw, string? within = null)
    {
        var verb = t[0];
        switch (verb.Text)
        {
            case "listen":
                var udpListen = t.Count > 1 && t[1].Text == "-u";
                Arity(t, udpListen ? 3 : 2, udpListen ? 3 : 2, "listen [-u] IP:PORT");
                if (udpListen) t = [t[0], .. t.Skip(2)];
                return new Command.Listen(Addr(t[1])) { Proto = udpListen ? L4Proto.Udp : L4Proto.Tcp };
            case "connect":
                var udpConnect = t.Count > 1 && t[1].Text == "-u";
                var shift = udpConnect ? 1 : 0;
                Arity(t, 3 + shift, 4 + shift, "connect [-u] NAME [LOCAL_IP:PORT] REMOTE_IP:PORT");
                if (udpConnect) t = [t[0], .. t.Skip(2)];
                var name = Name(t[1]);
                var connect = t.Count == 4 ? new Command.Connect(name, Addr(t[2]), Addr(t[3])) : new Command.Connect(name, null, Addr(t[2]));
                return connect with { Proto = udpConnect ? L4Proto.Udp : L4Proto.Tcp };
            case "send":
                Arity(t, 3, 3, "send END LABEL (END is NAME or NAME.server; LABEL one word or quoted)");
                if (t[2].Text.Length == 0) throw new ParseException(t[2].Column, "expected a non-empty LABEL");
                return new Command.Send(End(t[1]), t[2].Text);
            case "close":
                Arity(t, 2, 2, "close END");
                return new Command.Close(End(t[1]));
            case "abort":
                Arity(t, 2, 2, "abort END");
                return new Command.Abort(End(t[1]));
            case "modprobe":
                Arity(t, 2, 2, "modprobe nf_conntrack");
                if (t[1].Text != "nf_conntrack") throw new ParseException(t[1].Column, $"unsupported module {Q(t[1].Text)}: expected nf_conntrack");
                return new Command.Modprobe();
            case "conntrack":
                if (t.Count < 2) throw new ParseException(t[0].Column + t[0].Text.Length + 1, "missing argument: expected conntrack -F or conntrack -D [FILTER]");
                if (t[1].Text is "-D" or "--delete") return ConntrackDelete(t);
                Arity(t, 2, 2, "conntrack -F");
                if (t[1].Text is not ("-F" or "--flush"))
                    throw new ParseException(t[1].Column, $"unsupported conntrack option {Q(t[1].Text)}: expected -F or -D (observations are printed at the end)");
                return new Command.ConntrackFlush();
            case "sysctl":
                return Sysctl(t);
            case "sleep":
                Arity(t, 2, 2, "sleep SECONDS");
                if (!decimal.TryParse(t[1].Text, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var secs) || secs > 86400m * 365)
                    throw new ParseException(t[1].Column, $"expected SECONDS as a non-negative number (e.g. 3.5), got {Q(t[1].Text)}");
                return new Command.Sleep((long)Math.Round(secs * 1000m));
            case "iptables":
                return Iptables(t, raw);
            case "ip":
                return Ip(t, raw, within);
            case "choose":
                // Only reached inside ip netns exec: a top-level choose line is read before commands are.
                throw new ParseException(verb.Column, "'choose' pins a choice of the whole scenario: it is not a command and cannot run in a namespace");
            default:
                throw new ParseException(verb.Column, $"unknown command {Q(verb.Text)}: expected one of {Commands}");
        }
    }

    private const string ConntrackDeleteUsage =
        "conntrack -D [-p tcp|udp] [-s|--orig-src IP] [-d|--orig-dst IP] [--sport PORT] [--dport PORT] [-r|--reply-src IP] [-q|--reply-dst IP]";

    /// <summary><c>conntrack -D</c> with conntrack-tools' filter options (each at most once; ports need <c>-p</c>, as conntrack says).</summary>
    private static Command.ConntrackDelete ConntrackDelete(List<Token> t)
    {
        L4Proto? proto = null;
        IPv4Address? origSrc = null, origDst = null, replySrc = null, replyDst = null;
        int? sport = null, dport = null;
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 2; i < t.Count; i++)
        {
            var tok = t[i];
            var canonical = tok.Text switch
            {
                "-p" or "--proto" => "-p",
                "-s" or "--orig-src" or "--src" => "-s",
                "-d" or "--orig-dst" or "--dst" => "-d",
                "--sport" or "--orig-port-src" => "--sport",
                "--dport" or "--orig-port-dst" => "--dport",
                "-r" or "--reply-src" => "-r",
                "-q" or "--reply-dst" => "-q",
                _ => throw new ParseException(tok.Column, $"unsupported conntrack option {Q(tok.Text)}: expected {ConntrackDeleteUsage}"),
            };
            if (!seen.Add(canonical)) throw new ParseException(tok.Column, $"option {Q(tok.Text)} given twice");
            var value = Next(t, ref i, canonical is "-p" ? "tcp or udp" : canonical.EndsWith("port", StringComparison.Ordinal) ? "a PORT" : "an IP address");
            switch (canonical)
            {
                case "-p":
                    proto = value.Text switch
                    {
                        "tcp" => L4Proto.Tcp,
                        "udp" => L4Proto.Udp,
                        _ => throw new ParseException(value.Column, $"unsupported protocol {Q(value.Text)}: expected tcp or udp"),
                    };
                    break;
                case "--sport" or "--dport":
                    // conntrack-tools parses the port options only once -p named a protocol: "unknown option `--dport'" otherwise (measured, 1.4.7).
                    if (proto is null) throw new ParseException(tok.Column, $"conntrack: unknown option `{tok.Text}' (give -p tcp or -p udp before it)");
                    if (!SockAddr.TryParsePort(value.Text, out var port)) throw new ParseException(value.Column, $"expected a PORT 1-65535, got {Q(value.Text)}");
                    if (canonical == "--sport") sport = port;
                    else dport = port;
                    break;
                default:
                    if (!IPv4Address.TryParse(value.Text, out var ip)) throw new ParseException(value.Column, $"expected an IPv4 address, got {Q(value.Text)}");
                    switch (canonical)
                    {
                        case "-s": origSrc = ip; break;
                        case "-d": origDst = ip; break;
                        case "-r": replySrc = ip; break;
                        default: replyDst = ip; break;
                    }
                    break;
            }
        }
        return new Command.ConntrackDelete(new CtFilter(proto, origSrc, origDst, sport, dport, replySrc, replyDst));
    }

    private static void Arity(List<Token> t, int min, int max, string usage)
    {
        if (t.Count < min) throw new ParseException(t[^1].Column + t[^1].Text.Length + 1, $"missing argument: expected {usage}");
        if (t.Count > max) throw new ParseException(t[max].Column, $"unexpected {Q(t[max].Text)}: expected {usage}");
    }

    private static SockAddr Addr(Token tok)
    {
        if (!SockAddr.TryParse(tok.Text, out var a)) throw new ParseException(tok.Column, $"expected IP:PORT (e.g. 127.0.0.1:8080, port 1-65535), got {Q(tok.Text)}");
        return a;
    }

    private static string Name(Token tok)
    {
        var ok = tok.Text.Length > 0 && char.IsAsciiLetter(tok.Text[0]) && tok.Text.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-');
        if (!ok) throw new ParseException(tok.Column, $"expected a connection NAME (letters, digits, '_' or '-', starting with a letter), got {Q(tok.Text)}");
        return tok.Text;
    }

    private static string End(Token tok)
    {
        var text = tok.Text;
        var baseName = text.EndsWith(".server", StringComparison.Ordinal) ? text[..^".server".Length] : text;
        _ = Name(tok with { Text = baseName });
        return text;
    }

    private static Command.Sysctl Sysctl(List<Token> t)
    {
        Arity(t, 3, 3, "sysctl -w KEY=VALUE");
        if (t[1].Text != "-w") throw new ParseException(t[1].Column, $"expected -w, got {Q(t[1].Text)}");
        var kv = t[2].Text;
        var eq = kv.IndexOf('=', StringComparison.Ordinal);
        if (eq <= 0) throw new ParseException(t[2].Column, $"expected KEY=VALUE, got {Q(kv)}");
        var key = kv[..eq];
        var value = kv[(eq + 1)..].Trim();
        if (SysctlKeys.Validate(key, value) is { } err)
            throw new ParseException(SysctlKeys.Supported.Contains(key) ? t[2].Column + eq + 1 : t[2].Column, err.StartsWith("sysctl:", StringComparison.Ordinal) || !SysctlKeys.Supported.Contains(key) ? err : $"{key}: {err}");
        return new Command.Sysctl(key, value);
    }

    // ------------------------------------------------------------ iptables

    private static Command Iptables(List<Token> t, string raw)
    {
        var i = 1;
        var table = IptTable.Filter;
        Token? op = null;
        IptChain? chain = null;
        string? user = null;
        Token? chainTok = null;
        int? number = null;
        while (i < t.Count && op is null)
        {
            var tok = t[i];
            switch (tok.Text)
            {
                case "-t":
                case "--table":
                    var name = Next(t, ref i, "TABLE");
                    table = IptTables.Parse(name.Text) ?? throw new ParseException(name.Column, $"unsupported table {Q(name.Text)}: the model has the nat, filter, raw and mangle tables");
                    break;
                case "-A" or "--append" or "-I" or "--insert" or "-D" or "--delete" or "-F" or "--flush" or "-R" or "--replace" or
                    "-N" or "--new-chain" or "-X" or "--delete-chain" or "-P" or "--policy":
                    op = tok;
                    break;
                default:
                    throw new ParseException(tok.Column, $"expected [-t TABLE] and a command (-A, -I, -D, -R, -F, -N, -X, -P), got {Q(tok.Text)}");
            }
            i++;
        }
        if (op is null) throw new ParseException(t[^1].Column, "expected an iptables command: -A CHAIN, -I CHAIN, -D CHAIN, -R CHAIN N, -F [CHAIN], -N CHAIN, -X [CHAIN] or -P CHAIN POLICY");
        var kind = op.Text switch
        {
            "--append" => "-A", "--insert" => "-I", "--delete" => "-D", "--flush" => "-F", "--replace" => "-R", "--new-chain" => "-N",
            "--delete-chain" => "-X", "--policy" => "-P", _ => op.Text,
        };

        if (i < t.Count)
        {
            chainTok = t[i];
            // A name that is not a built-in chain names a user chain; whether it exists is the kernel's question (LinuxKernel.Check).
            chain = table.Builtin(chainTok.Text);
            if (chain is null) user = ChainNameOf(chainTok);
            i++;
        }
        switch (kind)
        {
            case "-N":
            case "-X":
                if (chainTok is null && kind == "-N") throw new ParseException(op.Column + op.Text.Length + 1, "expected a chain name after -N");
                if (i < t.Count) throw new ParseException(t[i].Column, $"unexpected {Q(t[i].Text)} after {kind} CHAIN");
                return kind == "-N" ? new Command.IptablesNewChain(chainTok!.Text) { TableOf = table } : new Command.IptablesDeleteChain(chainTok?.Text) { TableOf = table };
            case "-F":
                if (i < t.Count) throw new ParseException(t[i].Column, $"unexpected {Q(t[i].Text)} after -F [CHAIN]");
                return new Command.IptablesFlush(chain) { UserChain = user, TableOf = table };
            case "-P":
                if (chainTok is null || i >= t.Count)
                    throw new ParseException(chainTok is null ? op.Column + op.Text.Length + 1 : chainTok.Column + chainTok.Text.Length + 1, "expected -P CHAIN POLICY (ACCEPT or DROP)");
                var policy = t[i];
                if (i + 1 < t.Count) throw new ParseException(t[i + 1].Column, $"unexpected {Q(t[i + 1].Text)} after -P CHAIN POLICY");
                // Measured (iptables 1.8.9): iptables itself refuses DROP in the nat table; the kernel judges the rest.
                if (table == IptTable.Nat && policy.Text == "DROP") throw new ParseException(policy.Column, NatDrop);
                return new Command.IptablesPolicy(chainTok.Text, policy.Text) { TableOf = table };
            case "-R":
                if (chainTok is null) throw new ParseException(op.Column + op.Text.Length + 1, $"expected a chain after -R ({string.Join(", ", table.Builtins().Select(IptRule.BuiltinName))} or a user chain)");
                if (i >= t.Count || !int.TryParse(t[i].Text, NumberStyles.None, CultureInfo.InvariantCulture, out var index))
                    throw new ParseException(i < t.Count ? t[i].Column : chainTok!.Column + chainTok.Text.Length + 1, "expected a rule number after -R CHAIN");
                if (index < 1) throw new ParseException(t[i].Column, "expected a rule number of 1 or more");
                return new Command.IptablesReplace(Rule(t, i + 1, table, chain, user, raw), index);
            case "-A":
            case "-I":
            case "-D":
                if (chainTok is null) throw new ParseException(op.Column + op.Text.Length + 1, $"expected a chain after {op.Text} ({string.Join(", ", table.Builtins().Select(IptRule.BuiltinName))} or a user chain)");
                if ((kind is "-I" or "-D") && i < t.Count && int.TryParse(t[i].Text, NumberStyles.None, CultureInfo.InvariantCulture, out var n))
                {
                    if (n < 1) throw new ParseException(t[i].Column, "expected a rule number of 1 or more");
                    number = n;
                    i++;
                    if (kind == "-D")
                    {
                        if (i < t.Count) throw new ParseException(t[i].Column, $"unexpected {Q(t[i].Text)} after -D CHAIN NUMBER");
                        return new Command.IptablesDelete(chain ?? default, null, n) { UserChain = user, TableOf = table };
                    }
                }
                var rule = Rule(t, i, table, chain, user, raw);
                return kind switch
                {
                    "-A" => new Command.IptablesAdd(rule, null),
                    "-I" => new Command.IptablesAdd(rule, number ?? 1),
                    _ => new Command.IptablesDelete(chain ?? default, rule, null) { UserChain = user, TableOf = table },
                };
            default:
                throw new ParseException(op.Column, $"unsupported iptables command {Q(op.Text)}");
        }
    }

    /// <summary>
    /// A user chain's name as iptables 1.8.9 takes it (<c>xtables_chain_protect</c> and the length check of
    /// <c>iptables -N</c>, measured): under 29 characters, not starting with '-'.
    /// </summary>
    private static string ChainNameOf(Token tok)
    {
        if (tok.Text.StartsWith('-')) throw new ParseException(tok.Column, "chain name not allowed to start with `-'");
        if (tok.Text.Length >= MaxChainName) throw new ParseException(tok.Column, $"chain name `{tok.Text}' too long (must be under {MaxChainName} chars)");
        return tok.Text;
    }

    /// <summary>XT_EXTENSION_MAXNAMELEN: a chain name has fewer characters than this.</summary>
    private const int MaxChainName = 29;

    /// <summary>What iptables 1.8.9 says of DROP in the nat table, as a target or a policy (measured).</summary>
    private const string NatDrop = "The \"nat\" table is not intended for filtering, the use of DROP is therefore inhibited.";

    /// <summary>iptables targets the model does not have (a name not here and not a NAT target is a jump to a user chain).</summary>
    private static readonly HashSet<string> UnsupportedTargets = new(StringComparer.Ordinal)
    {
        "NFLOG", "REDIRECT", "NETMAP", "TPROXY", "TRACE", "AUDIT", "CLASSIFY",
        "CHECKSUM", "DSCP", "TOS", "TTL", "TCPMSS", "SET", "QUEUE", "NFQUEUE", "CONNSECMARK", "SECMARK", "IDLETIMER", "LED", "HMARK",
        "SYNPROXY", "ULOG", "ECN", "RATEEST", "TEE",
    };

    private static Token Next(List<Token> t, ref int i, string what)
    {
        if (i + 1 >= t.Count) throw new ParseException(t[i].Column + t[i].Text.Length + 1, $"expected {what} after {t[i].Text}");
        i++;
        return t[i];
    }

    /// <summary>A rule of <paramref name="builtin"/>, or of the user chain <paramref name="user"/> (then builtin is null).</summary>
    private static IptRule Rule(List<Token> t, int start, IptTable table, IptChain? builtin, string? user, string raw)
    {
        var chain = builtin ?? default;
        Cidr? src = null, dst = null;
        PortRange? sport = null, dport = null;
        string? outIf = null, inIf = null;
        L4Proto? proto = null;
        Token? protoMatch = null;
        Token? jump = null;
        Token? toSource = null, toDestination = null, toPorts = null;
        bool random = false, randomFully = false, persistent = false;
        Token? portMatch = null;
        // "!" negates the option after it (iptables' invert flag); the modules -m loaded, which own their options.
        Token? bang = null;
        var not = Negated.None;
        var modules = new HashSet<string>(StringComparer.Ordinal);
        PortList? multi = null;
        Token? multiTok = null;
        AddrType? dstType = null, srcType = null;
        (uint Value, uint Mask)? packetMark = null;
        Token? markOption = null;
        (uint Value, uint Mask)? setMark = null;
        double? probability = null;
        (uint Value, Token Token)? every = null, packet = null;
        Token? statisticMode = null;
        Token? statisticModule = null;
        CtStates? states = null;
        Token? stateOption = null;
        Token? rejectWith = null;
        Token? notrack = null;
        // -m mark and -m connmark both have --mark: it is the option of the one loaded last (measured: the other then
        // reports its --mark missing).
        string? markModule = null;
        (uint Value, uint Mask)? connMark = null;
        CtStatus? status = null;
        Token? limitIface = null;
        var limit = AddrTypeLimit.None;
        // CONNMARK: --save-mark, --restore-mark and their masks (libxt_CONNMARK's defaults: both masks all ones).
        Token? connmarkMode = null;
        uint? nfmask = null, ctmask = null;
        Token? connmarkMask = null;
        Token? logOption = null;
        string logPrefix = "";
        void Negate(Token option, Negated flag)
        {
            if (bang is null) return;
            if (flag == Negated.None) throw new ParseException(bang.Column, $"cannot have ! before {option.Text}");
            not |= flag;
            bang = null;
        }
        void Needs(Token option, string module)
        {
            if (!modules.Contains(module)) throw new ParseException(option.Column, $"unknown option \"{option.Text}\" (it belongs to -m {module}: add -m {module} before it)");
        }
        for (var i = start; i < t.Count; i++)
        {
            var tok = t[i];
            if (tok.Text != "!") Negate(tok, tok.Text switch
            {
                "-p" or "--protocol" => Negated.Protocol,
                "-s" or "--source" => Negated.Source,
                "-d" or "--destination" => Negated.Destination,
                "--sport" or "--source-port" => Negated.SourcePort,
                "--dport" or "--destination-port" => Negated.DestinationPort,
                "-o" or "--out-interface" => Negated.OutInterface,
                "-i" or "--in-interface" => Negated.InInterface,
                "--dports" or "--destination-ports" or "--sports" or "--source-ports" or "--ports" => Negated.MultiPorts,
                "--dst-type" => Negated.DestinationType,
                "--src-type" => Negated.SourceType,
                "--mark" => markModule == "connmark" ? Negated.ConnMark : Negated.Mark,
                "--ctstate" or "--state" => Negated.State,
                "--ctstatus" => Negated.Status,
                "--probability" or "--every" => Negated.Statistic,
                _ => Negated.None,
            });
            switch (tok.Text)
            {
                case "-p":
                case "--protocol":
                    var p = Next(t, ref i, "a protocol");
                    proto = p.Text switch
                    {
                        "tcp" => L4Proto.Tcp,
                        "udp" => L4Proto.Udp,
                        _ => throw new ParseException(p.Column, $"unsupported protocol {Q(p.Text)}: the model has TCP and UDP (-p tcp, -p udp)"),
                    };
                    break;
                case "-m":
                case "--match":
                    var m = Next(t, ref i, "a match module");
                    if (m.Text is "tcp" or "udp") protoMatch = m;
                    else if (m.Text is not ("comment" or "multiport" or "addrtype" or "mark" or "connmark" or "statistic" or "conntrack" or "state"))
                        throw new ParseException(m.Column, $"unsupported iptables match '-m {m.Text}' (the model has tcp, udp, comment, multiport, addrtype, mark, connmark, statistic, conntrack and state)");
                    if (m.Text == "statistic") statisticModule = m;
                    if (m.Text is "mark" or "connmark") markModule = m.Text;
                    modules.Add(m.Text);
                    break;
                case "--ctstate":
                case "--state":
                    Needs(tok, tok.Text == "--state" ? "state" : "conntrack");
                    if (stateOption is not null) throw new ParseException(tok.Column, $"{tok.Text}: one state match per rule in the model (the rule has {stateOption.Text} already)");
                    stateOption = tok;
                    states = ParseStates(Next(t, ref i, "a list of states"), tok.Text == "--state");
                    break;
                case "--ctstatus":
                    Needs(tok, "conntrack");
                    status = ParseStatuses(Next(t, ref i, "a list of statuses"));
                    break;
                case "--ctproto" or "--ctorigsrc" or "--ctorigdst" or "--ctreplsrc" or "--ctrepldst" or "--ctorigsrcport" or
                    "--ctorigdstport" or "--ctreplsrcport" or "--ctrepldstport" or "--ctexpire" or "--ctdir":
                    Needs(tok, "conntrack");
                    throw new ParseException(tok.Column, $"unsupported conntrack option {Q(tok.Text)}: the model has --ctstate and --ctstatus");
                case "--reject-with":
                    rejectWith = Next(t, ref i, "a reject type");
                    break;
                case "--notrack":
                    notrack = tok;
                    break;
                case "--zone" or "--helper" or "--ctevents" or "--expevents" or "--timeout" or "--zone-orig" or "--zone-reply":
                    throw new ParseException(tok.Column, $"unsupported CT option {Q(tok.Text)}: the model has CT --notrack");
                case "--comment":
                    Needs(tok, "comment");
                    // A comment changes nothing; iptables keeps at most 255 characters of it (XT_MAX_COMMENT_LEN).
                    var comment = Next(t, ref i, "the comment");
                    if (comment.Text.Length > 255) throw new ParseException(comment.Column, "comment may not exceed 255 characters");
                    break;
                case "--dports" or "--destination-ports" or "--sports" or "--source-ports" or "--ports":
                    Needs(tok, "multiport");
                    if (multi is not null) throw new ParseException(tok.Column, "multiport takes one of --sports, --dports or --ports");
                    multiTok = tok;
                    multi = ParsePortList(Next(t, ref i, "PORT[:PORT],..."), tok.Text switch
                    {
                        "--dports" or "--destination-ports" => PortList.Side.Destination,
                        "--sports" or "--source-ports" => PortList.Side.Source,
                        _ => PortList.Side.Either,
                    });
                    break;
                case "--mode":
                    Needs(tok, "statistic");
                    statisticMode = Next(t, ref i, "random or nth");
                    if (statisticMode.Text is not ("random" or "nth")) throw new ParseException(statisticMode.Column, $"Bad mode \"{statisticMode.Text}\"");
                    break;
                case "--every":
                    Needs(tok, "statistic");
                    // Measured: the same message whichever of the two comes first.
                    if (probability is not null) throw new ParseException(tok.Column, "statistic: option \"--probability\" cannot be used together with \"--every\".");
                    var et = Next(t, ref i, "a count");
                    if (!uint.TryParse(et.Text, NumberStyles.None, CultureInfo.InvariantCulture, out var ev) || ev < 1)
                        throw new ParseException(et.Column, "statistic: bad value for option \"--every\", or out of range (1-4294967295).");
                    every = (ev, tok);
                    break;
                case "--packet":
                    Needs(tok, "statistic");
                    // Measured: the same message whichever of the two comes first.
                    if (probability is not null) throw new ParseException(tok.Column, "statistic: option \"--probability\" cannot be used together with \"--packet\".");
                    var pk = Next(t, ref i, "a packet number");
                    if (!uint.TryParse(pk.Text, NumberStyles.None, CultureInfo.InvariantCulture, out var pkv))
                        throw new ParseException(pk.Column, "statistic: bad value for option \"--packet\", or out of range (0-4294967295).");
                    packet = (pkv, tok);
                    break;
                case "--probability":
                    Needs(tok, "statistic");
                    if (every is not null || packet is not null)
                        throw new ParseException(tok.Column, $"statistic: option \"--probability\" cannot be used together with \"{(every ?? packet)!.Value.Token.Text}\".");
                    var pt = Next(t, ref i, "a probability");
                    if (!double.TryParse(pt.Text, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var pv) || pv > 1)
                        throw new ParseException(pt.Column, "statistic: bad value for option \"--probability\", or out of range (0-1).");
                    probability = pv;
                    break;
                case "--mark":
                    Needs(tok, markModule ?? "mark");
                    if (markModule == "connmark") connMark = ParseMark(Next(t, ref i, "VALUE[/MASK]"), "connmark", "--mark", 0xFFFFFFFF);
                    else packetMark = ParseMark(Next(t, ref i, "VALUE[/MASK]"), "mark", "--mark", 0xFFFFFFFF);
                    break;
                case "--limit-iface-in" or "--limit-iface-out":
                    Needs(tok, "addrtype");
                    if (limitIface is not null) throw new ParseException(tok.Column, "addrtype: option \"--limit-iface-in\" cannot be used together with \"--limit-iface-out\".");
                    limitIface = tok;
                    limit = tok.Text == "--limit-iface-in" ? AddrTypeLimit.In : AddrTypeLimit.Out;
                    break;
                case "--save-mark" or "--restore-mark":
                    // Measured: 'CONNMARK: option "--set-mark" cannot be used together with "--save-mark".'
                    if ((connmarkMode ?? markOption) is { } other) throw new ParseException(tok.Column, $"CONNMARK: option \"{other.Text}\" cannot be used together with \"{tok.Text}\".");
                    connmarkMode = tok;
                    break;
                case "--nfmask" or "--ctmask" or "--mask":
                    if (connmarkMask is not null && (connmarkMask.Text == "--mask" || tok.Text == "--mask"))
                        throw new ParseException(tok.Column, $"CONNMARK: option \"{connmarkMask.Text}\" cannot be used together with \"{tok.Text}\".");
                    connmarkMask ??= tok;
                    var mask = ParseMark(Next(t, ref i, "a mask"), "CONNMARK", tok.Text, null).Value;
                    if (tok.Text != "--ctmask") nfmask = mask;
                    if (tok.Text != "--nfmask") ctmask = mask;
                    break;
                case "--left-shift-mark" or "--right-shift-mark":
                    throw new ParseException(tok.Column, $"unsupported CONNMARK option {Q(tok.Text)}: the model has --set-xmark, --set-mark, --and-mark, --or-mark, --xor-mark, --save-mark and --restore-mark with their masks");
                case "--log-prefix":
                    logOption ??= tok;
                    // No length check: iptables-nft writes LOG as nft's own log expression, whose prefix may be longer than
                    // xt_LOG's 29 characters (measured: a 30-character prefix is accepted).
                    logPrefix = Next(t, ref i, "a prefix").Text;
                    break;
                case "--log-level":
                    logOption ??= tok;
                    Next(t, ref i, "a level");
                    break;
                case "--log-tcp-sequence" or "--log-tcp-options" or "--log-ip-options" or "--log-uid" or "--log-macdecode":
                    logOption ??= tok;
                    break;
                case "--set-xmark" or "--set-mark" or "--or-mark" or "--and-mark" or "--xor-mark":
                    if (connmarkMode is not null) throw new ParseException(tok.Column, $"CONNMARK: option \"{connmarkMode.Text}\" cannot be used together with \"{tok.Text}\".");
                    if (markOption is not null) throw new ParseException(tok.Column, "MARK: Can't specify --set-xmark twice");
                    markOption = tok;
                    var mv = Next(t, ref i, "VALUE[/MASK]");
                    setMark = tok.Text switch
                    {
                        // As iptables writes each form back (iptables-save, measured): one --set-xmark.
                        "--set-xmark" => ParseMark(mv, "MARK", tok.Text, 0xFFFFFFFF),
                        "--set-mark" => ParseMark(mv, "MARK", tok.Text, 0xFFFFFFFF) is var (v, k) ? (v, k | v) : default,
                        "--or-mark" => ParseMark(mv, "MARK", tok.Text, null) is var (ov, _) ? (ov, ov) : default,
                        "--and-mark" => ParseMark(mv, "MARK", tok.Text, null) is var (av, _) ? (0u, ~av) : default,
                        _ => ParseMark(mv, "MARK", tok.Text, null) is var (xv, _) ? (xv, 0u) : default,
                    };
                    break;
                case "--dst-type":
                case "--src-type":
                    Needs(tok, "addrtype");
                    var type = ParseAddrType(Next(t, ref i, "an address type"));
                    if (tok.Text == "--dst-type") dstType = type;
                    else srcType = type;
                    break;
                case "-s":
                case "--source":
                    src = ParseCidr(Next(t, ref i, "ADDR[/LEN]"));
                    break;
                case "-d":
                case "--destination":
                    dst = ParseCidr(Next(t, ref i, "ADDR[/LEN]"));
                    break;
                case "--sport":
                case "--source-port":
                    portMatch ??= tok;
                    sport = ParsePortMatch(Next(t, ref i, "PORT[:PORT]"));
                    break;
                case "--dport":
                case "--destination-port":
                    portMatch ??= tok;
                    dport = ParsePortMatch(Next(t, ref i, "PORT[:PORT]"));
                    break;
                case "-o":
                case "--out-interface":
                    if (user is null && chain is IptChain.PreRouting or IptChain.Input)
                        throw new ParseException(tok.Column, $"Can't use -o with {Command.ChainName(chain)}");
                    outIf = Next(t, ref i, "an interface").Text;
                    break;
                case "-i":
                case "--in-interface":
                    if (user is null && chain is IptChain.PostRouting or IptChain.Output)
                        throw new ParseException(tok.Column, $"Can't use -i with {Command.ChainName(chain)}");
                    inIf = Next(t, ref i, "an interface").Text;
                    break;
                case "-j":
                case "--jump":
                    jump = Next(t, ref i, "a target");
                    break;
                case "--to-source":
                    toSource = Next(t, ref i, "IP[-IP][:PORT[-PORT]]");
                    break;
                case "--to-destination":
                    toDestination = Next(t, ref i, "IP[-IP][:PORT[-PORT]]");
                    break;
                case "--to-ports":
                    toPorts = Next(t, ref i, "PORT[-PORT]");
                    break;
                case "--random":
                    random = true;
                    break;
                case "--random-fully":
                    randomFully = true;
                    break;
                case "--persistent":
                    persistent = true;
                    break;
                case "!":
                    if (bang is not null) throw new ParseException(tok.Column, "multiple consecutive ! not allowed");
                    bang = tok;
                    break;
                default:
                    throw new ParseException(tok.Column, tok.Text.StartsWith('-')
                        ? $"unsupported iptables option {Q(tok.Text)}"
                        : $"unexpected {Q(tok.Text)}: expected an option such as -p, -s, -d, --sport, --dport, -o, -i or -j");
            }
        }
        if (bang is not null) throw new ParseException(bang.Column, "nothing appropriate following !");
        // Measured: without --mode, or random mode without a probability, iptables refuses the rule.
        if (modules.Contains("statistic") && statisticMode is null)
            throw new ParseException(t[^1].Column + t[^1].Text.Length + 1, "statistic: option \"--mode\" must be specified");
        // libxt_statistic's statistic_check and its option table (.also, .excl), messages measured with iptables 1.8.9.
        if (statisticMode?.Text == "random" && probability is null)
            throw new ParseException(statisticMode.Column, "--probability must be specified when using random mode");
        if (every is { } ev0 && packet is null) throw new ParseException(ev0.Token.Column, "statistic: option \"--every\" also requires \"--packet\".");
        if (statisticMode?.Text == "nth" && every is null && packet is null)
            throw new ParseException(statisticMode.Column, "--every and --packet must be specified when using nth mode");
        // Without --every, u.nth.every stays 0: statistic_check refuses a --packet above it first, then xtables' .also
        // check refuses --packet 0 (measured, iptables 1.8.9: "--packet 1" and "--packet 0" alone).
        var n1 = every?.Value ?? 1;
        if (packet is { } pk1 && pk1.Value > n1 - 1) throw new ParseException(pk1.Token.Column, "the --packet p must be 0 <= p <= n-1");
        if (packet is { } pk2 && every is null) throw new ParseException(pk2.Token.Column, "statistic: option \"--packet\" also requires \"--every\".");
        (uint Every, uint Packet)? nth = statisticMode?.Text == "nth" ? (n1, packet?.Value ?? 0) : null;
        if (statisticMode?.Text == "nth") probability = null;
        // An nth counter counts the packets that reach it (statistic_mt runs after the matches written before it): the
        // model counts those for which every other match held, so it refuses a match written after the statistic module.
        if (nth is not null && LaterMatch(t, statisticModule!) is { } later)
            throw new ParseException(later.Token.Column, $"unsupported: {later.What} after -m statistic --mode nth (the kernel counts the packets that reach the statistic match; the model counts those every other match let through: write -m statistic last)");
        if (modules.Contains("mark") && packetMark is null) throw new ParseException(t[^1].Column + t[^1].Text.Length + 1, "mark: option \"--mark\" must be specified");
        if (modules.Contains("connmark") && connMark is null) throw new ParseException(t[^1].Column + t[^1].Text.Length + 1, "connmark: option \"--mark\" must be specified");
        // Measured (iptables 1.8.9): -m conntrack with no option, -m state without --state.
        if (modules.Contains("conntrack") && states is null && status is null) throw new ParseException(t[^1].Column + t[^1].Text.Length + 1, "conntrack: At least one option is required");
        if (modules.Contains("state") && states is null) throw new ParseException(t[^1].Column + t[^1].Text.Length + 1, "state: option \"--state\" must be specified");
        // multiport's checks (libxt_multiport): the rule's protocol must have ports, and not be negated (messages measured).
        if (multiTok is not null && proto is null)
            throw new ParseException(multiTok.Column, "multiport needs `-p tcp', `-p udp', `-p udplite', `-p sctp' or `-p dccp'");
        if (multiTok is not null && not.HasFlag(Negated.Protocol))
            throw new ParseException(multiTok.Column, "multiport only works with TCP, UDP, UDPLITE, SCTP and DCCP");
        // xt_tcpudp's matches check the protocol of the rule (tcp_mt_check, udp_mt_check): "-m udp" needs "-p udp".
        if (protoMatch is not null && proto?.Name() != protoMatch.Text)
            throw new ParseException(protoMatch.Column, $"-m {protoMatch.Text} needs -p {protoMatch.Text}");
        if (portMatch is not null && proto is null) throw new ParseException(portMatch.Column, $"{portMatch.Text} needs -p tcp or -p udp before it");
        var tcp = proto is not null;
        if (jump is null)
            throw new ParseException(t[^1].Column + t[^1].Text.Length + 1, table switch
            {
                IptTable.Nat => "expected -j TARGET (SNAT, DNAT, MASQUERADE, MARK, CONNMARK, LOG, ACCEPT, RETURN or a user chain)",
                IptTable.Raw => "expected -j TARGET (NOTRACK, CT --notrack, ACCEPT, DROP, MARK, CONNMARK, LOG, RETURN or a user chain)",
                IptTable.Mangle => "expected -j TARGET (MARK, CONNMARK, LOG, ACCEPT, DROP, RETURN or a user chain)",
                _ => "expected -j TARGET (ACCEPT, DROP, REJECT, MARK, CONNMARK, LOG, RETURN or a user chain)",
            });
        if (rejectWith is not null && jump.Text != "REJECT") Forbid(rejectWith, jump.Text);
        if (notrack is not null && jump.Text != "CT") Forbid(notrack, jump.Text);

        if (markOption is not null && jump.Text is not ("MARK" or "CONNMARK")) Forbid(markOption, jump.Text);
        if (connmarkMode is not null && jump.Text != "CONNMARK") Forbid(connmarkMode, jump.Text);
        if (connmarkMask is not null && jump.Text != "CONNMARK") Forbid(connmarkMask, jump.Text);
        if (logOption is not null && jump.Text != "LOG") Forbid(logOption, jump.Text);
        // --limit-iface-in|out at a hook without that device is the kernel's refusal (RuleMatch.ValidAt, XtTable.HookProblem).
        // iptables checks a NAT target's hooks for a built-in chain; in a user chain the kernel checks the hooks that
        // reach it (NetfilterConfig.HookProblem). One list of hooks per target (IptTarget) for both.
        void Hooks(IReadOnlyList<IptChain> hooks)
        {
            // In another table the kernel refuses the target for its table (XtTable.HookProblem: EINVAL).
            if (user is null && table == IptTable.Nat && !hooks.Contains(chain))
                throw new ParseException(jump.Column, $"{jump.Text} is only valid in {string.Join(" and ", hooks.Select(Command.ChainName))}, not {Command.ChainName(chain)}");
        }
        // --to-source, --to-destination and --to-ports belong to the NAT targets; each of those refuses the others' below.
        if (UnsupportedTargets.Contains(jump.Text))
            throw new ParseException(jump.Column, $"unsupported target {Q(jump.Text)}: the model has SNAT, DNAT, MASQUERADE, MARK, CONNMARK, LOG, ACCEPT, DROP, REJECT, RETURN, NOTRACK, CT --notrack and user chains");
        if (jump.Text is not ("SNAT" or "DNAT" or "MASQUERADE"))
        {
            Forbid(toSource, jump.Text);
            Forbid(toDestination, jump.Text);
            Forbid(toPorts, jump.Text);
        }
        IptTarget target;
        switch (jump.Text)
        {
            case "SNAT":
                Hooks(IptTarget.SnatHooks);
                if (toSource is null) throw new ParseException(jump.Column, "SNAT needs --to-source IP[-IP][:PORT[-PORT]]");
                Forbid(toDestination, "SNAT");
                Forbid(toPorts, "SNAT");
                target = new IptTarget.Snat(ParseNatRange(toSource, tcp, random, randomFully, persistent));
                break;
            case "DNAT":
                Hooks(IptTarget.DnatHooks);
                if (toDestination is null) throw new ParseException(jump.Column, "DNAT needs --to-destination IP[-IP][:PORT[-PORT]]");
                Forbid(toSource, "DNAT");
                Forbid(toPorts, "DNAT");
                target = new IptTarget.Dnat(ParseNatRange(toDestination, tcp, random, randomFully, persistent));
                break;
            case "MASQUERADE":
                Hooks(IptTarget.MasqueradeHooks);
                Forbid(toSource, "MASQUERADE");
                Forbid(toDestination, "MASQUERADE");
                var (minP, maxP, hasPorts) = (0, 0, false);
                if (toPorts is not null)
                {
                    if (!tcp) throw new ParseException(toPorts.Column, "--to-ports needs -p tcp or -p udp");
                    (minP, maxP) = ParsePortSpan(toPorts, toPorts.Text);
                    hasPorts = true;
                }
                target = new IptTarget.Masquerade(new NatRange(false, default, default, hasPorts, minP, maxP, random, randomFully, false));
                break;
            case "MARK":
                if (setMark is not { } xmark) throw new ParseException(jump.Column, "MARK: One of the --set-xmark, --{and,or,xor,set}-mark options is required");
                target = new IptTarget.Mark(xmark.Value, xmark.Mask);
                break;
            case "CONNMARK":
                if (setMark is { } ctset)
                {
                    if (connmarkMask is not null) Forbid(connmarkMask, "CONNMARK " + markOption!.Text);
                    target = new IptTarget.ConnMark(ConnMarkMode.Set, ctset.Value, ctset.Mask, 0);
                }
                else if (connmarkMode is not null)
                {
                    target = new IptTarget.ConnMark(connmarkMode.Text == "--save-mark" ? ConnMarkMode.Save : ConnMarkMode.Restore, 0, ctmask ?? 0xFFFFFFFF, nfmask ?? 0xFFFFFFFF);
                }
                else
                {
                    throw new ParseException(jump.Column, "CONNMARK target: No operation specified");
                }
                break;
            case "LOG":
                target = new IptTarget.Log(logPrefix);
                break;
            case "DROP":
                // Measured (iptables 1.8.9): iptables refuses it in the nat table.
                if (table == IptTable.Nat) throw new ParseException(jump.Column, NatDrop);
                target = new IptTarget.Drop();
                break;
            case "NOTRACK":
            case "CT":
                // -j CT does more than --notrack (zones, helpers, timeouts): the model has that one use.
                if (jump.Text == "CT" && notrack is null) throw new ParseException(jump.Column, "unsupported: -j CT without --notrack (the model has CT --notrack and NOTRACK)");
                target = new IptTarget.NoTrack();
                break;
            case "REJECT":
                var with = rejectWith?.Text switch
                {
                    null or "icmp-port-unreachable" or "port-unreach" => RejectWith.IcmpPortUnreachable,
                    "icmp-net-unreachable" or "net-unreach" => RejectWith.IcmpNetUnreachable,
                    "icmp-host-unreachable" or "host-unreach" => RejectWith.IcmpHostUnreachable,
                    "tcp-reset" or "tcp-rst" => RejectWith.TcpReset,
                    "icmp-proto-unreachable" or "proto-unreach" => RejectWith.IcmpProtoUnreachable,
                    "icmp-net-prohibited" or "net-prohib" => RejectWith.IcmpNetProhibited,
                    "icmp-host-prohibited" or "host-prohib" => RejectWith.IcmpHostProhibited,
                    "icmp-admin-prohibited" or "admin-prohib" => RejectWith.IcmpAdminProhibited,
                    _ => throw new ParseException(rejectWith.Column, $"unknown reject type \"{rejectWith.Text}\""),
                };
                // A TCP reset in a rule not for TCP is the kernel's refusal (reject_tg_check: XtTable.HookProblem).
                target = new IptTarget.Reject(with);
                break;
            default:
                target = jump.Text switch
                {
                    "ACCEPT" => new IptTarget.Accept(),
                    "RETURN" => new IptTarget.Return(),
                    _ => new IptTarget.Jump(ChainNameOf(jump)),
                };
                break;
        }
        // The rule as written, from its first option to the end of the line (a trailing comment removed).
        var spec = start < t.Count ? raw[(t[start].Column - 1)..] : "";
        var hash = spec.IndexOf('#', StringComparison.Ordinal);
        if (hash >= 0) spec = spec[..hash];
        spec = spec.Trim();
        var match = new RuleMatch(src, dst, sport, dport, outIf, inIf)
        {
            Protocol = proto, Not = not, MultiPorts = multi, DestinationType = dstType, SourceType = srcType, PacketMark = packetMark,
            Probability = probability, Nth = nth, States = states, StateModule = stateOption?.Text == "--state",
            ConnMark = connMark, Status = status, LimitIface = limit,
        };
        return new IptRule(chain, match, target, spec) { UserChain = user, Table = table };
    }

    /// <summary>
    /// <c>VALUE[/MASK]</c> as iptables reads marks (decimal, or hex with 0x; 32 bits): the mask defaults to
    /// <paramref name="defaultMask"/>; null: the option takes no mask.
    /// </summary>
    private static (uint Value, uint Mask) ParseMark(Token tok, string module, string option, uint? defaultMask)
    {
        static bool Number(string text, out uint v) =>
            text.StartsWith("0x", StringComparison.OrdinalIgnoreCase)
                ? uint.TryParse(text[2..], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out v)
                : uint.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out v);
        var parts = tok.Text.Split('/');
        var bad = new ParseException(tok.Column, $"{module}: bad integer value for option \"{option}\", or out of range.");
        if (parts.Length > 2 || (parts.Length == 2 && defaultMask is null) || !Number(parts[0], out var value)) throw bad;
        var mask = defaultMask ?? 0;
        if (parts.Length == 2 && !Number(parts[1], out mask)) throw bad;
        return (value, mask);
    }

    /// <summary><c>P[:Q],...</c> as xt_multiport takes it: at most 15 ports, a range counting as two (XT_MULTI_PORTS).</summary>
    private static PortList ParsePortList(Token tok, PortList.Side side)
    {
        var ranges = ImmutableArray.CreateBuilder<PortRange>();
        var count = 0;
        var at = 0;
        foreach (var part in tok.Text.Split(','))
        {
            var r = ParsePortMatch(new Token(part, tok.Column + at));
            ranges.Add(r);
            count += r.Min == r.Max ? 1 : 2;
            at += part.Length + 1;
        }
        if (count > 15) throw new ParseException(tok.Column, "too many ports specified");
        return new PortList(side, ranges.ToImmutable());
    }

    /// <summary>The first option of a module match written after <paramref name="statistic"/> (<c>-m statistic</c>), or null: a comment is no match.</summary>
    private static (Token Token, string What)? LaterMatch(List<Token> t, Token statistic)
    {
        var after = t.SkipWhile(x => !ReferenceEquals(x, statistic)).Skip(1).ToList();
        for (var k = 0; k < after.Count; k++)
        {
            if (after[k].Text is "-j" or "--jump") return null;
            if (after[k].Text is "-m" or "--match" && k + 1 < after.Count && after[k + 1].Text is not ("comment" or "statistic"))
                return (after[k], "-m " + after[k + 1].Text);
            if (after[k].Text is "--sport" or "--source-port" or "--dport" or "--destination-port") return (after[k], after[k].Text);
        }
        return null;
    }

    /// <summary>An address type of <c>-m addrtype</c>: the four the model knows (iptables takes more, named as unsupported).</summary>
    /// <summary>
    /// <c>--ctstate LIST</c> (libxt_conntrack) or <c>--state LIST</c> (libxt_state, which has no SNAT and DNAT):
    /// comma-separated state names, upper case (messages measured with iptables 1.8.9).
    /// </summary>
    private static CtStates ParseStates(Token list, bool stateModule)
    {
        var states = CtStates.None;
        foreach (var word in list.Text.Split(','))
        {
            // strncasecmp(word, NAME, strlen(word)) in the order libxt_conntrack and libxt_state try the names: any case,
            // and a prefix names the first state it begins (measured: "new,est" is NEW,ESTABLISHED).
            states |= Named(word, ["INVALID", "NEW", "ESTABLISHED", "RELATED", "UNTRACKED", .. stateModule ? Array.Empty<string>() : ["SNAT", "DNAT"]]) switch
            {
                "INVALID" => CtStates.Invalid,
                "NEW" => CtStates.New,
                "ESTABLISHED" => CtStates.Established,
                "RELATED" => CtStates.Related,
                "UNTRACKED" => CtStates.Untracked,
                "SNAT" => CtStates.Snat,
                "DNAT" => CtStates.Dnat,
                _ => throw new ParseException(list.Column, stateModule ? $"Bad state \"{word}\"" : $"Bad ctstate \"{word}\""),
            };
        }
        return states;
    }

    /// <summary>
    /// <c>--ctstatus LIST</c> (libxt_conntrack's <c>conntrack_ps_status</c>, the same prefix rule as the states): NONE adds
    /// no bit (measured: iptables-save drops it), EXPECTED, SEEN_REPLY, ASSURED, CONFIRMED.
    /// </summary>
    private static CtStatus ParseStatuses(Token list)
    {
        var status = CtStatus.None;
        foreach (var word in list.Text.Split(','))
        {
            status |= Named(word, ["NONE", "EXPECTED", "SEEN_REPLY", "ASSURED", "CONFIRMED"]) switch
            {
                "NONE" => CtStatus.None,
                "EXPECTED" => CtStatus.Expected,
                "SEEN_REPLY" => CtStatus.SeenReply,
                "ASSURED" => CtStatus.Assured,
                "CONFIRMED" => CtStatus.Confirmed,
                _ => throw new ParseException(list.Column, $"Bad ctstatus \"{word}\""),
            };
        }
        return status;
    }

    /// <summary>The first of <paramref name="names"/> that <paramref name="word"/> begins, ignoring case (<c>strncasecmp</c> over the word's length); null for none or an empty word.</summary>
    private static string? Named(string word, string[] names) =>
        word.Length == 0 ? null : names.FirstOrDefault(n => n.StartsWith(word, StringComparison.OrdinalIgnoreCase));

    private static AddrType ParseAddrType(Token tok) => tok.Text switch
    {
        "LOCAL" => AddrType.Local,
        "UNICAST" => AddrType.Unicast,
        "BROADCAST" => AddrType.Broadcast,
        "MULTICAST" => AddrType.Multicast,
        "UNSPEC" or "ANYCAST" or "BLACKHOLE" or "UNREACHABLE" or "PROHIBIT" or "THROW" or "NAT" or "XRESOLVE" =>
            throw new ParseException(tok.Column, $"unsupported address type {Q(tok.Text)}: the model knows LOCAL, UNICAST, BROADCAST and MULTICAST"),
        _ => throw new ParseException(tok.Column, $"addrtype: bad type \"{tok.Text}\""),
    };

    private static void Forbid(Token? option, string target)
    {
        if (option is not null) throw new ParseException(option.Column, $"this option does not belong to target {target}");
    }

    private static Cidr ParseCidr(Token tok)
    {
        var text = tok.Text;
        var slash = text.IndexOf('/', StringComparison.Ordinal);
        var len = 32;
        if (slash >= 0)
        {
            if (!int.TryParse(text[(slash + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out len) || len > 32)
                throw new ParseException(tok.Column + slash + 1, $"expected a prefix length 0-32, got {Q(text[(slash + 1)..])}");
            text = text[..slash];
        }
        if (!IPv4Address.TryParse(text, out var ip)) throw new ParseException(tok.Column, $"expected an IPv4 address, got {Q(text)}");
        return new Cidr(ip, len);
    }

    private static PortRange ParsePortMatch(Token tok)
    {
        var parts = tok.Text.Split(':');
        if (parts.Length > 2 || !SockAddr.TryParsePort(parts[0], out var lo) || (parts.Length == 2 && !SockAddr.TryParsePort(parts[1], out _)))
            throw new ParseException(tok.Column, $"expected PORT or PORT:PORT (1-65535), got {Q(tok.Text)}");
        var hi = parts.Length == 2 ? int.Parse(parts[1], CultureInfo.InvariantCulture) : lo;
        if (hi < lo) throw new ParseException(tok.Column, $"port range {Q(tok.Text)} is reversed");
        return new PortRange(lo, hi);
    }

    private static (int Min, int Max) ParsePortSpan(Token tok, string text)
    {
        var parts = text.Split('-');
        if (parts.Length > 2 || !SockAddr.TryParsePort(parts[0], out var lo) || (parts.Length == 2 && !SockAddr.TryParsePort(parts[1], out _)))
            throw new ParseException(tok.Column, $"expected PORT or PORT-PORT (1-65535), got {Q(text)}");
        var hi = parts.Length == 2 ? int.Parse(parts[1], CultureInfo.InvariantCulture) : lo;
        // iptables' parse_ports refuses a reversed range (measured with iptables 1.8.9: exit 2, this message).
        if (hi < lo)
            throw new ParseException(tok.Column + tok.Text.IndexOf(text, StringComparison.Ordinal) + parts[0].Length + 1,
                $"iptables: Port range `{parts[1]}' funky: {lo}-{hi} is reversed");
        return (lo, hi);
    }

    /// <summary><c>IP[-IP][:PORT[-PORT]]</c> as <c>--to-source</c>/<c>--to-destination</c> take it (xt_nat's parse_to).</summary>
    private static NatRange ParseNatRange(Token tok, bool tcp, bool random, bool randomFully, bool persistent)
    {
        var text = tok.Text;
        if (text.Contains('/', StringComparison.Ordinal))
            throw new ParseException(tok.Column + text.IndexOf('/', StringComparison.Ordinal), "unsupported: port offsets (PORT-PORT/BASE) are not modelled");
        var colon = text.IndexOf(':', StringComparison.Ordinal);
        var ips = colon >= 0 ? text[..colon] : text;
        bool protoSpecified = false;
        int minP = 0, maxP = 0;
        if (colon >= 0)
        {
            if (!tcp) throw new ParseException(tok.Column + colon, "Need TCP, UDP, SCTP or DCCP with port specification (add -p tcp or -p udp)");
            (minP, maxP) = ParsePortSpan(tok, text[(colon + 1)..]);
            protoSpecified = true;
        }
        if (ips.Length == 0) throw new ParseException(tok.Column, $"expected an address before ':' in {Q(text)}");
        var dash = ips.IndexOf('-', StringComparison.Ordinal);
        var a = dash >= 0 ? ips[..dash] : ips;
        var b = dash >= 0 ? ips[(dash + 1)..] : ips;
        if (!IPv4Address.TryParse(a, out var minIp)) throw new ParseException(tok.Column, $"expected an IPv4 address, got {Q(a)}");
        if (!IPv4Address.TryParse(b, out var maxIp)) throw new ParseException(tok.Column + dash + 1, $"expected an IPv4 address, got {Q(b)}");
        if (maxIp < minIp) throw new ParseException(tok.Column, $"address range {Q(ips)} is reversed");
        return new NatRange(true, minIp, maxIp, protoSpecified, minP, maxP, random, randomFully, persistent);
    }

    // ------------------------------------------------------------ ip (iproute2)

    private const string IpUsage = "ip [-n NS] link|addr|route|netns ...";
    private const string NetnsUsage = "ip netns add NAME or ip netns exec NAME COMMAND...";
    private const string LinkAddUsage = "ip link add NAME [netns NS] type veth peer [name] NAME2 [netns NS2]";
    private const string LinkSetUsage = "ip link set [dev] DEV up|down|netns NS";
    private const string LinkUsage = LinkAddUsage + " or " + LinkSetUsage;
    private const string AddrUsage = "ip addr add|del ADDR[/LEN] dev DEV";
    private const string RouteUsage = "ip route add|del default|PREFIX[/LEN] [via GW] [dev DEV]";

    // ip's tables in the order ip tries them: a word names the first entry it begins (ip's matches()), so "a" is
    // address, "r" route, "l" link and "n" neighbor.
    private static readonly string[] IpObjects =
    [
        "address", "addrlabel", "maddress", "route", "rule", "neighbor", "neighbour", "ntable", "ntbl", "link", "l2tp", "fou",
        "ila", "macsec", "tunnel", "tunl", "tuntap", "tap", "token", "tcpmetrics", "tcp_metrics", "monitor", "xfrm", "mroute",
        "mrule", "netns", "netconf", "vrf", "sr", "nexthop", "mptcp", "ioam", "help", "stats",
    ];

    private static readonly string[] NetnsVerbs = ["list", "show", "lst", "list-id", "help", "add", "set", "delete", "identify", "pids", "exec", "monitor", "attach"];

    private static readonly string[] LinkVerbs = ["add", "set", "change", "replace", "delete", "show", "lst", "list", "xstats", "afstats", "property", "help"];

    private static readonly string[] AddrVerbs = ["add", "change", "chg", "replace", "delete", "list", "show", "lst", "flush", "save", "showdump", "restore", "help"];

    private static readonly string[] RouteVerbs =
        ["add", "change", "chg", "replace", "prepend", "append", "test", "delete", "list", "show", "lst", "get", "flush", "save", "restore", "showdump", "help"];

    // The words ip's parsers know that the model does not: named as unsupported rather than read as a name or address.
    private static readonly FrozenSet<string> LinkKeywords = FrozenSet.ToFrozenSet(
    [
        "up", "down", "name", "index", "link", "address", "broadcast", "brd", "txqueuelen", "qlen", "txqlen", "mtu", "xdp", "xdpgeneric",
        "xdpdrv", "xdpoffload", "netns", "multicast", "allmulticast", "promisc", "trailers", "arp", "carrier", "vf", "master", "vrf",
        "nomaster", "dynamic", "type", "alias", "group", "mode", "state", "numtxqueues", "numrxqueues", "addrgenmode", "link-netns",
        "link-netnsid", "protodown", "protodown_reason", "gso_max_size", "gso_max_segs", "gro_max_size", "gso_ipv4_max_size",
        "gro_ipv4_max_size", "parentdev", "help",
    ], StringComparer.Ordinal);

    private static readonly FrozenSet<string> AddrKeywords = FrozenSet.ToFrozenSet(
    [
        "peer", "remote", "broadcast", "brd", "anycast", "scope", "label", "metric", "priority", "preference", "valid_lft",
        "preferred_lft", "proto", "home", "nodad", "optimistic", "mngtmpaddr", "noprefixroute", "autojoin", "help",
    ], StringComparer.Ordinal);

    private static readonly FrozenSet<string> RouteKeywords = FrozenSet.ToFrozenSet(
    [
        "src", "as", "from", "tos", "dsfield", "expires", "metric", "priority", "preference", "scope", "mtu", "lock", "hoplimit",
        "advmss", "reordering", "rtt", "rto_min", "window", "cwnd", "initcwnd", "initrwnd", "features", "quickack", "congctl",
        "rttvar", "ssthresh", "realms", "onlink", "nexthop", "nhid", "protocol", "proto", "table", "vrf", "pref", "encap",
        "ttl-propagate", "fastopen_no_cookie", "help",
    ], StringComparer.Ordinal);

    private static readonly FrozenSet<string> RouteTypes = FrozenSet.ToFrozenSet(
        ["unicast", "local", "broadcast", "multicast", "throw", "unreachable", "prohibit", "blackhole", "nat", "anycast"], StringComparer.Ordinal);

    /// <summary>The entry of ip's <paramref name="table"/> that <paramref name="word"/> abbreviates (ip's matches()), if any.</summary>
    private static string? Resolve(string word, string[] table) =>
        word.Length == 0 ? null : table.FirstOrDefault(k => k.StartsWith(word, StringComparison.Ordinal));

    /// <summary>The column just past a token: where a missing argument would go.</summary>
    private static int After(Token tok) => tok.Column + tok.Text.Length + 1;

    private static ParseException Unsupported(Token tok, string what, string why) => new(tok.Column, $"unsupported: '{what}' ({why})");

    /// <summary>A token inside an echoed command (<c>'ip link add ... type X'</c>): escaped and cut as <see cref="Q"/> does.</summary>
    private static string Echo(string token) => token.Length > MaxEcho ? Escape(token) + "..." : Escape(token);

    private static ParseException Nested(Token tok, string what, string within) =>
        new(tok.Column, $"nested namespace switch: '{what}' inside '{within}' (a command runs in one namespace)");

    /// <summary>
    /// <c>ip [-n NS] OBJECT ...</c>. <paramref name="within"/> is the enclosing <c>ip netns exec NS</c>, if any.
    /// </summary>
    private static Command Ip(List<Token> t, string raw, string? within)
    {
        var i = 1;
        string? ns = null;
        while (i < t.Count && t[i].Text.Length > 1 && t[i].Text[0] == '-')
        {
            var opt = t[i];
            // ip reads --opt as -opt, and -n, -ne, ... as -netns.
            var name = opt.Text[1] == '-' ? opt.Text[1..] : opt.Text;
            if (name.Length < 2 || !"-netns".StartsWith(name, StringComparison.Ordinal))
                throw Unsupported(opt, $"ip {Echo(opt.Text)}", "only -n NS (-netns NS) is modelled");
            if (within is not null) throw Nested(opt, $"ip {opt.Text}", within);
            if (ns is not null) throw new ParseException(opt.Column, $"unexpected {Q(opt.Text)}: the namespace is already given (ip -n {ns})");
            ns = NetnsName(Next(t, ref i, "a namespace NAME"));
            i++;
        }
        if (i >= t.Count) throw new ParseException(After(t[^1]), $"missing argument: expected {IpUsage}");
        var objTok = t[i];
        var obj = Resolve(objTok.Text, IpObjects)
            ?? throw new ParseException(objTok.Column, $"unknown ip object {Q(objTok.Text)}: expected link, addr, route or netns ({IpUsage})");
        Command c = obj switch
        {
            "link" => IpLink(t, i + 1),
            "address" => IpAddr(t, i + 1),
            "route" => IpRoute(t, i + 1),
            "netns" => IpNetns(t, i + 1, raw, ns is null ? within : $"ip -n {ns}"),
            _ => throw Unsupported(objTok, $"ip {obj}", "only ip link, ip addr, ip route and ip netns are modelled"),
        };
        return ns is null ? c : c with { Netns = ns };
    }

    /// <summary><c>ip netns add NAME</c>, <c>ip netns exec NAME COMMAND...</c>.</summary>
    private static Command IpNetns(List<Token> t, int i, string raw, string? within)
    {
        if (i >= t.Count) throw new ParseException(After(t[^1]), $"missing argument: expected {NetnsUsage}");
        var verbTok = t[i];
        var verb = Resolve(verbTok.Text, NetnsVerbs)
            ?? throw new ParseException(verbTok.Column, $"unknown ip netns command {Q(verbTok.Text)}: expected add or exec ({NetnsUsage})");
        switch (verb)
        {
            case "add":
                if (i + 1 >= t.Count) throw new ParseException(After(verbTok), "missing argument: expected ip netns add NAME");
                var name = NetnsName(t[i + 1]);
                if (i + 2 < t.Count) throw new ParseException(t[i + 2].Column, $"unexpected {Q(t[i + 2].Text)}: expected ip netns add NAME");
                return new Command.NetnsAdd(name);
            case "exec":
                return NetnsExec(t, i, raw, within);
            default:
                throw Unsupported(verbTok, $"ip netns {verb}", "only ip netns add and ip netns exec are modelled");
        }
    }

    /// <summary><c>ip netns exec NAME COMMAND...</c>: <paramref name="i"/> is the index of <c>exec</c>.</summary>
    private static Command NetnsExec(List<Token> t, int i, string raw, string? within)
    {
        var verbTok = t[i];
        if (within is not null) throw Nested(verbTok, "ip netns exec", within);
        if (i + 1 >= t.Count) throw new ParseException(After(verbTok), "missing argument: expected ip netns exec NAME COMMAND...");
        var ns = NetnsName(t[i + 1]);
        if (i + 2 >= t.Count)
            throw new ParseException(After(t[i + 1]), $"missing argument: expected a COMMAND after ip netns exec {Echo(ns)} (one of {Commands[..^", choose".Length]})");
        var command = ParseCommand(t.GetRange(i + 2, t.Count - i - 2), raw, $"ip netns exec {Echo(ns)}");
        return command with { Netns = ns };
    }

    /// <summary><c>ip link add ... type veth ...</c>, <c>ip link set ...</c>.</summary>
    private static Command IpLink(List<Token> t, int i)
    {
        if (i >= t.Count) throw new ParseException(After(t[^1]), $"missing argument: expected {LinkUsage}");
        var verbTok = t[i];
        var verb = Resolve(verbTok.Text, LinkVerbs)
            ?? throw new ParseException(verbTok.Column, $"unknown ip link command {Q(verbTok.Text)}: expected add or set ({LinkUsage})");
        return verb switch
        {
            "add" => LinkAdd(t, i + 1),
            // ip treats change as set.
            "set" or "change" => LinkSet(t, i + 1),
            _ => throw Unsupported(verbTok, $"ip link {verb}", "only ip link add ... type veth and ip link set are modelled"),
        };
    }

    private static Command.LinkAddVeth LinkAdd(List<Token> t, int i)
    {
        Token? dev = null;
        string? devNs = null;
        var typed = false;
        for (; i < t.Count && !typed; i++)
        {
            var tok = t[i];
            switch (tok.Text)
            {
                case "name" or "dev":
                    SetDevice(ref dev, Next(t, ref i, "a device NAME"), tok.Text, "name");
                    break;
                case "netns":
                    if (devNs is not null) throw new ParseException(tok.Column, $"Error: duplicate \"netns\" (expected one netns NS before type and one netns NS2 after peer: {LinkAddUsage})");
                    devNs = NetnsName(Next(t, ref i, "a namespace NAME"));
                    break;
                case "type":
                    var type = Next(t, ref i, "a link type (veth)");
                    if (type.Text != "veth") throw Unsupported(type, $"ip link add ... type {Echo(type.Text)}", "only veth pairs are modelled");
                    if (dev is null) throw new ParseException(tok.Column, $"missing device NAME before type: expected {LinkAddUsage}");
                    typed = true;
                    break;
                default:
                    if (LinkKeywords.Contains(tok.Text))
                        throw Unsupported(tok, $"ip link add ... {tok.Text}", "only NAME, netns NS and type veth peer [name] NAME2 [netns NS2] are modelled");
                    SetDevice(ref dev, tok, "dev", "name");
                    break;
            }
        }
        if (dev is null) throw new ParseException(After(t[^1]), $"missing argument: expected {LinkAddUsage}");
        if (!typed) throw new ParseException(After(t[^1]), $"missing argument: expected type veth peer [name] NAME2 after ip link add {Echo(dev.Text)} (only veth pairs are modelled)");
        if (i >= t.Count) throw new ParseException(After(t[^1]), "missing argument: expected peer [name] NAME2 after type veth (a peer the kernel names is not modelled)");
        if (t[i].Text != "peer") throw new ParseException(t[i].Column, $"unexpected {Q(t[i].Text)}: expected peer [name] NAME2 after type veth");
        var peerTok = t[i];
        Token? peer = null;
        string? peerNs = null;
        for (i++; i < t.Count; i++)
        {
            var tok = t[i];
            switch (tok.Text)
            {
                case "name" or "dev":
                    SetDevice(ref peer, Next(t, ref i, "a device NAME"), tok.Text, "name");
                    break;
                case "netns":
                    if (peerNs is not null) throw new ParseException(tok.Column, $"Error: duplicate \"netns\" (expected one netns NS before type and one netns NS2 after peer: {LinkAddUsage})");
                    peerNs = NetnsName(Next(t, ref i, "a namespace NAME"));
                    break;
                case "type":
                    throw new ParseException(tok.Column, "unexpected 'type' after peer: the peer is the other end of the veth pair (Error: duplicate \"type\")");
                default:
                    if (LinkKeywords.Contains(tok.Text))
                        throw Unsupported(tok, $"ip link add ... peer ... {tok.Text}", "only the peer's NAME2 and netns NS2 are modelled");
                    SetDevice(ref peer, tok, "dev", "name");
                    break;
            }
        }
        if (peer is null) throw new ParseException(After(peerTok), "missing argument: expected the peer's [name] NAME2 after peer (a peer the kernel names is not modelled)");
        return new Command.LinkAddVeth(dev.Text, devNs, peer.Text, peerNs);
    }

    private static Command LinkSet(List<Token> t, int i)
    {
        Token? dev = null;
        Token? change = null;
        string? target = null;
        for (; i < t.Count; i++)
        {
            var tok = t[i];
            switch (tok.Text)
            {
                case "dev":
                    SetDevice(ref dev, Next(t, ref i, "a device DEV"), "dev", "dev");
                    break;
                case "up" or "down" or "netns":
                    if (change is not null)
                        throw Unsupported(tok, $"ip link set ... {change.Text} ... {tok.Text}", "one change per ip link set: write each on a line of its own");
                    change = tok;
                    if (tok.Text == "netns") target = NetnsName(Next(t, ref i, "a namespace NAME"));
                    break;
                default:
                    if (LinkKeywords.Contains(tok.Text))
                        throw Unsupported(tok, $"ip link set ... {tok.Text}", "only up, down and netns NS are modelled");
                    SetDevice(ref dev, tok, "dev", "dev");
                    break;
            }
        }
        if (dev is null) throw new ParseException(After(t[^1]), $"missing argument: expected {LinkSetUsage} (ip: Not enough information: \"dev\" argument is required.)");
        if (change is null) throw new ParseException(After(t[^1]), $"missing argument: expected up, down or netns NS after ip link set {Echo(dev.Text)}");
        return target is not null ? new Command.LinkSetNetns(dev.Text, target) : new Command.LinkSetState(dev.Text, change.Text == "up");
    }

    /// <summary><c>ip addr add|del [local] ADDR[/LEN] dev DEV</c>.</summary>
    private static Command.AddrChange IpAddr(List<Token> t, int i)
    {
        if (i >= t.Count) throw new ParseException(After(t[^1]), $"missing argument: expected {AddrUsage}");
        var verbTok = t[i];
        var verb = Resolve(verbTok.Text, AddrVerbs)
            ?? throw new ParseException(verbTok.Column, $"unknown ip addr command {Q(verbTok.Text)}: expected add or del ({AddrUsage})");
        if (verb is not ("add" or "delete")) throw Unsupported(verbTok, $"ip addr {verb}", "only ip addr add and ip addr del are modelled");
        var v = verb == "add" ? "add" : "del";
        Token? addrTok = null;
        Net.InAddr address = default;
        Token? dev = null;
        for (i++; i < t.Count; i++)
        {
            var tok = t[i];
            switch (tok.Text)
            {
                case "dev":
                    SetDevice(ref dev, Next(t, ref i, "a device DEV"), "dev", "dev");
                    break;
                case "local":
                    SetAddress(Next(t, ref i, "ADDR[/LEN]"));
                    break;
                default:
                    if (AddrKeywords.Contains(tok.Text))
                        throw Unsupported(tok, $"ip addr {v} ... {tok.Text}", "only ADDR/LEN and dev DEV are modelled");
                    SetAddress(tok);
                    break;
            }
        }
        if (addrTok is null) throw new ParseException(After(t[^1]), $"missing argument: expected {AddrUsage}");
        if (dev is null) throw new ParseException(After(t[^1]), "missing argument: expected dev DEV (ip: Not enough information: \"dev\" argument is required.)");
        return new Command.AddrChange(verb == "add", address, dev.Text);

        void SetAddress(Token tok)
        {
            if (addrTok is not null)
                throw new ParseException(tok.Column, $"Error: either \"local\" is duplicate, or {Quote(tok.Text, '"')} is garbage. (expected one ADDR/LEN: {AddrUsage})");
            var cidr = ParseCidr(tok);
            addrTok = tok;
            address = new Net.InAddr(cidr.Network, cidr.PrefixLength);
        }
    }

    /// <summary><c>ip route add|del [to] default|PREFIX[/LEN] [via GW] [dev DEV]</c>.</summary>
    private static Command.RouteChange IpRoute(List<Token> t, int i)
    {
        if (i >= t.Count) throw new ParseException(After(t[^1]), $"missing argument: expected {RouteUsage}");
        var verbTok = t[i];
        var verb = Resolve(verbTok.Text, RouteVerbs)
            ?? throw new ParseException(verbTok.Column, $"unknown ip route command {Q(verbTok.Text)}: expected add or del ({RouteUsage})");
        if (verb is not ("add" or "delete")) throw Unsupported(verbTok, $"ip route {verb}", "only ip route add and ip route del are modelled");
        var v = verb == "add" ? "add" : "del";
        Token? dstTok = null;
        Cidr dst = default;
        Token? gwTok = null;
        IPv4Address? gw = null;
        Token? dev = null;
        for (i++; i < t.Count; i++)
        {
            var tok = t[i];
            switch (tok.Text)
            {
                case "via":
                    if (gwTok is not null) throw Unsupported(tok, $"ip route {v} ... via ... via", "multipath routes are not modelled");
                    gwTok = Next(t, ref i, "a gateway GW");
                    if (!IPv4Address.TryParse(gwTok.Text, out var g)) throw new ParseException(gwTok.Column, $"expected GW as an IPv4 address, got {Q(gwTok.Text)}");
                    gw = g;
                    break;
                case "dev" or "oif":
                    SetDevice(ref dev, Next(t, ref i, "a device DEV"), "dev", "dev");
                    break;
                case "to":
                    SetDestination(Next(t, ref i, "default or PREFIX[/LEN]"));
                    break;
                default:
                    if (RouteTypes.Contains(tok.Text))
                        throw Unsupported(tok, $"ip route {v} {tok.Text} ...", "only unicast routes are modelled");
                    if (RouteKeywords.Contains(tok.Text))
                        throw Unsupported(tok, $"ip route {v} ... {tok.Text}", "only default|PREFIX/LEN [via GW] [dev DEV] in the main table is modelled");
                    SetDestination(tok);
                    break;
            }
        }
        if (dstTok is null) throw new ParseException(After(t[^1]), $"missing argument: expected {RouteUsage}");
        // ip route del needs only the prefix (the kernel deletes the first route to it); add needs a next hop.
        if (verb == "add" && gw is null && dev is null) throw new ParseException(After(t[^1]), $"missing argument: expected via GW or dev DEV ({RouteUsage})");
        return new Command.RouteChange(verb == "add", dst, gw, dev?.Text);

        void SetDestination(Token tok)
        {
            if (dstTok is not null)
                throw new ParseException(tok.Column, $"Error: either \"to\" is duplicate, or {Quote(tok.Text, '"')} is garbage. (expected one destination: {RouteUsage})");
            var cidr = tok.Text == "default" ? new Cidr(default, 0) : ParseCidr(tok);
            var mask = cidr.PrefixLength == 0 ? 0u : uint.MaxValue << (32 - cidr.PrefixLength);
            if ((cidr.Network.Value & ~mask) != 0)
            {
                var network = new IPv4Address(cidr.Network.Value & mask);
                throw new ParseException(tok.Column, string.Create(CultureInfo.InvariantCulture,
                    $"Error: Invalid prefix for given prefix length. ({cidr.Network} has host bits set for /{cidr.PrefixLength}: expected {network}/{cidr.PrefixLength})"));
            }
            dstTok = tok;
            dst = cidr;
        }
    }

    /// <summary>
    /// Sets a device name given after <paramref name="keyword"/> (<c>dev</c> for a bare name), refusing a second one as
    /// ip does; <paramref name="role"/> is the word ip's error names (<c>name</c> for a device being created).
    /// </summary>
    private static void SetDevice(ref Token? slot, Token tok, string keyword, string role)
    {
        if (slot is not null)
            throw new ParseException(tok.Column, $"Error: either \"{keyword}\" is duplicate, or {Quote(tok.Text, '"')} is garbage. (expected one device name; {Q(slot.Text)} came first)");
        DeviceName(tok, role);
        slot = tok;
    }

    /// <summary>A device name as iproute2's check_ifname and the kernel's dev_valid_name take it.</summary>
    private static string DeviceName(Token tok, string role)
    {
        var name = tok.Text;
        var bytes = System.Text.Encoding.UTF8.GetByteCount(name);
        var why = name.Length == 0 ? "a device name is 1-15 bytes long, not empty"
            : bytes > 15 ? string.Create(CultureInfo.InvariantCulture, $"it is {bytes} bytes long: a device name has at most 15")
            : name is "." or ".." ? "a device name is not '.' or '..'"
            : name.Any(c => c == '/' || char.IsWhiteSpace(c)) ? "a device name has no '/' or whitespace"
            : name.Contains(':', StringComparison.Ordinal) ? "the kernel refuses ':' in a device name"
            : name[0] == '#' ? "a name starting with '#' cannot be written in a scenario: it starts a comment"
            : null;
        if (why is not null) throw new ParseException(tok.Column, $"Error: argument {Quote(name, '"')} is wrong: \"{role}\" not a valid ifname ({why})");
        return name;
    }

    /// <summary>A network namespace name as iproute2 takes it (ip netns's invalid_name, NAME_MAX 255).</summary>
    private static string NetnsName(Token tok)
    {
        var name = tok.Text;
        var bytes = System.Text.Encoding.UTF8.GetByteCount(name);
        var why = name.Length == 0 ? "a netns name is not empty"
            : bytes > 255 ? string.Create(CultureInfo.InvariantCulture, $"it is {bytes} bytes long: a netns name has at most 255")
            : name is "." or ".." ? "a netns name is not '.' or '..'"
            : name.Contains('/', StringComparison.Ordinal) ? "a netns name has no '/'"
            : name.Any(char.IsWhiteSpace) ? "a name with whitespace cannot be written in a scenario"
            : name[0] == '#' ? "a name starting with '#' cannot be written in a scenario: it starts a comment"
            : null;
        if (why is not null) throw new ParseException(tok.Column, $"Invalid netns name {Quote(name, '"')} ({why})");
        return name;
    }
}
