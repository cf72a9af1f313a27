namespace Unikernel.Devices.Unix;

/// <summary>
/// The host's sockets as a network stack (the <c>socket</c> stack). UDP goes straight to the kernel with
/// <c>recvmmsg</c>/<c>sendmmsg</c> (one system call per batch, no managed socket objects on the packet path); TCP uses
/// non-blocking file descriptors and one epoll thread (<see cref="TcpPoller"/>), not System.Net.Sockets' async engine
/// (which costs image size). IPv4 and IPv6; Linux only.
/// </summary>
public sealed class UnixSocketStack : INetworkStack
{
    public UnixSocketStack()
    {
        Udp = new UnixUdp();
        Tcp = new UnixTcp();
    }

    public IUdp Udp { get; }

    public ITcp Tcp { get; }
}
