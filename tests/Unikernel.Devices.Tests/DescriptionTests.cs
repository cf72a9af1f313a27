using Unikernel.Runtime;

namespace Unikernel.Devices.Tests;

/// <summary>The text tree of <c>--describe</c>, from the table a generated image carries.</summary>
public class DescriptionTests
{
    [Fact]
    public void Jobs_are_the_roots_and_a_shared_device_is_shown_in_full_once()
    {
        DeviceDescription[] devices =
        [
            new("console", "Unix.UnixConsole", [], false),
            new("stack", "Unix.UnixSocketStack", [], false),
            new("zones", "Unix.DirectoryKeyValueStore", ["--zones"], false),
            new("dns", "App.DnsServer", ["console", "stack", "zones", "--port"], true),
            new("log", "App.Logger", ["console"], true),
        ];
        var text = Description.Format("app", "unix", devices, [new("zones", "string", Description.Value("/srv/zones")), new("port", "int", Description.Value(5353))]);
        Assert.Equal(
            """
            app (target unix)
            ├── dns: App.DnsServer
            │   ├── console: Unix.UnixConsole
            │   ├── stack: Unix.UnixSocketStack
            │   ├── zones: Unix.DirectoryKeyValueStore
            │   │   └── --zones <string> = "/srv/zones"
            │   └── --port <int> = 5353
            └── log: App.Logger
                └── console: Unix.UnixConsole (shown above)
            arguments:
              --zones <string> = "/srv/zones"
              --port <int> = 5353
            """.ReplaceLineEndings("\n"),
            text);
    }

    [Fact]
    public void A_device_no_job_uses_is_a_root_too_and_no_arguments_says_so()
    {
        var text = Description.Format("x", "test", [new("clock", "Testing.VirtualClock", [], false), new("job", "App.Job", ["files of data/ compiled in"], true)], []);
        Assert.Equal("x (target test)\n├── clock: Testing.VirtualClock\n└── job: App.Job\n    └── files of data/ compiled in\narguments: none", text);
    }

    [Fact]
    public void Values_read_as_they_are_typed_whatever_the_culture()
    {
        var culture = System.Globalization.CultureInfo.CurrentCulture;
        try
        {
            System.Globalization.CultureInfo.CurrentCulture = new System.Globalization.CultureInfo("de-DE");
            Assert.Equal("2.5", Description.Value(2.5));
            Assert.Equal("-12345678901", Description.Value(-12345678901L));
        }
        finally
        {
            System.Globalization.CultureInfo.CurrentCulture = culture;
        }
        Assert.Equal("true", Description.Value(true));
        Assert.Equal("false", Description.Value(false));
        Assert.Equal("\"\"", Description.Value(""));
        Assert.Equal("\"say \\\"hi\\\" C:\\\\x\"", Description.Value("say \"hi\" C:\\x"));
        Assert.Equal("[]", Description.Value(Array.Empty<string>()));
        Assert.Equal("[\"a.zone\", \"b.zone\"]", Description.Value(["a.zone", "b.zone"]));
    }
}
