using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Text;
using Unikernel.Devices;

namespace Unikernel.Protocols.Dns;

/// <summary>The outcome of loading one zone: the zone, or the errors (each "file:line:column: what is wrong").</summary>
public sealed class ZoneLoadResult(Zone? zone, IReadOnlyList<string> errors, string source, IReadOnlyList<string>? warnings = null)
{
    public Zone? Zone { get; } = zone;
    public IReadOnlyList<string> Errors { get; } = errors;
    /// <summary>Things that loaded but deserve a word (each "file: what").</summary>
    public IReadOnlyList<string> Warnings { get; } = warnings ?? [];
    public string Source { get; } = source;
    public bool Success => Zone is not null;
}

/// <summary>
/// RFC 1035 master files: $ORIGIN, $TTL, $INCLUDE, relative/absolute names, @, omitted owner/TTL/class, parentheses,
/// comments, quoted strings, \DDD and \X escapes, RFC 3597 unknown types. Never throws on bad input.
/// </summary>
public static class ZoneFile
{
    /// <summary>Most errors reported per file before giving up.</summary>
    public const int MaxErrors = 20;

    private const int MaxIncludeDepth = 8;

    /// <summary>The origin implied by a file name like <c>example.org.zone</c> (or <c>dir/example.org.zone</c>), or null.</summary>
    public static DnsName? OriginFromFileName(string fileName)
    {
        var name = fileName.Replace('\\', '/');
        name = name[(name.LastIndexOf('/') + 1)..];
        if (!name.EndsWith(".zone", StringComparison.OrdinalIgnoreCase) || name.Length <= 5)
        {
            return null;
        }
        var text = name[..^5];
        if (!text.EndsWith('.'))
        {
            text += ".";
        }
        return DnsName.TryParse(text, null, out var origin, out _) ? origin : null;
    }

    /// <summary>
    /// Parses zone text. <paramref name="include"/> resolves an $INCLUDE file name to its text (null: not found or
    /// not allowed); pass null to forbid $INCLUDE.
    /// </summary>
    public static ZoneLoadResult Parse(string text, string fileName, DnsName? origin = null, Func<string, string?>? include = null)
    {
        var state = new ParseState(fileName, include);
        if (origin is null)
        {
            origin = OriginFromFileName(fileName);
            state.FileOrigin = origin;
        }
        state.Origin = origin;
        state.ParseText(text, fileName, 0);
        var errors = state.Errors;
        if (errors.Count == 0)
        {
            DnsName? apex = null;
            foreach (var r in state.Records)
            {
                if (r.Type == DnsType.SOA)
                {
                    apex = r.Name;
                    break;
                }
            }
            var warnings = new List<string>();
            if (apex is not null && origin is not null && !apex.Equals(origin))
            {
                // example.org.zone whose SOA is for example.com.: one of the two is a mistake.
                var soa = state.Records.Find(r => r.Type == DnsType.SOA)!;
                errors.Add($"{state.Locations.GetValueOrDefault(soa, fileName)}: the SOA is for {apex} but the zone is {origin} (from {(origin == state.FileOrigin ? "the file name" : "the caller")})");
                apex = null;
            }
            else if (apex is not null && origin is null)
            {
                warnings.Add($"{fileName}: zone name {apex} taken from the SOA owner (the file name does not give one: name it {apex}zone to make it explicit)");
            }
            apex ??= origin;
            if (errors.Count > 0)
            {
                // reported above
            }
            else if (apex is null)
            {
                errors.Add($"{fileName}: no SOA record and no origin: cannot tell which zone this is");
            }
            else
            {
                var zone = Zone.Build(apex, state.Records, fileName, errors, r => state.Locations.GetValueOrDefault(r, fileName));
                if (zone is not null)
                {
                    return new ZoneLoadResult(zone, errors, fileName, warnings);
                }
            }
        }
        return new ZoneLoadResult(null, errors, fileName);
    }

    /// <summary>Loads a zone file from disk; $INCLUDE resolves relative to its directory and may not leave it.</summary>
    public static ZoneLoadResult LoadFile(string path)
    {
        string text;
        try
        {
            text = Unikernel.Runtime.TextFile.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            return new ZoneLoadResult(null, [$"{path}: cannot read: {e.Message}"], path);
        }
        var directory = Path.GetFullPath(Path.GetDirectoryName(Path.GetFullPath(path)) ?? ".");
        return Parse(text, path, null, name =>
        {
            if (!IsSafeRelative(name))
            {
                return null;
            }
            var full = Path.GetFullPath(Path.Combine(directory, name));
            if (!full.StartsWith(directory + Path.DirectorySeparatorChar, StringComparison.Ordinal))
            {
                return null;
            }
            try
            {
                return Unikernel.Runtime.TextFile.ReadAllText(full);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                return null;
            }
        });
    }

