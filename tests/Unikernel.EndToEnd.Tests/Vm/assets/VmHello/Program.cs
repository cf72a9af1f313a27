using System;
using System.IO;
using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using Unikernel.Devices.Vm;

// Stands in for a generated Main: VmInit.Initialize() first, `return VmInit.Exit(code)` last.
VmInit.Initialize();
Console.WriteLine("vmhello: started");
Console.WriteLine($"vmhello: pid={Environment.ProcessId} init={VmInit.IsInit}");
Console.WriteLine($"vmhello: args=[{string.Join("|", args)}]");
Console.WriteLine($"vmhello: cpus={Environment.ProcessorCount} proc={File.Exists("/proc/self/stat")} dev-null={File.Exists("/dev/null")} tmp={Directory.Exists("/tmp")}");

int ticks = 3;
int exitCode = 0;
for (int i = 0; i < args.Length - 1; i++)
{
    if (args[i] == "--ticks")
    {
        ticks = int.Parse(args[i + 1], System.Globalization.CultureInfo.InvariantCulture);
    }
    if (args[i] == "--exit-code")
    {
        exitCode = int.Parse(args[i + 1], System.Globalization.CultureInfo.InvariantCulture);
    }
}
for (int i = 1; i <= ticks; i++)
{
    Console.WriteLine($"vmhello: tick {i}");
    System.Threading.Thread.Sleep(10);
}

// Kernel sockets: UDP over loopback (lo is brought up by VmInit), and the NICs configured by ip=.
try
{
    using var server = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
    server.Bind(new IPEndPoint(IPAddress.Loopback, 0));
    using var client = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
    client.SendTo("ping"u8.ToArray(), server.LocalEndPoint!);
    var buffer = new byte[16];
    server.ReceiveTimeout = 2000;
    int n = server.Receive(buffer);
    Console.WriteLine($"vmhello: loopback-udp={System.Text.Encoding.ASCII.GetString(buffer, 0, n)}");
}
catch (Exception e) when (e is SocketException or PlatformNotSupportedException)
{
    Console.WriteLine($"vmhello: loopback-udp failed: {e.Message}");
}
foreach (var nic in NetworkInterface.GetAllNetworkInterfaces())
{
    foreach (var address in nic.GetIPProperties().UnicastAddresses)
    {
        Console.WriteLine($"vmhello: nic {nic.Name} {address.Address}");
    }
}

// --udp-echo PORT: echo datagrams on 0.0.0.0:PORT (the NIC configured by ip=) until "quit" or --serve-seconds.
int echoPort = 0;
int serveSeconds = 30;
for (int i = 0; i < args.Length - 1; i++)
{
    if (args[i] == "--udp-echo")
    {
        echoPort = int.Parse(args[i + 1], System.Globalization.CultureInfo.InvariantCulture);
    }
    if (args[i] == "--serve-seconds")
    {
        serveSeconds = int.Parse(args[i + 1], System.Globalization.CultureInfo.InvariantCulture);
    }
}
if (echoPort != 0)
{
    using var echo = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
    echo.Bind(new IPEndPoint(IPAddress.Any, echoPort));
    echo.ReceiveTimeout = 500;
    Console.WriteLine($"vmhello: udp-echo listening on {echoPort}");
    var deadline = DateTime.UtcNow.AddSeconds(serveSeconds);
    var buffer = new byte[1500];
    while (DateTime.UtcNow < deadline)
    {
        EndPoint peer = new IPEndPoint(IPAddress.Any, 0);
        int n;
        try
        {
            n = echo.ReceiveFrom(buffer, ref peer);
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.TimedOut || e.SocketErrorCode == SocketError.WouldBlock)
        {
            continue;
        }
        string text = System.Text.Encoding.ASCII.GetString(buffer, 0, n);
        Console.WriteLine($"vmhello: udp-echo {n} bytes from {peer}");
        echo.SendTo(buffer.AsSpan(0, n), peer);
        if (text == "quit")
        {
            break;
        }
    }
}

Console.WriteLine("vmhello: done");
return VmInit.Exit(exitCode);
