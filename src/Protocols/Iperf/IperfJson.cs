using System;
using System.Collections.Generic;
using System.Globalization;
using System.Text;

namespace Unikernel.Protocols.Iperf;

public enum JsonKind : byte
{
    Null,
    False,
    True,
    Number,
    String,
    Array,
    Object,
}

/// <summary>
/// A parsed JSON value (RFC 8259): the small documents iperf3 exchanges. Numbers keep their double and, when the text
/// is an integer, its value clamped to <see cref="long"/> (iperf3's cJSON prints -1 as 18446744073709551615).
/// </summary>
public sealed class JsonValue
{
    private static readonly List<KeyValuePair<string, JsonValue>> NoMembers = [];
    private static readonly List<JsonValue> NoItems = [];

    private JsonValue(JsonKind kind) => Kind = kind;

    public JsonKind Kind { get; }

    public double Number { get; private init; }

    /// <summary>The integer value (clamped to long), or the double truncated toward zero for a fraction.</summary>
    public long Integer { get; private init; }

    public string Text { get; private init; } = "";

    public IReadOnlyList<KeyValuePair<string, JsonValue>> Members { get; private init; } = NoMembers;

    public IReadOnlyList<JsonValue> Items { get; private init; } = NoItems;

    internal static readonly JsonValue NullValue = new(JsonKind.Null);
    internal static readonly JsonValue FalseValue = new(JsonKind.False);
    internal static readonly JsonValue TrueValue = new(JsonKind.True);

    internal static JsonValue FromNumber(double number, long integer) => new(JsonKind.Number) { Number = number, Integer = integer };

    internal static JsonValue FromString(string text) => new(JsonKind.String) { Text = text };

    internal static JsonValue FromArray(List<JsonValue> items) => new(JsonKind.Array) { Items = items };

    internal static JsonValue FromObject(List<KeyValuePair<string, JsonValue>> members) => new(JsonKind.Object) { Members = members };

    /// <summary>The first member named <paramref name="name"/> (as cJSON's GetObjectItem, but case-sensitive), or null.</summary>
    public JsonValue? this[string name]
    {
        get
        {
            foreach (var member in Members)
            {
                if (member.Key == name)
                {
                    return member.Value;
                }
            }
            return null;
        }
    }
}

/// <summary>Limits of <see cref="JsonReader"/>: what a hostile peer can make us allocate.</summary>
public sealed record JsonLimits
{
    public static readonly JsonLimits Default = new();

    /// <summary>Nesting of arrays and objects.</summary>
    public int MaxDepth { get; init; } = 8;

    /// <summary>Values in the whole document (every member, item and scalar).</summary>
    public int MaxValues { get; init; } = 4096;

    /// <summary>Bytes of one string or member name, as written (escapes count as their bytes).</summary>
    public int MaxStringBytes { get; init; } = 4096;
}

