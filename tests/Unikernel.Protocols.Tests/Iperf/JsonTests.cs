using System.Text;
using Unikernel.Protocols.Iperf;

namespace Unikernel.Protocols.Tests.Iperf;

/// <summary>The small JSON reader and writer: what iperf3 sends, strict RFC 8259 rejections, and the limits.</summary>
public sealed class JsonTests
{
    private static JsonValue Parse(string text, JsonLimits? limits = null)
    {
        Assert.True(JsonReader.TryParse(Encoding.UTF8.GetBytes(text), limits ?? JsonLimits.Default, out var value, out var error), error);
        return value;
    }

    private static string Reject(string text, JsonLimits? limits = null)
    {
        Assert.False(JsonReader.TryParse(Encoding.UTF8.GetBytes(text), limits ?? JsonLimits.Default, out _, out var error), "accepted: " + text);
        Assert.NotEmpty(error);
        return error;
    }

    [Fact]
    public void Reads_the_parameters_iperf3_3_12_sends()
    {
        // Captured from `iperf3 -c ... -t 1 -P 2` (the server's -d output, unformatted as on the wire).
        var json = Parse("{\"tcp\":true,\"omit\":0,\"time\":1,\"num\":0,\"blockcount\":0,\"parallel\":2,\"len\":131072,\"pacing_timer\":1000,\"client_version\":\"3.12\"}");
        Assert.Equal(JsonKind.Object, json.Kind);
        Assert.Equal(JsonKind.True, json["tcp"]!.Kind);
        Assert.Equal(2, json["parallel"]!.Integer);
        Assert.Equal(131072, json["len"]!.Integer);
        Assert.Equal("3.12", json["client_version"]!.Text);
        Assert.Null(json["reverse"]);
    }

    [Fact]
    public void Reads_cjsons_unsigned_minus_one_and_doubles()
    {
        // iperf3's cJSON prints -1 as 2^64 - 1 (sender_has_retransmits, retransmits of a receiver).
        var json = Parse("{\"sender_has_retransmits\":18446744073709551615,\"cpu_util_total\":48.391705147443275,\"e\":1e3,\"n\":-12}");
        Assert.Equal(long.MaxValue, json["sender_has_retransmits"]!.Integer);
        Assert.Equal(48.391705147443275, json["cpu_util_total"]!.Number);
        Assert.Equal(1000, json["e"]!.Integer);
        Assert.Equal(-12, json["n"]!.Integer);
    }

    [Fact]
    public void Reads_escapes_nesting_and_whitespace()
    {
        var json = Parse(" { \"s\" : \"a\\\"b\\\\c\\/d\\n\\u00e9\\u20ac\" , \"a\" : [ 1 , [ ] , { } , null , false ] } ");
        Assert.Equal("a\"b\\c/d\né€", json["s"]!.Text);
        var items = json["a"]!.Items;
        Assert.Equal(5, items.Count);
        Assert.Equal(JsonKind.Array, items[1].Kind);
        Assert.Equal(JsonKind.Object, items[2].Kind);
        Assert.Equal(JsonKind.Null, items[3].Kind);
        Assert.Equal(JsonKind.False, items[4].Kind);
    }

    [Theory]
    [InlineData("")]
    [InlineData("{")]
    [InlineData("{\"a\":1,}")]
    [InlineData("[1,]")]
    [InlineData("{\"a\" 1}")]
    [InlineData("{a:1}")]
    [InlineData("01")]
    [InlineData("1.")]
    [InlineData("1e")]
    [InlineData("-")]
    [InlineData("+1")]
    [InlineData("tru")]
    [InlineData("nul")]
    [InlineData("\"abc")]
    [InlineData("\"a\\x\"")]
    [InlineData("\"a\\u12\"")]
    [InlineData("\"a\tb\"")]
    [InlineData("{} {}")]
    [InlineData("1e999")]
    [InlineData("// comment\n{}")]
    public void Rejects_what_is_not_json(string text) => Reject(text);

    [Fact]
    public void Rejects_invalid_utf8_in_a_string()
    {
        Assert.False(JsonReader.TryParse([(byte)'"', 0xC3, 0x28, (byte)'"'], out _, out var error));
        Assert.Contains("UTF-8", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Limits_depth_values_and_string_length()
    {
        var limits = new JsonLimits { MaxDepth = 3, MaxValues = 10, MaxStringBytes = 8 };
        Parse("[[[1]]]", limits);
        Assert.Contains("deeply", Reject("[[[[1]]]]", limits), StringComparison.Ordinal);
        Parse("[1,2,3,4,5,6,7,8,9]", limits);
        Assert.Contains("too many values", Reject("[1,2,3,4,5,6,7,8,9,10]", limits), StringComparison.Ordinal);
        Parse("\"12345678\"", limits);
        Assert.Contains("too long", Reject("\"123456789\"", limits), StringComparison.Ordinal);
        Assert.Contains("too long", Reject("{\"123456789\":1}", limits), StringComparison.Ordinal);
        // The defaults stop a deep bomb without recursing far.
        Assert.Contains("deeply", Reject(new string('[', 100_000)), StringComparison.Ordinal);
    }

    [Fact]
    public void Writes_compact_json_that_reads_back()
    {
        var writer = new JsonWriter();
        writer.StartObject()
            .Property("id", 1)
            .Property("bytes", 5224529920L)
            .Property("end_time", 2.0017025)
            .Property("text", "a\"b\\c\nd\u0001é\ud800")
            .Name("list").StartArray().Number(1).Bool(true).StartObject().EndObject().EndArray()
            .Property("nan", double.NaN)
            .EndObject();
        Assert.Equal("{\"id\":1,\"bytes\":5224529920,\"end_time\":2.0017025,\"text\":\"a\\\"b\\\\c\\nd\\u0001é\uFFFD\",\"list\":[1,true,{}],\"nan\":0}", writer.ToString());
        var back = Parse(writer.ToString());
        Assert.Equal("a\"b\\c\nd\u0001é\uFFFD", back["text"]!.Text);
        Assert.Equal(5224529920L, back["bytes"]!.Integer);
    }

    [Fact]
    public void Results_have_what_iperf3s_get_results_requires()
    {
        var writer = new JsonWriter();
        IperfResults.Write(writer, sender: false, [new IperfStreamResult(1, 100, 2.0), new IperfStreamResult(3, 200, 2.0)], serverOutput: null);
        var json = Parse(writer.ToString());
        Assert.True(IperfResults.TryRead(json, out var bytes, out var streams, out var error), error);
        Assert.Equal(300, bytes);
        Assert.Equal(2, streams);
        Assert.Equal(-1, json["sender_has_retransmits"]!.Integer);
        foreach (var name in new[] { "id", "bytes", "retransmits", "jitter", "errors", "packets", "start_time", "end_time" })
        {
            Assert.NotNull(json["streams"]!.Items[1][name]);
        }
        Assert.Equal(3, json["streams"]!.Items[1]["id"]!.Integer);
        Assert.False(IperfResults.TryRead(Parse("{\"cpu_util_total\":0,\"cpu_util_user\":0,\"cpu_util_system\":0,\"sender_has_retransmits\":0}"), out _, out _, out error));
        Assert.Contains("streams", error, StringComparison.Ordinal);
        Assert.False(IperfResults.TryRead(Parse("[]"), out _, out _, out _));
    }
}
