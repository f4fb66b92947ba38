using System.Globalization;
using System.Net;
using System.Text;
using System.Text.RegularExpressions;

namespace ConntrackModel.Cli.Docs;

/// <summary>Renders the specification's blocks as GitHub Markdown (Mermaid diagrams) and as one offline HTML page (inline SVG).</summary>
public static partial class SpecWriter
{
    public static string Markdown(IEnumerable<DocBlock> blocks)
    {
        ArgumentNullException.ThrowIfNull(blocks);
        var sb = new StringBuilder();
        foreach (var block in blocks)
        {
            switch (block)
            {
                case DocBlock.Heading h:
                    sb.Append('#', h.Level).Append(' ').AppendLine(h.Text).AppendLine();
                    break;
                case DocBlock.Para p:
                    sb.AppendLine(p.Text).AppendLine();
                    break;
                case DocBlock.Table t:
                    sb.AppendLine("| " + string.Join(" | ", t.Headers.Select(Cell)) + " |");
                    sb.AppendLine("|" + string.Concat(t.Headers.Select(_ => "---|")));
                    foreach (var r in t.Rows) sb.AppendLine("| " + string.Join(" | ", r.Select(Cell)) + " |");
                    sb.AppendLine();
                    break;
                case DocBlock.Code c:
                    sb.AppendLine("```" + c.Language).Append(c.Text.TrimEnd('\n')).AppendLine().AppendLine("```").AppendLine();
                    break;
                case DocBlock.Diagram d:
                    sb.AppendLine("```mermaid").Append(d.Mermaid).AppendLine("```").AppendLine();
                    break;
            }
        }
        return sb.ToString().TrimEnd('\n') + "\n";
    }

    private static string Cell(string s) => s.Replace("|", "\\|", StringComparison.Ordinal).Replace("\n", " ", StringComparison.Ordinal);

    /// <summary>One self-contained page: no script, no external stylesheet, diagrams as inline SVG.</summary>
    public static string Html(IEnumerable<DocBlock> blocks)
    {
        ArgumentNullException.ThrowIfNull(blocks);
        var list = blocks.ToList();
        var sb = new StringBuilder();
        sb.AppendLine("<!DOCTYPE html>");
        sb.AppendLine("<html lang=\"en\"><head><meta charset=\"utf-8\"><title>ConntrackModel specification</title>");
        sb.AppendLine("<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;line-height:1.45}table{border-collapse:collapse;margin:1em 0;font-size:90%}td,th{border:1px solid #ccc;padding:3px 6px;vertical-align:top}th{background:#f3f3f3}pre{background:#f6f8fa;padding:.8em;overflow:auto}code{background:#f3f3f3;padding:0 2px}.diagram{overflow:auto;border:1px solid #ddd;margin:1em 0}nav li{margin:0}</style>");
        sb.AppendLine("</head><body>");
        sb.AppendLine("<nav><ul>");
        foreach (var h in list.OfType<DocBlock.Heading>().Where(h => h.Level == 2))
            sb.AppendLine(CultureInfo.InvariantCulture, $"<li><a href=\"#{h.Anchor}\">{WebUtility.HtmlEncode(h.Text)}</a></li>");
        sb.AppendLine("</ul></nav>");
        foreach (var block in list)
        {
            switch (block)
            {
                case DocBlock.Heading h:
                    sb.AppendLine(CultureInfo.InvariantCulture, $"<h{h.Level} id=\"{h.Anchor}\">{WebUtility.HtmlEncode(h.Text)}</h{h.Level}>");
                    break;
                case DocBlock.Para p:
                    sb.AppendLine("<p>" + Inline(p.Text) + "</p>");
                    break;
                case DocBlock.Table t:
                    sb.Append("<table><tr>");
                    foreach (var c in t.Headers) sb.Append("<th>").Append(Inline(c)).Append("</th>");
                    sb.AppendLine("</tr>");
                    foreach (var r in t.Rows) sb.AppendLine("<tr>" + string.Concat(r.Select(c => "<td>" + Inline(c) + "</td>")) + "</tr>");
                    sb.AppendLine("</table>");
                    break;
                case DocBlock.Code c:
                    sb.AppendLine("<pre><code>" + WebUtility.HtmlEncode(c.Text.TrimEnd('\n')) + "</code></pre>");
                    break;
                case DocBlock.Diagram d:
                    sb.AppendLine("<div class=\"diagram\">" + d.Svg + "</div>");
                    break;
            }
        }
        sb.AppendLine("</body></html>");
        return sb.ToString();
    }

    /// <summary>`code`, **bold** and [text](url) in an HTML-escaped string.</summary>
    private static string Inline(string text)
    {
        var s = WebUtility.HtmlEncode(text);
        s = Link().Replace(s, m => $"<a href=\"{m.Groups[2].Value}\">{m.Groups[1].Value}</a>");
        s = CodeSpan().Replace(s, m => $"<code>{m.Groups[1].Value}</code>");
        return Bold().Replace(s, m => $"<b>{m.Groups[1].Value}</b>");
    }

    [GeneratedRegex(@"\[([^\]]+)\]\(([^)\s]+)\)", RegexOptions.CultureInvariant)]
    private static partial Regex Link();

    [GeneratedRegex(@"`([^`]+)`", RegexOptions.CultureInvariant)]
    private static partial Regex CodeSpan();

    [GeneratedRegex(@"\*\*([^*]+)\*\*", RegexOptions.CultureInvariant)]
    private static partial Regex Bold();
}