/// <summary>
/// A small reflection-free JSON reader over UTF-8 bytes (RFC 8259, strict: no comments, no trailing commas, no
/// leading zeros, escapes checked, one value then only whitespace). Never throws on bad input: <see cref="TryParse"/>
/// says what is wrong. Bounded by <see cref="JsonLimits"/>; the caller bounds the input length.
/// </summary>
public ref struct JsonReader
{
    private readonly ReadOnlySpan<byte> _text;
    private readonly JsonLimits _limits;
    private int _position;
    private int _values;
    private string? _error;

    private JsonReader(ReadOnlySpan<byte> text, JsonLimits limits)
    {
        _text = text;
        _limits = limits;
    }

    public static bool TryParse(ReadOnlySpan<byte> text, JsonLimits limits, out JsonValue value, out string error)
    {
        var reader = new JsonReader(text, limits);
        var parsed = reader.ParseValue(0);
        reader.SkipWhitespace();
        if (parsed is not null && reader._position != text.Length)
        {
            reader.Fail("data after the JSON value");
            parsed = null;
        }
        value = parsed ?? JsonValue.NullValue;
        error = parsed is null ? $"{reader._error} at byte {reader._position.ToString(CultureInfo.InvariantCulture)}" : "";
        return parsed is not null;
    }

    public static bool TryParse(ReadOnlySpan<byte> text, out JsonValue value, out string error) => TryParse(text, JsonLimits.Default, out value, out error);

    private JsonValue? Fail(string error)
    {
        _error ??= error;
        return null;
    }

    private void SkipWhitespace()
    {
        while (_position < _text.Length && _text[_position] is (byte)' ' or (byte)'\t' or (byte)'\n' or (byte)'\r')
        {
            _position++;
        }
    }

    private JsonValue? ParseValue(int depth)
    {
        if (++_values > _limits.MaxValues)
        {
            return Fail("too many values");
        }
        SkipWhitespace();
        if (_position >= _text.Length)
        {
            return Fail("unexpected end");
        }
        switch (_text[_position])
        {
            case (byte)'{':
                return depth >= _limits.MaxDepth ? Fail("nested too deeply") : ParseObject(depth + 1);
            case (byte)'[':
                return depth >= _limits.MaxDepth ? Fail("nested too deeply") : ParseArray(depth + 1);
            case (byte)'"':
                return ParseString() is { } text ? JsonValue.FromString(text) : null;
            case (byte)'t':
                return Literal("true"u8) ? JsonValue.TrueValue : Fail("bad literal");
            case (byte)'f':
                return Literal("false"u8) ? JsonValue.FalseValue : Fail("bad literal");
            case (byte)'n':
                return Literal("null"u8) ? JsonValue.NullValue : Fail("bad literal");
            default:
                return ParseNumber();
        }
    }

    private bool Literal(ReadOnlySpan<byte> literal)
    {
        if (_text[_position..].StartsWith(literal))
        {
            _position += literal.Length;
            return true;
        }
        return false;
    }

    private JsonValue? ParseObject(int depth)
    {
        _position++; // '{'
        var members = new List<KeyValuePair<string, JsonValue>>();
        SkipWhitespace();
        if (_position < _text.Length && _text[_position] == '}')
        {
            _position++;
            return JsonValue.FromObject(members);
        }
        while (true)
        {
            SkipWhitespace();
            if (_position >= _text.Length || _text[_position] != '"')
            {
                return Fail("expected a member name");
            }
            if (ParseString() is not { } name)
            {
                return null;
            }
            SkipWhitespace();
            if (_position >= _text.Length || _text[_position] != ':')
            {
                return Fail("expected ':'");
            }
            _position++;
            if (ParseValue(depth) is not { } value)
            {
                return null;
            }
            members.Add(new(name, value));
            SkipWhitespace();
            if (_position >= _text.Length)
            {
                return Fail("unexpected end");
            }
            var c = _text[_position++];
            if (c == '}')
            {
                return JsonValue.FromObject(members);
            }
            if (c != ',')
            {
                _position--;
                return Fail("expected ',' or '}'");
            }
        }
    }

    private JsonValue? ParseArray(int depth)
    {
        _position++; // '['
        var items = new List<JsonValue>();
        SkipWhitespace();
        if (_position < _text.Length && _text[_position] == ']')
        {
            _position++;
            return JsonValue.FromArray(items);
        }
        while (true)
        {
            if (ParseValue(depth) is not { } value)
            {
                return null;
            }
            items.Add(value);
            SkipWhitespace();
            if (_position >= _text.Length)
            {
                return Fail("unexpected end");
            }
            var c = _text[_position++];
            if (c == ']')
            {
                return JsonValue.FromArray(items);
            }
            if (c != ',')
            {
                _position--;
                return Fail("expected ',' or ']'");
            }
        }
    }

    private string? ParseString()
    {
        var start = ++_position; // after '"'
        var simple = true;
        while (true)
        {
            if (_position >= _text.Length)
            {
                Fail("unterminated string");
                return null;
            }
            var c = _text[_position];
            if (c == '"')
            {
                break;
            }
            if (c < 0x20)
            {
                Fail("control character in a string");
                return null;
            }
            if (c == '\\')
            {
                simple = false;
                _position++;
            }
            _position++;
            if (_position - start > _limits.MaxStringBytes)
            {
                Fail("string too long");
                return null;
            }
        }
        var raw = _text[start.._position];
        _position++; // closing '"'
        if (!System.Text.Unicode.Utf8.IsValid(raw))
        {
            _position = start;
            Fail("invalid UTF-8 in a string");
            return null;
        }
        if (simple)
        {
            return Encoding.UTF8.GetString(raw);
        }
        var builder = new StringBuilder(raw.Length);
        for (var i = 0; i < raw.Length; i++)
        {
            if (raw[i] != '\\')
            {
                var run = raw[i..];
                var end = run.IndexOf((byte)'\\');
                var length = end < 0 ? run.Length : end;
                builder.Append(Encoding.UTF8.GetString(run[..length]));
                i += length - 1;
                continue;
            }
            var escape = raw[++i];
            switch (escape)
            {
                case (byte)'"': builder.Append('"'); break;
                case (byte)'\\': builder.Append('\\'); break;
                case (byte)'/': builder.Append('/'); break;
                case (byte)'b': builder.Append('\b'); break;
                case (byte)'f': builder.Append('\f'); break;
                case (byte)'n': builder.Append('\n'); break;
                case (byte)'r': builder.Append('\r'); break;
                case (byte)'t': builder.Append('\t'); break;
                case (byte)'u':
                    if (i + 4 >= raw.Length || !ushort.TryParse(Encoding.ASCII.GetString(raw.Slice(i + 1, 4)), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var unit))
                    {
                        _position = start + i;
                        Fail("bad \\u escape");
                        return null;
                    }
                    builder.Append((char)unit); // lone surrogates pass through as cJSON's do
                    i += 4;
                    break;
                default:
                    _position = start + i;
                    Fail("bad escape");
                    return null;
            }
        }
        return builder.ToString();
    }

    private JsonValue? ParseNumber()
    {
        var start = _position;
        if (_position < _text.Length && _text[_position] == '-')
        {
            _position++;
        }
        var digits = _position;
        while (_position < _text.Length && char.IsAsciiDigit((char)_text[_position]))
        {
            _position++;
        }
        var integerDigits = _position - digits;
        if (integerDigits == 0)
        {
            _position = start;
            return Fail("unexpected character");
        }
        if (integerDigits > 1 && _text[digits] == '0')
        {
            return Fail("leading zero in a number");
        }
        var integral = true;
        if (_position < _text.Length && _text[_position] == '.')
        {
            integral = false;
            _position++;
            var fraction = _position;
            while (_position < _text.Length && char.IsAsciiDigit((char)_text[_position]))
            {
                _position++;
            }
            if (_position == fraction)
            {
                return Fail("digits expected after '.'");
            }
        }
        if (_position < _text.Length && _text[_position] is (byte)'e' or (byte)'E')
        {
            integral = false;
            _position++;
            if (_position < _text.Length && _text[_position] is (byte)'+' or (byte)'-')
            {
                _position++;
            }
            var exponent = _position;
            while (_position < _text.Length && char.IsAsciiDigit((char)_text[_position]))
            {
                _position++;
            }
            if (_position == exponent)
            {
                return Fail("digits expected in the exponent");
            }
        }
        if (_position - start > 64)
        {
            return Fail("number too long");
        }
        var span = _text[start.._position];
        if (!double.TryParse(span, NumberStyles.Float, CultureInfo.InvariantCulture, out var number) || !double.IsFinite(number))
        {
            return Fail("number out of range");
        }
        long integer;
        if (integral && long.TryParse(span, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var exact))
        {
            integer = exact;
        }
        else
        {
            integer = number >= long.MaxValue ? long.MaxValue : number <= long.MinValue ? long.MinValue : (long)number;
        }
        return JsonValue.FromNumber(number, integer);
    }
}

