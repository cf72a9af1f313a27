// StaticSite's constructor (what a web appliance does at start-up) over the files of a directory: from a store without
// digests, which it hashes; from crunch's store with the digests the generator computed at build time; and with the
// response heads the generator prepares too (made here by the same StaticHeads.cs, linked in as the generator links it).
// Usage: SiteBench DIR ROUNDS. Prints the best of 5 runs of ROUNDS constructions each, per construction.
using System.Diagnostics;
using System.Globalization;
using Unikernel.Devices;
using Unikernel.Devices.Unix;
using Unikernel.Protocols.Http;

if (args.Length != 2 || !int.TryParse(args[1], CultureInfo.InvariantCulture, out var rounds) || rounds < 1)
{
    Console.Error.WriteLine("usage: SiteBench DIR ROUNDS");
    return 2;
}
var directory = new DirectoryKeyValueStore(args[0]);
var entries = directory.Keys.Select(key =>
{
    directory.TryGet(key, out var value);
    var bytes = value.ToArray();
    return new CrunchEntry(key, bytes, ContentDigest.Compute(bytes));
}).ToArray();
var prepared = new CrunchKeyValueStore(entries);
var plain = new CrunchKeyValueStore([.. entries.Select(e => new CrunchEntry(e.Key, e.Value))]);
// The heads as src/Generators' CrunchFiles.Heads emits them (no build time: the site's Last-Modified).
var keys = new HashSet<string>(directory.Keys, StringComparer.Ordinal);
var withHeads = new CrunchKeyValueStore([.. entries.Select(e =>
{
    var coding = StaticHeads.VariantOf(e.Key, keys.Contains, out var identity);
    var digest = ContentDigest.Compute(entries.Single(x => x.Key == identity).Value);
    var vary = coding is not null || StaticHeads.Codings.Any(c => keys.Contains(identity + c.Suffix));
    var type = StaticHeads.MediaType(identity);
    var heads = StaticHeads.Representation(type, e.Value.Length, digest, coding, vary) + (coding is null ? StaticHeads.File(type, digest, vary, "") : "");
    return new CrunchEntry(e.Key, e.Value, e.Digest, heads: System.Text.Encoding.ASCII.GetBytes(heads));
})]);
if (new StaticSite(withHeads, DateTimeOffset.UnixEpoch) is var check && check.HeadsFromBuild != check.FileCount)
{
    Console.Error.WriteLine("SiteBench: the prepared heads were not taken");
    return 1;
}

double Microseconds(IKeyValueStore store)
{
    for (var i = 0; i < Math.Min(rounds, 50); i++)
    {
        _ = new StaticSite(store, DateTimeOffset.UnixEpoch);
    }
    var best = double.MaxValue;
    for (var run = 0; run < 5; run++)
    {
        var watch = Stopwatch.StartNew();
        for (var i = 0; i < rounds; i++)
        {
            _ = new StaticSite(store, DateTimeOffset.UnixEpoch);
        }
        best = Math.Min(best, watch.Elapsed.TotalMicroseconds / rounds);
    }
    return best;
}

var inv = CultureInfo.InvariantCulture;
Console.WriteLine($"{args[0]}: {entries.Length.ToString(inv)} keys, {entries.Sum(e => (long)e.Value.Length).ToString(inv)} bytes");
Console.WriteLine($"  hashed at start-up (no digests): {Microseconds(plain).ToString("F1", inv)} us per StaticSite");
Console.WriteLine($"  digests from the build (crunch): {Microseconds(prepared).ToString("F1", inv)} us per StaticSite");
Console.WriteLine($"  digests and heads from the build: {Microseconds(withHeads).ToString("F1", inv)} us per StaticSite");
return 0;
