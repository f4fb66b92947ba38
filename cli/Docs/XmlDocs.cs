using System.Reflection;
using System.Text.RegularExpressions;
using System.Xml.Linq;

namespace ConntrackModel.Cli.Docs;

/// <summary>
/// The XML documentation the build writes next to each assembly: the model's own comments are the prose of the
/// specification, so the text cannot drift from the code it describes.
/// </summary>
public sealed partial class XmlDocs
{
    private readonly Dictionary<string, XElement> _members = new(StringComparer.Ordinal);

    public static XmlDocs For(params Assembly[] assemblies)
    {
        var d = new XmlDocs();
        foreach (var a in assemblies)
        {
            var path = Path.ChangeExtension(a.Location, ".xml");
            if (!File.Exists(path)) throw new FileNotFoundException($"the XML documentation of {a.GetName().Name} is missing (build with GenerateDocumentationFile)", path);
            foreach (var m in XDocument.Load(path).Descendants("member"))
            {
                if (m.Attribute("name")?.Value is { } n) d._members[n] = m;
            }
        }
        return d;
    }

    public string Summary(Type t) => Text(Find("T:" + Name(t)), "summary");

    public string Remarks(Type t) => Text(Find("T:" + Name(t)), "remarks");

    public string MemberSummary(Type t, string member) =>
        Text(_members.Where(kv => kv.Key.StartsWith($"M:{Name(t)}.{member}(", StringComparison.Ordinal) || kv.Key == $"M:{Name(t)}.{member}" || kv.Key == $"P:{Name(t)}.{member}" || kv.Key == $"F:{Name(t)}.{member}")
            .Select(kv => kv.Value).FirstOrDefault(), "summary");

    /// <summary>Every kernel identifier the comments name in <c>&lt;c&gt;</c> (snake_case, the kernel's style), with where.</summary>
    public IEnumerable<(string Identifier, string Where)> KernelIdentifiers() =>
        _members.SelectMany(kv => kv.Value.Descendants("c").Select(c => c.Value.Trim())
                .SelectMany(v => Identifier().Matches(v).Select(m => m.Value))
                .Select(id => (id, Where: Short(kv.Key))))
            .Distinct();

    private static string Short(string key) => Regex.Replace(key[2..], @"\(.*\)$", "").Replace("ConntrackModel.", "", StringComparison.Ordinal);

    [GeneratedRegex(@"\b(?:nf|tcp|inet|ip|xt|ipt|get|find|secure|sk|sock|loopback|masquerade|hash|resolve|init|nat|ct|__)[a-z0-9]*_[a-z0-9_]+\b", RegexOptions.CultureInvariant)]
    private static partial Regex Identifier();

    private XElement? Find(string key) => _members.GetValueOrDefault(key);

    private static string Name(Type t) => (t.FullName ?? t.Name).Replace('+', '.');

    /// <summary>The element's text with <c>&lt;c&gt;</c> as code spans and references by their short name.</summary>
    private static string Text(XElement? member, string tag)
    {
        var e = member?.Element(tag);
        if (e is null) return "";
        var parts = e.Nodes().Select(n => n switch
        {
            XText t => t.Value,
            XElement { Name.LocalName: "c" } c => "`" + c.Value + "`",
            XElement { Name.LocalName: "see" or "seealso" } s => "`" + ((s.Attribute("cref")?.Value ?? s.Attribute("langword")?.Value ?? "").Split('(')[0].Split('.', ':').Last()) + "`",
            XElement { Name.LocalName: "paramref" or "typeparamref" } p => "`" + p.Attribute("name")?.Value + "`",
            XElement { Name.LocalName: "list" } l => string.Join(" ", l.Descendants("item").Select(i => "• " + i.Value.Trim())),
            XElement x => x.Value,
            _ => "",
        });
        return Regex.Replace(string.Concat(parts), @"\s+", " ").Trim();
    }
}
