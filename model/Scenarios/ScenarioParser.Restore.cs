using System.Collections.Immutable;
using System.Text.RegularExpressions;
using ConntrackModel.Model.Iptables;
using ConntrackModel.Model.Kernel;

namespace ConntrackModel.Model.Scenarios;

/// <summary>
/// <c>iptables-restore [--noflush] &lt;&lt;'TAG'</c> with its here-document: the dump is parsed as iptables-restore
/// reads it (iptables 1.8.9): <c>*TABLE</c> opens a block (only <c>nat</c> is modelled), <c>:CHAIN POLICY [p:b]</c>
/// declares a chain, the commands are iptables' own without <c>-t</c>, <c>COMMIT</c> ends the block; blank lines and
/// <c>#</c> comments are skipped. Errors are positioned at the scenario line and column they are about; those
/// iptables-restore itself reports carry its wording (measured).
/// </summary>
public static partial class ScenarioParser
{
    [GeneratedRegex(@"^\s*(?:ip\s+netns\s+exec\s+(?<ns>\S+)\s+)?iptables-restore(?<opts>(?:\s+-[^\s<]+)*)\s*(?<heredoc><<\s*(?<q>['""]?)(?<tag>[A-Za-z_][A-Za-z0-9_]*)\k<q>)?\s*(?<rest>[^#]*?)\s*(?:#.*)?$")]
    private static partial Regex RestoreLine();

    /// <summary>A dump's line is parsed as the command it would be: <c>iptables -t TABLE</c> and the line (the prefix has the same length for every table name padded to it).</summary>
    private static string RestorePrefix(IptTable table) => $"iptables -t {table.Name(),-6} ";

    private static readonly int RestorePrefixLength = RestorePrefix(IptTable.Nat).Length;

    /// <summary>
    /// If <paramref name="rawLines"/>[<paramref name="i"/>] starts an <c>iptables-restore</c>, parses it with its
    /// here-document and returns the index of the here-document's last line (the tag); else -1.
    /// </summary>
    private static int TryRestore(string file, string[] rawLines, int i, ImmutableList<ScenarioLine>.Builder lines, ImmutableList<ParseError>.Builder errors,
        Func<string, (string Display, string? Text, string? Error)>? include)
    {
        var raw = rawLines[i];
        var m = RestoreLine().Match(raw);
        if (!m.Success) return -1;
        var column = raw.IndexOf("iptables-restore", StringComparison.Ordinal) + 1;
        var noFlush = false;
        foreach (var opt in m.Groups["opts"].Value.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            if (opt is "--noflush" or "-n") noFlush = true;
            else
            {
                errors.Add(new ParseError(file, i + 1, raw.IndexOf(opt, StringComparison.Ordinal) + 1, $"unsupported iptables-restore option {Q(opt)}: expected --noflush"));
                return i;
            }
        }
        var rest = m.Groups["rest"].Value;
        if (!m.Groups["heredoc"].Success && rest.Length > 0 && !rest.Contains(' ', StringComparison.Ordinal))
            return RestoreFile(file, raw, i, m, noFlush, lines, errors, include);
        if (!m.Groups["heredoc"].Success || rest.Length > 0)
        {
            var at = rest.Length > 0 ? m.Groups["rest"].Index + 1 : raw.TrimEnd().Length + 1;
            errors.Add(new ParseError(file, i + 1, at, "expected iptables-restore [--noflush] FILE, or a here-document: iptables-restore [--noflush] <<'EOF', the dump, then a line EOF"));
            return i;
        }
        var tag = m.Groups["tag"].Value;
        var end = -1;
        for (var j = i + 1; j < rawLines.Length; j++)
        {
            if (rawLines[j].TrimEnd() == tag)
            {
                end = j;
                break;
            }
        }
        if (end < 0)
        {
            errors.Add(new ParseError(file, i + 1, m.Groups["heredoc"].Index + 1, $"the here-document has no end: expected a line {Q(tag)} after the dump"));
            return rawLines.Length - 1;
        }
        var body = rawLines[(i + 1)..end].Select(l => l.TrimEnd()).ToImmutableArray();
        if (Dump(i + 2, body, errors, (line, col, message) => new ParseError(file, line, col, message), end + 1) is not { } blocks) return end;
        Command command = new Command.IptablesRestore(noFlush, body, blocks) { Tag = tag };
        if (m.Groups["ns"].Success) command = command with { Netns = m.Groups["ns"].Value };
        lines.Add(new ScenarioLine(i + 1, raw.Trim(), command) { Column = raw.Length - raw.TrimStart().Length + 1 });
        return end;
    }

