namespace Unikernel.Generators.Tests;

/// <summary>The emitter's writer: indentation stays balanced and multi-line text is indented line by line.</summary>
public class SourceWriterTests
{
    [Fact]
    public void Multi_line_text_is_indented_line_by_line()
    {
        var w = new SourceWriter();
        w.OpenBlock("class C");
        w.WriteLine("/// <summary>\r\n/// Two lines.\n/// </summary>");
        w.WriteLine("int X;\n\nint Y;");
        w.CloseBlock();
        Assert.True(w.IsBalanced);
        Assert.Equal("class C\n{\n    /// <summary>\n    /// Two lines.\n    /// </summary>\n    int X;\n\n    int Y;\n}\n", w.ToString());
    }

    [Fact]
    public void Closing_more_than_was_opened_is_seen_and_never_throws()
    {
        var w = new SourceWriter();
        w.OpenBlock("namespace N");
        w.CloseBlock();
        w.CloseBlock();
        w.WriteLine("x");
        Assert.False(w.IsBalanced);
        Assert.Equal("namespace N\n{\n}\n}\nx\n", w.ToString());
    }

    [Fact]
    public void An_open_block_is_unbalanced()
    {
        var w = new SourceWriter();
        w.OpenBlock("class C");
        w.Indent();
        w.Outdent();
        Assert.False(w.IsBalanced);
        w.CloseBlock();
        Assert.True(w.IsBalanced);
    }
}
