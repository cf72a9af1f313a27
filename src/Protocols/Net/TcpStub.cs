using System;
using System.Net;
using System.Threading;
using System.Threading.Tasks;
using Unikernel.Devices;

namespace Unikernel.Protocols.Net;

/// <summary>
/// Where the direct stack gets its TCP layer. A TCP layer is an <see cref="ITcp"/> that registers itself for
/// <see cref="IPProtocol.Tcp"/> on the <see cref="IIPv4"/> seam (and adds an <see cref="IStackTimer"/> for its
/// retransmissions); if it is <see cref="IDisposable"/>, the stack disposes it. Until one is plugged in here, TCP
/// segments get ICMP protocol unreachable (nothing is registered for protocol 6).
/// </summary>
internal static class TcpLayerFactory
{
    public static ITcp Create(IIPv4 ip, IRandom random) => new NotSupportedTcp();

    private sealed class NotSupportedTcp : ITcp
    {
        private const string Message = "TCP is not implemented by the direct network stack yet (it comes in a later issue); use the socket stack for TCP";

        public ITcpListener Listen(IPEndPoint localEndPoint, int backlog = 128) => throw new NotSupportedException(Message);

        public ValueTask<ITcpConnection> ConnectAsync(IPEndPoint remoteEndPoint, CancellationToken cancellationToken) =>
            throw new NotSupportedException(Message);
    }
}
