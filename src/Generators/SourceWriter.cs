using System.Text;

namespace Unikernel.Generators;

/// <summary>
/// A minimal indented writer, in the style of dotnet/runtime's generators. Text with line breaks is written line by
/// line at the current indentation; indentation never goes below zero, and <see cref="IsBalanced"/> says whether every
/// block and indent was closed (the emitter's tests check it).
/// </summary>
internal sealed class SourceWriter
{
    private readonly StringBuilder _builder = new();
    private int _indent;
    private bool _unbalanced;

    /// <summary>True when every OpenBlock/Indent was closed and nothing was closed twice.</summary>
    public bool IsBalanced => _indent == 0 && !_unbalanced;

    public void WriteLine(string line = "")
    {
        // Multi-line text (a doc comment, a literal block): each line at this indentation, \r\n read as \n.
        var start = 0;
        for (var i = 0; i <= line.Length; i++)
        {
            if (i == line.Length || line[i] == '\n')
            {
                var end = i > start && line[i - 1] == '\r' ? i - 1 : i;
                WriteOne(line.Substring(start, end - start));
                start = i + 1;
            }
        }
    }

    private void WriteOne(string line)
    {
        if (line.Length > 0)
        {
            _builder.Append(' ', _indent * 4);
        }
        _builder.Append(line).Append('\n');
    }

    public void OpenBlock(string header)
    {
        WriteLine(header);
        WriteLine("{");
        _indent++;
    }

    public void CloseBlock(string suffix = "")
    {
        Outdent();
        WriteLine("}" + suffix);
    }

    public void Indent() => _indent++;

    public void Outdent()
    {
        if (_indent == 0)
        {
            // A generator never throws: keep writing at column 0 and remember the mistake.
            _unbalanced = true;
            return;
        }
        _indent--;
    }

    public override string ToString() => _builder.ToString();
}