/// <summary>A small JSON writer into a growable UTF-8 buffer, compact (as cJSON_PrintUnformatted), commas placed for the caller.</summary>
public sealed class JsonWriter
{
    private byte[] _buffer = new byte[512];
    private int _length;
    // One bit per open container: set once it has a first element (so the next one needs a comma).
    private ulong _hasElement;
    private int _depth;
    private bool _afterName;

    public ReadOnlySpan<byte> Written => _buffer.AsSpan(0, _length);

    public int Length => _length;

    public override string ToString() => Encoding.UTF8.GetString(Written);

    public JsonWriter StartObject() => Open((byte)'{');

    public JsonWriter EndObject() => Close((byte)'}');

    public JsonWriter StartArray() => Open((byte)'[');

    public JsonWriter EndArray() => Close((byte)']');

    public JsonWriter Name(string name)
    {
        Separate();
        WriteString(name);
        Append((byte)':');
        _afterName = true;
        return this;
    }

    public JsonWriter String(string value)
    {
        Separate();
        WriteString(value);
        return this;
    }

    public JsonWriter Number(long value)
    {
        Separate();
        Reserve(24);
        value.TryFormat(_buffer.AsSpan(_length), out var written, default, CultureInfo.InvariantCulture);
        _length += written;
        return this;
    }