    /// <summary>Loads every <c>*.zone</c> key of a store; $INCLUDE resolves to other keys of the same store.</summary>
    public static List<ZoneLoadResult> LoadStore(IKeyValueStore store)
    {
        var results = new List<ZoneLoadResult>();
        foreach (var key in store.Keys)
        {
            if (!key.EndsWith(".zone", StringComparison.OrdinalIgnoreCase) || !store.TryGet(key, out var value))
            {
                continue;
            }
            var baseDir = key.Contains('/') ? key[..(key.LastIndexOf('/') + 1)] : "";
            results.Add(Parse(Decode(value.Span), key, null, name =>
            {
                if (!IsSafeRelative(name))
                {
                    return null;
                }
                return store.TryGet(baseDir + name, out var inc) || store.TryGet(name, out inc) ? Decode(inc.Span) : null;
            }));
        }
        return results;
    }

    private static string Decode(ReadOnlySpan<byte> bytes) => Encoding.UTF8.GetString(bytes);

    private static bool IsSafeRelative(string name)
    {
        if (name.Length == 0 || name.StartsWith('/') || name.Contains('\\'))
        {
            return false;
        }
        foreach (var part in DnsText.Split(name, '/'))
        {
            if (part is ".." or "")
            {
                return false;
            }
        }
        return true;
    }

    private sealed class Entry
    {
        public List<ZoneToken> Tokens { get; } = [];
        public bool BlankOwner { get; set; }
    }

    private sealed class ParseState(string rootFile, Func<string, string?>? include)
    {
        public List<DnsRecord> Records { get; } = [];
        public Dictionary<DnsRecord, string> Locations { get; } = new(ReferenceEqualityComparer.Instance);
        public List<string> Errors { get; } = [];
        public DnsName? Origin { get; set; }
        /// <summary>The origin the file name implied, if that is where it came from.</summary>
        public DnsName? FileOrigin { get; set; }
        private DnsName? _lastOwner;
        private uint? _defaultTtl;
        private uint? _lastTtl;
        private string _file = rootFile;

        private void Error(int line, int column, string message)
        {
            if (Errors.Count < MaxErrors)
            {
                Errors.Add($"{_file}:{line.ToString(CultureInfo.InvariantCulture)}:{column.ToString(CultureInfo.InvariantCulture)}: {message}");
            }
        }

        public void ParseText(string text, string file, int depth)
        {
            var savedFile = _file;
            _file = file;
            try
            {
                Tokenize(text, depth);
            }
            finally
            {
                _file = savedFile;
            }
        }

