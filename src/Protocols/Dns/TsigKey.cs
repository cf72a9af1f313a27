using System;
using System.Collections.Generic;
using System.IO;

namespace Unikernel.Protocols.Dns;

public enum TsigAlgorithm
{
    HmacSha256,
    HmacSha1,
    HmacSha512,
}

/// <summary>A TSIG key (RFC 8945): name, algorithm and shared secret.</summary>
public sealed class TsigKey
{
    public TsigKey(DnsName name, TsigAlgorithm algorithm, byte[] secret)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(secret);
        Name = name;
        Algorithm = algorithm;
        Secret = secret;
        AlgorithmName = DnsName.TryParse(AlgorithmText(algorithm) + ".", null, out var a, out _) ? a : DnsName.Root;
    }

    public DnsName Name { get; }
    public TsigAlgorithm Algorithm { get; }
    public DnsName AlgorithmName { get; }
    public byte[] Secret { get; }

    public int MacSize => Algorithm switch { TsigAlgorithm.HmacSha1 => 20, TsigAlgorithm.HmacSha512 => 64, _ => 32 };

    public TsigHmac CreateHmac() => new(Algorithm, Secret);

    public static string AlgorithmText(TsigAlgorithm algorithm) => algorithm switch
    {
        TsigAlgorithm.HmacSha1 => "hmac-sha1",
        TsigAlgorithm.HmacSha512 => "hmac-sha512",
        _ => "hmac-sha256",
    };

    public static bool TryParseAlgorithm(string text, out TsigAlgorithm algorithm)
    {
        switch (text.Trim().TrimEnd('.').ToLowerInvariant())
        {
            case "hmac-sha256":
                algorithm = TsigAlgorithm.HmacSha256;
                return true;
            case "hmac-sha1":
                algorithm = TsigAlgorithm.HmacSha1;
                return true;
            case "hmac-sha512":
                algorithm = TsigAlgorithm.HmacSha512;
                return true;
            default:
                algorithm = default;
                return false;
        }
    }

    /// <summary>
    /// Parses <c>name:algorithm:base64secret</c> (NSD/knot style), <c>algorithm:name:base64secret</c> (dig -y style)
    /// or <c>name:base64secret</c> (hmac-sha256).
    /// </summary>
    public static bool TryParse(string spec, out TsigKey? key, out string error)
    {
        key = null;
        var parts = DnsText.Split((spec ?? "").Trim(), ':');
        string name, secret;
        var algorithm = TsigAlgorithm.HmacSha256;
        if (parts.Length == 3 && TryParseAlgorithm(parts[1], out var a1))
        {
            (name, algorithm, secret) = (parts[0], a1, parts[2]);
        }
        else if (parts.Length == 3 && TryParseAlgorithm(parts[0], out var a0))
        {
            (name, algorithm, secret) = (parts[1], a0, parts[2]);
        }
        else if (parts.Length == 2)
        {
            (name, secret) = (parts[0], parts[1]);
        }
        else
        {
            error = $"TSIG key '{Redact(spec)}': expected name:algorithm:base64secret (algorithm hmac-sha256, hmac-sha1 or hmac-sha512)";
            return false;
        }
        return TryCreate(name, algorithm, secret, out key, out error);
    }

    private static bool TryCreate(string name, TsigAlgorithm algorithm, string secret, out TsigKey? key, out string error)
    {
        key = null;
        var text = name.Trim().ToLowerInvariant(); // the canonical form the MAC covers
        if (!text.EndsWith('.'))
        {
            text += ".";
        }
        if (!DnsName.TryParse(text, null, out var keyName, out var nameError) || keyName.IsRoot)
        {
            error = $"TSIG key name '{name}': {nameError}";
            return false;
        }
        byte[] bytes;
        try
        {
            bytes = Convert.FromBase64String(secret.Trim());
        }
        catch (FormatException)
        {
            error = $"TSIG key {keyName}: the secret is not base64";
            return false;
        }
        if (bytes.Length == 0)
        {
            error = $"TSIG key {keyName}: empty secret";
            return false;
        }
        key = new TsigKey(keyName, algorithm, bytes);
        error = "";
        return true;
    }

    private static string Redact(string? spec)
    {
        var s = spec ?? "";
        var colon = s.LastIndexOf(':');
        return colon < 0 ? "…" : s[..(colon + 1)] + "…";
    }

    /// <summary>
    /// Keys from a runtime argument: each entry is a key (see <see cref="TryParse"/>) or <c>@FILE</c>, a file of such
    /// lines (# comments) or of BIND/NSD <c>key "name" { algorithm hmac-sha256; secret "…"; };</c> clauses.
    /// </summary>
    public static List<TsigKey> ParseAll(IEnumerable<string> entries, List<string> errors)
    {
        var keys = new List<TsigKey>();
        foreach (var entry in entries)
        {
            if (entry.StartsWith('@'))
            {
                string text;
                try
                {
                    text = Unikernel.Runtime.TextFile.ReadAllText(entry[1..]);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    errors.Add($"TSIG key file {entry[1..]}: {e.Message}");
                    continue;
                }
                var clauses = KeyClauses(text);
                if (clauses.Count > 0)
                {
                    foreach (var (name, body) in clauses)
                    {
                        var alg = Clause(body, "algorithm", quoted: false);
                        var secret = Clause(body, "secret", quoted: true);
                        if (!TryParseAlgorithm(alg, out var algorithm))
                        {
                            errors.Add($"TSIG key file {entry[1..]}: key {name}: unsupported algorithm '{alg}'");
                        }
                        else if (TryCreate(name, algorithm, secret, out var k, out var error))
                        {
                            keys.Add(k!);
                        }
                        else
                        {
                            errors.Add($"TSIG key file {entry[1..]}: {error}");
                        }
                    }
                    continue;
                }
                foreach (var raw in DnsText.Split(text, '\n'))
                {
                    var line = raw.Trim();
                    if (line.Length == 0 || line.StartsWith('#'))
                    {
                        continue;
                    }
                    if (TryParse(line, out var k, out var error))
                    {
                        keys.Add(k!);
                    }
                    else
                    {
                        errors.Add($"TSIG key file {entry[1..]}: {error}");
                    }
                }
            }
            else if (TryParse(entry, out var k, out var error))
            {
                keys.Add(k!);
            }
            else
            {
                errors.Add(error);
            }
        }
        return keys;
    }

    // BIND/NSD key clauses, scanned by hand (the three regular expressions they replace, in the comments, brought the
    // regex engine's support code, ~60 KB, into every DNS image; issue 17).

    /// <summary>Each <c>key\s+"?NAME"?\s*{BODY}</c> in <paramref name="text"/> (NAME: no quote, space or brace).</summary>
    private static List<(string Name, string Body)> KeyClauses(string text)
    {
        var clauses = new List<(string Name, string Body)>();
        var from = 0;
        while (true)
        {
            var at = IndexOf(text, "key", from);
            if (at < 0)
            {
                return clauses;
            }
            from = at + 1;
            var i = at + 3;
            var spaces = i;
            while (i < text.Length && char.IsWhiteSpace(text[i]))
            {
                i++;
            }
            if (i == spaces)
            {
                continue;
            }
            if (i < text.Length && text[i] == '"')
            {
                i++;
            }
            var nameStart = i;
            while (i < text.Length && text[i] != '"' && text[i] != '{' && !char.IsWhiteSpace(text[i]))
            {
                i++;
            }
            if (i == nameStart)
            {
                continue;
            }
            var name = text[nameStart..i];
            if (i < text.Length && text[i] == '"')
            {
                i++;
            }
            while (i < text.Length && char.IsWhiteSpace(text[i]))
            {
                i++;
            }
            if (i >= text.Length || text[i] != '{')
            {
                continue;
            }
            var close = text.IndexOf('}', i + 1);
            if (close < 0)
            {
                continue;
            }
            clauses.Add((name, text[(i + 1)..close]));
            from = close + 1;
        }
    }

    /// <summary>
    /// The value of the first <c>KEYWORD\s+"?VALUE"?\s*;</c> in <paramref name="body"/> (VALUE of letters, digits,
    /// '.' and '-'), or with <paramref name="quoted"/> of <c>KEYWORD\s+"VALUE"\s*;</c> (VALUE: no quote); "" if none.
    /// </summary>
    /// <summary>
    /// Where <paramref name="value"/> next occurs at or after <paramref name="from"/>, ordinal; -1 if nowhere. Through a
    /// span: string.IndexOf(string, int, StringComparison) also holds the culture-aware and ignore-case searches.
    /// </summary>
    private static int IndexOf(string text, string value, int from)
    {
        var at = text.AsSpan(from).IndexOf(value);
        return at < 0 ? -1 : from + at;
    }

    private static string Clause(string body, string keyword, bool quoted)
    {
        var from = 0;
        while (true)
        {
            var at = IndexOf(body, keyword, from);
            if (at < 0)
            {
                return "";
            }
            from = at + 1;
            var i = at + keyword.Length;
            var spaces = i;
            while (i < body.Length && char.IsWhiteSpace(body[i]))
            {
                i++;
            }
            if (i == spaces)
            {
                continue;
            }
            var quote = i < body.Length && body[i] == '"';
            if (quote)
            {
                i++;
            }
            else if (quoted)
            {
                continue;
            }
            var valueStart = i;
            while (i < body.Length && (quoted ? body[i] != '"' : char.IsAsciiLetterOrDigit(body[i]) || body[i] is '.' or '-'))
            {
                i++;
            }
            if (i == valueStart)
            {
                continue;
            }
            var value = body[valueStart..i];
            if (i < body.Length && body[i] == '"')
            {
                i++;
            }
            else if (quoted)
            {
                continue;
            }
            while (i < body.Length && char.IsWhiteSpace(body[i]))
            {
                i++;
            }
            if (i < body.Length && body[i] == ';')
            {
                return value;
            }
        }
    }
}

/// <summary>The TSIG keys a server knows, found by name and algorithm (both case-insensitive).</summary>
public sealed class TsigKeyring(IEnumerable<TsigKey> keys)
{
    private readonly List<TsigKey> _keys = [.. keys];

    public int Count => _keys.Count;

    public IReadOnlyList<TsigKey> Keys => _keys;

    public TsigKey? Find(ReadOnlySpan<char> nameKey)
    {
        foreach (var key in _keys)
        {
            if (nameKey.SequenceEqual(key.Name.Key))
            {
                return key;
            }
        }
        return null;
    }

    public TsigKey? FindByName(string name)
    {
        var text = name.EndsWith('.') ? name : name + ".";
        return DnsName.TryParse(text, null, out var n, out _) ? Find(n.Key) : null;
    }
}
