using Unikernel.Devices;

namespace Unikernel.Protocols.Net;

/// <summary>
/// Where the direct stack gets its TCP layer. A TCP layer is an <see cref="ITcp"/> that registers itself for
/// <see cref="IPProtocol.Tcp"/> on the <see cref="IIPv4"/> seam (and adds an <see cref="IStackTimer"/> for its
/// retransmissions); if it is <see cref="IDisposable"/>, the stack disposes it. It is <see cref="TcpLayer"/>.
/// </summary>
internal static class TcpLayerFactory
{
    public static ITcp Create(IIPv4 ip, IRandom random, TcpSettings settings) => new TcpLayer(ip, random, settings);
}
