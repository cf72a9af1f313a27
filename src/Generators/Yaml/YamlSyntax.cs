using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Threading;
using Microsoft.CodeAnalysis.Text;
using YamlDotNet.Core;
using YamlDotNet.Core.Events;

namespace Unikernel.Generators;

internal enum YamlNodeKind
{
    Scalar,
    Sequence,
    Mapping,
}

/// <summary>One key and value of a YAML mapping.</summary>
internal sealed record YamlPair(YamlNode Key, YamlNode Value);

/// <summary>
/// A YAML node kept as plain, equatable data (with its location), so the parse of unikernel.yaml is cached on the text
/// and later pipeline steps compare it by value.
/// </summary>
internal sealed record YamlNode(YamlNodeKind Kind, string Value, bool IsPlain, LocationInfo Location, EquatableArray<YamlNode> Items, EquatableArray<YamlPair> Pairs)
{
    /// <summary>A plain scalar that YAML's core schema reads as null (<c>~</c>, <c>null</c> or nothing).</summary>
    public bool IsNull => Kind == YamlNodeKind.Scalar && IsPlain && (Value.Length == 0 || Value == "~" || Value is "null" or "Null" or "NULL");

    public string Describe() => Kind switch
    {
        YamlNodeKind.Mapping => "a mapping",
        YamlNodeKind.Sequence => "a list",
        _ when IsNull => "empty (null)",
        _ => $"the scalar '{Shorten(Value)}'",
    };

    private static string Shorten(string text) => text.Length <= 40 ? text : text.Substring(0, 37) + "...";
}

/// <summary>The result of parsing unikernel.yaml: the document (null when unreadable) and syntax-level diagnostics.</summary>
internal sealed record YamlDocumentSyntax(string Path, YamlNode? Root, EquatableArray<DiagnosticInfo> Diagnostics)
{
    public LocationInfo FileStart => new(Path, new TextSpan(0, 0), new LinePositionSpan(LinePosition.Zero, LinePosition.Zero));
}

/// <summary>
/// Parses YAML into <see cref="YamlNode"/>s with YamlDotNet's event parser. Hostile input is bounded: a size limit, a
/// nesting limit, a node limit, and aliases are refused (no expansion, so no "billion laughs").
/// </summary>
internal sealed class YamlSyntaxParser
{
    public const int MaxLength = 1024 * 1024;
    public const int MaxDepth = 32;
    public const int MaxNodes = 20_000;
    public const int MaxDiagnostics = 50;

    private readonly string _path;
    private readonly List<DiagnosticInfo> _diagnostics = [];
    private readonly CancellationToken _cancellationToken;
    private IParser _parser = null!;
    private string _text = "";
    private Mark _last = Mark.Empty;
    private int _nodes;

    private YamlSyntaxParser(string path, CancellationToken cancellationToken)
    {
        _path = path;
        _cancellationToken = cancellationToken;
    }

    public static YamlDocumentSyntax Parse(string path, SourceText? text, CancellationToken cancellationToken = default)
    {
        var parser = new YamlSyntaxParser(path, cancellationToken);
        var root = parser.Run(text);
        return new YamlDocumentSyntax(path, root, parser._diagnostics.ToEquatableArray());
    }

    private YamlNode? Run(SourceText? text)
    {
        var start = new LocationInfo(_path, new TextSpan(0, 0), new LinePositionSpan(LinePosition.Zero, LinePosition.Zero));
        if (text is null)
        {
            Report(YamlDiagnostics.Syntax, start, "the file could not be read");
            return null;
        }
        if (text.Length > MaxLength)
        {
            Report(YamlDiagnostics.Limit, start, $"it has {text.Length} characters; the limit is {MaxLength}");
            return null;
        }
        try
        {
            _text = text.ToString();
            _parser = new Parser(new StringReader(_text));
            Expect<StreamStart>();
            if (_parser.Accept<StreamEnd>(out _))
            {
                Report(YamlDiagnostics.Syntax, start, "the file is empty");
                return null;
            }
            var document = Expect<DocumentStart>();
            var root = ReadNode(1);
            Expect<DocumentEnd>();
            if (root is not null && !_parser.Accept<StreamEnd>(out _) && _parser.Current is { } extra)
            {
                Report(YamlDiagnostics.Syntax, Location(extra.Start, extra.End), "it has more than one document; unikernel.yaml holds one");
            }
            _ = document;
            return root;
        }
        catch (OperationCanceledException)
        {
            throw;
        }
        catch (YamlException exception)
        {
            Report(YamlDiagnostics.Syntax, ErrorLocation(exception), Clean(exception.Message));
            return null;
        }
        catch (StopException)
        {
            return null;
        }
        catch (Exception exception) when (exception is InvalidOperationException or ArgumentException or IndexOutOfRangeException or EndOfStreamException or FormatException or OverflowException)
        {
            // YamlDotNet fails this way on some malformed input (e.g. a flow collection left open at the end).
            Report(YamlDiagnostics.Syntax, Location(_last, _last), "the document is malformed after this point (an unclosed '{' or '[', or a stray character?)");
            return null;
        }
    }