        private void Tokenize(string text, int depth)
        {
            var line = 1;
            var column = 1;
            var i = 0;
            var entry = new Entry();
            var parenDepth = 0;
            int parenLine = 0, parenColumn = 0;
            var atLineStart = true;
            var sb = new StringBuilder();
            while (i <= text.Length && Errors.Count < MaxErrors)
            {
                var c = i < text.Length ? text[i] : '\n';
                var eof = i == text.Length;
                if (c == '\n')
                {
                    if (eof && parenDepth > 0)
                    {
                        Error(parenLine, parenColumn, "parenthesis opened here is never closed");
                        return;
                    }
                    if (parenDepth == 0)
                    {
                        if (entry.Tokens.Count > 0)
                        {
                            Process(entry, depth);
                        }
                        entry = new Entry();
                    }
                    i++;
                    line++;
                    column = 1;
                    atLineStart = true;
                    continue;
                }
                if (c is ' ' or '\t' or '\r')
                {
                    if (atLineStart && parenDepth == 0 && entry.Tokens.Count == 0 && c != '\r')
                    {
                        entry.BlankOwner = true;
                    }
                    atLineStart = false;
                    i++;
                    column++;
                    continue;
                }
                atLineStart = false;
                if (c == ';')
                {
                    while (i < text.Length && text[i] != '\n')
                    {
                        i++;
                    }
                    continue;
                }
                if (c == '(')
                {
                    if (parenDepth > 0)
                    {
                        // RFC 1035 parentheses group lines; they do not nest (NSD and BIND reject this too).
                        Error(line, column, $"'(' inside the parenthesis opened at {parenLine.ToString(CultureInfo.InvariantCulture)}:{parenColumn.ToString(CultureInfo.InvariantCulture)}: parentheses do not nest");
                        SkipParenthesized(text, ref i, ref line, ref column);
                        entry = new Entry();
                        parenDepth = 0;
                        continue;
                    }
                    parenLine = line;
                    parenColumn = column;
                    parenDepth++;
                    i++;
                    column++;
                    continue;
                }
                if (c == ')')
                {
                    if (parenDepth == 0)
                    {
                        Error(line, column, "')' without a matching '('");
                        SkipLine(text, ref i);
                        entry = new Entry();
                        continue;
                    }
                    parenDepth--;
                    i++;
                    column++;
                    continue;
                }
                var startLine = line;
                var startColumn = column;
                sb.Clear();
                if (c == '"')
                {
                    i++;
                    column++;
                    var closed = false;
                    while (i < text.Length)
                    {
                        var d = text[i];
                        if (d == '\n')
                        {
                            // A quoted string may span lines (as NSD and BIND read it): the newline is part of it.
                            sb.Append(d);
                            i++;
                            line++;
                            column = 1;
                            continue;
                        }
                        if (d == '\\' && i + 1 < text.Length && text[i + 1] != '\n')
                        {
                            sb.Append(d).Append(text[i + 1]);
                            i += 2;
                            column += 2;
                            continue;
                        }
                        i++;
                        column++;
                        if (d == '"')
                        {
                            closed = true;
                            break;
                        }
                        sb.Append(d);
                    }
                    if (!closed)
                    {
                        Error(startLine, startColumn, "quoted string is never closed");
                        SkipLine(text, ref i);
                        entry = new Entry();
                        parenDepth = 0;
                        continue;
                    }
                    entry.Tokens.Add(new ZoneToken(sb.ToString(), true, startLine, startColumn));
                    continue;
                }
                while (i < text.Length)
                {
                    var d = text[i];
                    if (d is ' ' or '\t' or '\r' or '\n' or ';' or '(' or ')' or '"')
                    {
                        break;
                    }
                    if (d == '\\' && i + 1 < text.Length && text[i + 1] != '\n')
                    {
                        sb.Append(d).Append(text[i + 1]);
                        i += 2;
                        column += 2;
                        continue;
                    }
                    sb.Append(d);
                    i++;
                    column++;
                }
                entry.Tokens.Add(new ZoneToken(sb.ToString(), false, startLine, startColumn));
            }
        }

        /// <summary>Skips to the end of the line that closes the current parenthesis (or of the text).</summary>
        private static void SkipParenthesized(string text, ref int i, ref int line, ref int column)
        {
            var depth = 2;
            while (i < text.Length)
            {
                var c = text[i++];
                column++;
                if (c == '\n')
                {
                    line++;
                    column = 1;
                    if (depth == 0)
                    {
                        i--;
                        line--;
                        return;
                    }
                }
                else if (c == ')')
                {
                    depth = Math.Max(0, depth - 1);
                }
                else if (c == '(')
                {
                    depth++;
                }
            }
        }

        private static void SkipLine(string text, ref int i)
        {
            while (i < text.Length && text[i] != '\n')
            {
                i++;
            }
        }

