using System.Collections.Immutable;

namespace ConntrackModel.Cli.Docs;

/// <summary>A block of the generated specification, rendered to Markdown and to HTML by the same builder output.</summary>
public abstract record DocBlock
{
    private DocBlock()
    {
    }

    public sealed record Heading(int Level, string Text, string Anchor) : DocBlock;

    /// <summary>Text with <c>`code`</c> spans and <c>[text](url)</c> links.</summary>
    public sealed record Para(string Text) : DocBlock;

    public sealed record Table(ImmutableArray<string> Headers, ImmutableArray<ImmutableArray<string>> Rows) : DocBlock
    {
        public bool Equals(Table? other) => other is not null && Headers.SequenceEqual(other.Headers) && Rows.Length == other.Rows.Length;

        public override int GetHashCode() => HashCode.Combine(Headers.Length, Rows.Length);
    }

    public sealed record Code(string Language, string Text) : DocBlock;

    /// <summary>A sequence diagram: Mermaid for GitHub, inline SVG for the offline HTML page.</summary>
    public sealed record Diagram(string Mermaid, string Svg) : DocBlock;
}
