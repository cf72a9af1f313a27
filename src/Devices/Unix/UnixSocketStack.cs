namespace Unikernel.Devices.Unix;

/// <summary>
/// The host's sockets as a network stack (the <c>socket</c> stack). UDP goes straight to the kernel with
/// <c>recvmmsg</c>/<c>sendmmsg</c> (one system call per batch, no managed socket objects on the packet path); TCP uses
/// non-blocking file descriptors and one epoll thread (<see cref="TcpPoller"/>), not System.Net.Sockets' async engine
/// (which costs image size). IPv4 and IPv6; Linux only. Its sockets and epoll descriptor are opened after start
/// (<c>NewDescriptors</c>); none of them is ever read or written with read/write, so a sealed image keeps those two to
/// the descriptors open when it was sealed.
/// </summary>
[SystemCalls("socket", "setsockopt", "bind", "getsockname", "close", Reason = "UDP and TCP: the jobs open, bind and close their sockets after start", NewDescriptors = true)]
[SystemCalls("recvmmsg", "sendmmsg", Reason = "UDP: datagrams in batches", NewDescriptors = true)]
[SystemCalls("listen", "accept4", "connect", "getpeername", "getsockopt", "recvfrom", "sendto", "shutdown", Reason = "TCP: connections (recv and send are recvfrom and sendto)", NewDescriptors = true)]
[SystemCalls("epoll_create1", "epoll_ctl", "epoll_wait", Reason = "TCP: the epoll thread", NewDescriptors = true)]
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