        private void Process(Entry entry, int depth)
        {
            var tokens = entry.Tokens;
            var first = tokens[0];
            if (!entry.BlankOwner && !first.Quoted && first.Text.StartsWith('$'))
            {
                Directive(tokens, depth);
                return;
            }
            var index = 0;
            DnsName? owner;
            if (entry.BlankOwner)
            {
                owner = _lastOwner;
                if (owner is null)
                {
                    Error(first.Line, 1, "the owner name is omitted but there is no previous owner");
                    return;
                }
            }
            else
            {
                if (!DnsName.TryParse(first.Text, Origin, out owner, out var nameError))
                {
                    Error(first.Line, first.Column, nameError);
                    return;
                }
                index = 1;
            }
            uint? ttl = null;
            ushort? @class = null;
            ushort type = 0;
            var haveType = false;
            for (; index < tokens.Count && !haveType; index++)
            {
                var t = tokens[index];
                if (t.Quoted)
                {
                    break;
                }
                if (ttl is null && t.Text.Length > 0 && char.IsAsciiDigit(t.Text[0]))
                {
                    if (!RecordData.TryParseTtl(t.Text, out var v))
                    {
                        Error(t.Line, t.Column, $"'{t.Text}' is not a valid TTL");
                        return;
                    }
                    ttl = v;
                    continue;
                }
                if (@class is null && DnsClass.TryParse(t.Text, out var cls))
                {
                    @class = cls;
                    continue;
                }
                if (DnsType.TryParse(t.Text, out type))
                {
                    haveType = true;
                    continue;
                }
                Error(t.Line, t.Column, $"unknown record type '{t.Text}'");
                return;
            }
            if (!haveType)
            {
                var last = tokens[^1];
                Error(last.Line, last.Column + last.Text.Length, "record type missing");
                return;
            }
            if (@class is { } c && c != DnsClass.IN)
            {
                Error(first.Line, first.Column, $"class {DnsClass.ToName(c)} is not supported (only IN)");
                return;
            }
            if (type is DnsType.OPT or DnsType.ANY or DnsType.AXFR or DnsType.IXFR)
            {
                Error(tokens[index - 1].Line, tokens[index - 1].Column, $"{DnsType.ToName(type)} is not a record type that can appear in a zone");
                return;
            }
            var rdataTokens = tokens.GetRange(index, tokens.Count - index);
            if (!RecordData.IsKnown(type) && (rdataTokens.Count == 0 || rdataTokens[0].Quoted || rdataTokens[0].Text != "\\#"))
            {
                var typeToken = tokens[index - 1];
                Error(typeToken.Line, typeToken.Column, $"type {DnsType.ToName(type)} is not known: use the generic form '\\# <length> <hex>' (RFC 3597)");
                return;
            }
            var origin = Origin ?? DnsName.Root;
            if (!RecordData.TryParse(type, rdataTokens, origin, out var rdata, out var error, out var bad))
            {
                var at = bad < rdataTokens.Count ? rdataTokens[bad] : tokens[^1];
                var column = bad < rdataTokens.Count ? at.Column : at.Column + at.Text.Length;
                Error(at.Line, column, error);
                return;
            }
            if (ttl is null)
            {
                ttl = _defaultTtl ?? _lastTtl;
                if (ttl is null)
                {
                    if (type == DnsType.SOA)
                    {
                        ttl = System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(rdata.AsSpan(rdata.Length - 4));
                    }
                    else
                    {
                        Error(first.Line, first.Column, "no TTL given and no $TTL or previous TTL to use");
                        return;
                    }
                }
            }
            else
            {
                _lastTtl = ttl;
            }
            _lastOwner = owner;
            var record = new DnsRecord(owner, type, DnsClass.IN, ttl.Value, rdata);
            Records.Add(record);
            Locations[record] = $"{_file}:{first.Line.ToString(CultureInfo.InvariantCulture)}:{first.Column.ToString(CultureInfo.InvariantCulture)}";
        }

        private void Directive(List<ZoneToken> tokens, int depth)
        {
            var d = tokens[0];
            switch (d.Text.ToUpperInvariant())
            {
                case "$ORIGIN":
                    if (tokens.Count != 2)
                    {
                        Error(d.Line, d.Column, "$ORIGIN needs exactly one domain name");
                        return;
                    }
                    if (!DnsName.TryParse(tokens[1].Text, Origin, out var origin, out var error))
                    {
                        Error(tokens[1].Line, tokens[1].Column, error);
                        return;
                    }
                    Origin = origin;
                    return;
                case "$TTL":
                    if (tokens.Count != 2)
                    {
                        Error(d.Line, d.Column, "$TTL needs exactly one TTL");
                        return;
                    }
                    if (!RecordData.TryParseTtl(tokens[1].Text, out var ttl))
                    {
                        Error(tokens[1].Line, tokens[1].Column, $"'{tokens[1].Text}' is not a valid TTL");
                        return;
                    }
                    _defaultTtl = ttl;
                    return;
                case "$INCLUDE":
                    if (tokens.Count is < 2 or > 3)
                    {
                        Error(d.Line, d.Column, "$INCLUDE needs a file name and optionally an origin");
                        return;
                    }
                    if (include is null)
                    {
                        Error(d.Line, d.Column, "$INCLUDE is not allowed here");
                        return;
                    }
                    if (depth >= MaxIncludeDepth)
                    {
                        Error(d.Line, d.Column, $"$INCLUDE nested more than {MaxIncludeDepth} deep (a loop?)");
                        return;
                    }
                    var savedOrigin = Origin;
                    var savedOwner = _lastOwner;
                    if (tokens.Count == 3)
                    {
                        if (!DnsName.TryParse(tokens[2].Text, Origin, out var incOrigin, out var incError))
                        {
                            Error(tokens[2].Line, tokens[2].Column, incError);
                            return;
                        }
                        Origin = incOrigin;
                    }
                    var text = include(tokens[1].Text);
                    if (text is null)
                    {
                        Error(tokens[1].Line, tokens[1].Column, $"cannot include '{tokens[1].Text}': not found or outside the zone directory");
                        Origin = savedOrigin;
                        return;
                    }
                    ParseText(text, tokens[1].Text, depth + 1);
                    Origin = savedOrigin; // RFC 1035 section 5.1: the origin reverts after an include
                    _lastOwner = savedOwner;
                    return;
                default:
                    Error(d.Line, d.Column, $"unknown directive '{d.Text}'");
                    return;
            }
        }
    }
}
