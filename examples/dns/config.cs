using Unikernel.Config;

namespace DnsAppliance;

// The authoritative DNS appliance: a network stack (host sockets, or our direct stack with -p:UnikernelNet=direct),
// zone files compiled into the image, and the DNS job over them.
[Unikernel("dns")]
public static partial class DnsConfig
{
    static void Configure(Configuration c)
    {
        var console = c.Console();
        var stack = c.Stack();
        var data = c.Crunch("zones");
        c.Register(c.Main<DnsJob>(
            console,
            stack,
            data,
            c.Argument("address", "0.0.0.0", "Address to listen on"),
            c.Argument("port", 53, "UDP and TCP port to listen on"),
            c.Argument("zone", new string[0], "A zone file to serve"),
            c.Argument("zones", "", "Serve the zone files in this directory instead of the compiled-in ones"),
            c.Argument("log-level", "info", "Log level: debug, info, warn or error"),
            c.Argument("chaos-version", "unikernel-dns", "TXT answered for CH version.bind (RFC 4892); empty: refused"),
            c.Argument("chaos-id", "", "TXT answered for CH id.server (RFC 4892); empty: refused"),
            c.Argument("tsig-key", new string[0], "TSIG key (RFC 8945) name:algorithm:base64secret (hmac-sha256, hmac-sha1, hmac-sha512), or @FILE of such keys or BIND key clauses"),
            c.Argument("allow-transfer", new string[0], "Who may transfer zones (AXFR/IXFR): an address, a CIDR range, key:NAME, or CIDR+key:NAME; none: refused"),
            c.Argument("notify", new string[0], "Secondary to send NOTIFY (RFC 1996) when a zone changes: address or address:port"),
            c.Argument("notify-key", "", "Name of the TSIG key to sign NOTIFY messages with; empty: unsigned")));
    }
}
