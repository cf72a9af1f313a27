using System;
using System.IO;
using System.Net;
using System.Net.Sockets;
using System.Threading;

namespace Unikernel.Tests;

/// <summary>
/// Ports for servers that tests start with an explicit port (NSD, Knot, a published appliance). A port taken from
/// bind(0) lies in the kernel's ephemeral range, so between our check and the server's bind any client's outgoing
/// connection or datagram may take it (CI failed that way). These come from below that range, each handed out once
/// per process, and are checked free for both UDP and TCP.
/// </summary>
public static class TestPorts
{
    private const int Lowest = 10000;
    private static readonly int Highest = EphemeralRangeStart() - 1;
    private static int _next = Lowest + (Environment.ProcessId % 97) * 100;

    public static int Free()
    {
        var span = Highest - Lowest + 1;
        for (var attempt = 0; attempt < span; attempt++)
        {
            var port = Lowest + (int)((uint)Interlocked.Increment(ref _next) % (uint)span);
            if (IsFree(port))
            {
                return port;
            }
        }
        throw new InvalidOperationException($"no port in {Lowest}-{Highest} is free for both UDP and TCP on 127.0.0.1");
    }

    private static bool IsFree(int port)
    {
        try
        {
            using var udp = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            udp.Bind(new IPEndPoint(IPAddress.Loopback, port));
            using var tcp = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            tcp.Bind(new IPEndPoint(IPAddress.Loopback, port));
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    private static int EphemeralRangeStart()
    {
        try
        {
            var fields = File.ReadAllText("/proc/sys/net/ipv4/ip_local_port_range").Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length >= 1 && int.TryParse(fields[0], out var start) && start > Lowest + 1000)
            {
                return start;
            }
        }
        catch (IOException)
        {
        }
        return 32768; // Linux's default ip_local_port_range starts here
    }
}