    public JsonWriter Number(double value)
    {
        Separate();
        if (!double.IsFinite(value))
        {
            value = 0; // JSON has no NaN or infinity
        }
        Reserve(32);
        value.TryFormat(_buffer.AsSpan(_length), out var written, "R", CultureInfo.InvariantCulture);
        _length += written;
        return this;
    }

    public JsonWriter Bool(bool value)
    {
        Separate();
        AppendAscii(value ? "true"u8 : "false"u8);
        return this;
    }

    public JsonWriter Property(string name, long value) => Name(name).Number(value);

    public JsonWriter Property(string name, double value) => Name(name).Number(value);

    public JsonWriter Property(string name, string value) => Name(name).String(value);

    private JsonWriter Open(byte c)
    {
        if (_depth >= 63)
        {
            throw new InvalidOperationException("JSON nested too deeply");
        }
        Separate();
        Append(c);
        _depth++;
        _hasElement &= ~(1UL << _depth);
        return this;
    }

    private JsonWriter Close(byte c)
    {
        if (_depth == 0)
        {
            throw new InvalidOperationException("no open JSON container");
        }
        _depth--;
        Append(c);
        return this;
    }

    private void Separate()
    {
        if (_afterName)
        {
            _afterName = false;
            return;
        }
        var bit = 1UL << _depth;
        if ((_hasElement & bit) != 0)
        {
            Append((byte)',');
        }
        _hasElement |= bit;
    }

    private void WriteString(string value)
    {
        Append((byte)'"');
        // Runes: a lone surrogate comes out as U+FFFD, so the output is always valid UTF-8.
        foreach (var rune in value.EnumerateRunes())
        {
            var c = rune.Value;
            switch (c)
            {
                case '"': AppendAscii("\\\""u8); break;
                case '\\': AppendAscii("\\\\"u8); break;
                case '\n': AppendAscii("\\n"u8); break;
                case '\r': AppendAscii("\\r"u8); break;
                case '\t': AppendAscii("\\t"u8); break;
                case < ' ':
                    AppendAscii("\\u00"u8);
                    Append((byte)"0123456789abcdef"[c >> 4]);
                    Append((byte)"0123456789abcdef"[c & 15]);
                    break;
                case < 0x80:
                    Append((byte)c);
                    break;
                default:
                    Reserve(4);
                    _length += rune.EncodeToUtf8(_buffer.AsSpan(_length));
                    break;
            }
        }
        Append((byte)'"');
    }

    private void AppendAscii(ReadOnlySpan<byte> text)
    {
        Reserve(text.Length);
        text.CopyTo(_buffer.AsSpan(_length));
        _length += text.Length;
    }

    private void Append(byte b)
    {
        Reserve(1);
        _buffer[_length++] = b;
    }

    private void Reserve(int count)
    {
        if (_length + count > _buffer.Length)
        {
            Array.Resize(ref _buffer, Math.Max(_buffer.Length * 2, _length + count));
        }
    }
}