    /// <summary>YamlDotNet's mark, or a better one where it has none (it reports a tab indentation at the start of the file).</summary>
    private LocationInfo ErrorLocation(YamlException exception)
    {
        if (exception.Start.Index <= _last.Index && exception.Message.IndexOf("tab", StringComparison.OrdinalIgnoreCase) >= 0)
        {
            var from = (int)Math.Min(_text.Length, Math.Max(0, _last.Index));
            var tab = _text.IndexOf("\n\t", from, StringComparison.Ordinal);
            if (tab >= 0)
            {
                var line = _last.Line + _text.Substring(from, tab - from).Count(c => c == '\n') + 1;
                var mark = new Mark(tab + 1, line, 1);
                return Location(mark, mark);
            }
        }
        return Location(exception.Start, exception.End);
    }

    private static string Clean(string message)
    {
        // YamlDotNet prefixes "(Line: 1, Col: 2, Idx: 1) - (Line: ...): "; the location says that already.
        var index = message.IndexOf("): ", StringComparison.Ordinal);
        return message.StartsWith("(Line", StringComparison.Ordinal) && index > 0 ? message.Substring(index + 3) : message;
    }

    private T Expect<T>() where T : ParsingEvent
    {
        _cancellationToken.ThrowIfCancellationRequested();
        var consumed = _parser.Consume<T>();
        _last = consumed.End;
        return consumed;
    }

    /// <summary>Reads the node that starts at the parser's current event; null after reporting a fatal problem.</summary>
    private YamlNode ReadNode(int depth)
    {
        _cancellationToken.ThrowIfCancellationRequested();
        var current = _parser.Current ?? throw new YamlException("unexpected end of the document");
        _last = current.End;
        if (++_nodes > MaxNodes)
        {
            Report(YamlDiagnostics.Limit, Location(current.Start, current.End), $"more than {MaxNodes} nodes");
            throw new StopException();
        }
        if (depth > MaxDepth && current is MappingStart or SequenceStart)
        {
            Report(YamlDiagnostics.Limit, Location(current.Start, current.End), $"nesting deeper than {MaxDepth} levels");
            throw new StopException();
        }
        switch (current)
        {
            case AnchorAlias alias:
                _parser.MoveNext();
                Report(YamlDiagnostics.Alias, Location(alias.Start, alias.End), alias.Value.Value);
                return new YamlNode(YamlNodeKind.Scalar, "", true, Location(alias.Start, alias.End), EquatableArray<YamlNode>.Empty, EquatableArray<YamlPair>.Empty);
            case Scalar scalar:
                _parser.MoveNext();
                return new YamlNode(YamlNodeKind.Scalar, scalar.Value, scalar.Style == ScalarStyle.Plain, Location(scalar.Start, scalar.End), EquatableArray<YamlNode>.Empty, EquatableArray<YamlPair>.Empty);
            case SequenceStart sequence:
            {
                _parser.MoveNext();
                var items = new List<YamlNode>();
                while (!_parser.Accept<SequenceEnd>(out _))
                {
                    items.Add(ReadNode(depth + 1));
                }
                var end = Expect<SequenceEnd>();
                return new YamlNode(YamlNodeKind.Sequence, "", false, Location(sequence.Start, end.End), items.ToEquatableArray(), EquatableArray<YamlPair>.Empty);
            }
            case MappingStart mapping:
            {
                _parser.MoveNext();
                var pairs = new List<YamlPair>();
                var seen = new HashSet<string>(StringComparer.Ordinal);
                while (!_parser.Accept<MappingEnd>(out _))
                {
                    var key = ReadNode(depth + 1);
                    var value = ReadNode(depth + 1);
                    if (key.Kind != YamlNodeKind.Scalar)
                    {
                        Report(YamlDiagnostics.WrongType, key.Location, "A key", "a plain name", key.Describe());
                        continue;
                    }
                    if (!seen.Add(key.Value))
                    {
                        Report(YamlDiagnostics.DuplicateKey, key.Location, key.Value);
                        continue;
                    }
                    pairs.Add(new YamlPair(key, value));
                }
                var end = Expect<MappingEnd>();
                return new YamlNode(YamlNodeKind.Mapping, "", false, Location(mapping.Start, end.End), EquatableArray<YamlNode>.Empty, pairs.ToEquatableArray());
            }
            default:
                throw new YamlException(current.Start, current.End, "unexpected " + current.GetType().Name);
        }
    }

    private LocationInfo Location(Mark start, Mark end)
    {
        var startIndex = (int)Math.Max(0, start.Index);
        var endIndex = (int)Math.Max(startIndex, end.Index);
        var startLine = new LinePosition((int)Math.Max(0, start.Line - 1), (int)Math.Max(0, start.Column - 1));
        var endLine = new LinePosition((int)Math.Max(0, end.Line - 1), (int)Math.Max(0, end.Column - 1));
        if (endLine < startLine)
        {
            endLine = startLine;
        }
        return new LocationInfo(_path, TextSpan.FromBounds(startIndex, endIndex), new LinePositionSpan(startLine, endLine));
    }

    private void Report(Microsoft.CodeAnalysis.DiagnosticDescriptor descriptor, LocationInfo location, params string[] arguments)
    {
        if (_diagnostics.Count < MaxDiagnostics)
        {
            _diagnostics.Add(DiagnosticInfo.Create(descriptor, location, arguments));
        }
    }

    private sealed class StopException : Exception
    {
    }
}