    /// <summary>
    /// <c>iptables-restore [--noflush] FILE</c>: the dump read through <paramref name="include"/> (relative to the
    /// scenario, the caller decides), its errors reported in that file's lines; the command is the same as with a
    /// here-document of that text, and is written back as one.
    /// </summary>
    private static int RestoreFile(string file, string raw, int i, Match m, bool noFlush, ImmutableList<ScenarioLine>.Builder lines,
        ImmutableList<ParseError>.Builder errors, Func<string, (string Display, string? Text, string? Error)>? include)
    {
        var path = m.Groups["rest"].Value;
        var at = m.Groups["rest"].Index + 1;
        if (include is null)
        {
            errors.Add(new ParseError(file, i + 1, at, $"iptables-restore {path}: this scenario was not read from a file, so there is nothing to find {Q(path)} relative to: use a here-document"));
            return i;
        }
        var (display, text, error) = include(path);
        if (text is null)
        {
            errors.Add(new ParseError(file, i + 1, at, $"cannot read {Q(path)}: {error}"));
            return i;
        }
        var body = text.Replace("\r\n", "\n", StringComparison.Ordinal).TrimEnd('\n').Split('\n').Select(l => l.TrimEnd()).ToImmutableArray();
        if (Dump(1, body, errors, (line, col, message) => new ParseError(display, line, col, message), body.Length + 1) is not { } blocks) return i;
        Command command = new Command.IptablesRestore(noFlush, body, blocks);
        if (m.Groups["ns"].Success) command = command with { Netns = m.Groups["ns"].Value };
        lines.Add(new ScenarioLine(i + 1, raw.Trim(), command) { Column = raw.Length - raw.TrimStart().Length + 1 });
        return i;
    }

    /// <summary>
    /// The blocks of a dump whose first line is line <paramref name="firstLine"/> of its file (errors, made by
    /// <paramref name="report"/>, are added and null returned when it has any); <paramref name="endLine"/> is where a
    /// missing COMMIT is reported.
    /// </summary>
    private static ImmutableArray<RestoreBlock>? Dump(int firstLine, ImmutableArray<string> body, ImmutableList<ParseError>.Builder errors,
        Func<int, int, string, ParseError> report, int endLine)
    {
        var blocks = ImmutableArray.CreateBuilder<RestoreBlock>();
        var items = ImmutableArray.CreateBuilder<RestoreItem>();
        int? open = null;
        var table = IptTable.Nat;
        var before = errors.Count;
        for (var k = 0; k < body.Length && errors.Count == before; k++)
        {
            var text = body[k];
            var trimmed = text.Trim();
            var at = text.Length - text.TrimStart().Length + 1;
            ParseError Error(int col, string message) => report(firstLine + k, col, message);
            if (trimmed.Length == 0 || trimmed.StartsWith('#')) continue;
            if (trimmed.StartsWith('*'))
            {
                // Measured: a table inside an open block is "Bad argument `*nat'" (iptables-restore exits 2).
                if (open is not null) errors.Add(Error(at, $"Bad argument `{trimmed}'"));
                else if (IptTables.Parse(trimmed[1..]) is not { } named)
                    errors.Add(Error(at + 1, $"unsupported table {Q(trimmed[1..])}: the model has the nat, filter, raw and mangle tables"));
                else
                {
                    open = k + 1;
                    table = named;
                }
                continue;
            }
            if (open is null)
            {
                errors.Add(Error(at, $"iptables-restore: line {k + 1} failed: expected *nat, *filter, *raw or *mangle before it (rules and chains belong to a table block)"));
                continue;
            }
            if (trimmed == "COMMIT")
            {
                blocks.Add(new RestoreBlock(open.Value, items.ToImmutable(), k + 1) { Table = table });
                items.Clear();
                open = null;
                continue;
            }
            try
            {
                if (trimmed.StartsWith(':'))
                {
                    var (name, policy) = Declaration(Tokenize(text), table);
                    items.Add(new RestoreItem(k + 1, name, null) { Policy = policy });
                }
                else if (trimmed.StartsWith('-')) items.Add(new RestoreItem(k + 1, null, Iptables(Tokenize(RestorePrefix(table) + text), RestorePrefix(table) + text)));
                else errors.Add(Error(at, $"Bad argument `{trimmed.Split(' ')[0]}'"));
            }
            catch (ParseException e)
            {
                errors.Add(Error(Math.Max(1, trimmed.StartsWith('-') ? e.Column - RestorePrefixLength : e.Column), e.Message));
            }
        }
        if (errors.Count == before && open is not null)
            errors.Add(report(endLine, 1, $"iptables-restore: COMMIT expected at line {body.Length + 1}"));
        return errors.Count > before ? null : blocks.ToImmutable();
    }

    /// <summary>
    /// <c>:CHAIN POLICY [packets:bytes]</c>: a built-in chain's policy is ACCEPT or DROP (iptables refuses DROP in the nat
    /// table), a user chain's <c>-</c>. The chain's name and the policy (null for a user chain).
    /// </summary>
    private static (string Name, string? Policy) Declaration(List<Token> t, IptTable table)
    {
        var name = t[0].Text[1..];
        if (name.Length == 0) throw new ParseException(t[0].Column, "expected a chain name after ':'");
        if (t.Count < 2) throw new ParseException(t[0].Column + t[0].Text.Length + 1, "expected the chain's policy (ACCEPT or DROP for a built-in chain, - for a user chain)");
        var policy = t[1];
        string? kept = null;
        if (table.Builtin(name) is not null)
        {
            if (policy.Text is not ("ACCEPT" or "DROP")) throw new ParseException(policy.Column, $"Bad policy name {Q(policy.Text)}: expected ACCEPT or DROP");
            if (table == IptTable.Nat && policy.Text == "DROP") throw new ParseException(policy.Column, NatDrop);
            kept = policy.Text;
        }
        else
        {
            if (policy.Text != "-") throw new ParseException(policy.Column, $"a user chain has no policy: expected '-', got {Q(policy.Text)}");
            ChainNameOf(new Token(name, t[0].Column + 1));
        }
        if (t.Count > 3) throw new ParseException(t[3].Column, $"unexpected {Q(t[3].Text)} after the chain's counters");
        return (name, kept);
    }
}
