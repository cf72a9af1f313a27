using System;

namespace Unikernel.Protocols.OpenFlow;

/// <summary>
/// What both ends of an OpenFlow channel do the same way: encode into one reused scratch buffer, negotiate the version
/// on hello, refuse messages before hello or of another version, answer echo requests, report errors with the start of
/// the offending message. Messages are handled one at a time on the channel's read loop.
/// </summary>
internal abstract class OfSession(OfConnection channel)
{
    /// <summary>The versions we speak (bit n: version n): 1.0 only for now.</summary>
    public const uint SupportedVersions = 1u << OfVersion.OpenFlow10;

    protected byte[] Scratch { get; } = new byte[OfMessage.MaxLength];

    protected OfConnection Channel => channel;

    /// <summary>The negotiated version; 0 before hello.</summary>
    public byte Version { get; private set; }

    public void SendHello(uint xid) => Send(new OfSimpleMessage(OfType.Hello).TryWrite(Scratch, xid, out var n), n);

    protected void Send(bool ok, int written)
    {
        if (ok)
        {
            channel.TrySend(Scratch.AsSpan(0, written));
        }
    }

    protected void Error(OfMessage offending, OfErrorType type, ushort code) =>
        Send(new OfErrorMessage(type, code, offending.Bytes[..Math.Min(offending.Length, 64)]).TryWrite(Scratch, offending.Xid, out var n), n);

    public void Handle(OfMessage message)
    {
        if (message.Type == OfType.Hello)
        {
            OfHello.TryParse(message, out var hello);
            Version = OfHello.Negotiate(SupportedVersions, hello);
            if (Version == 0)
            {
                Error(message, OfErrorType.HelloFailed, OfErrorCode.HelloIncompatible);
                return;
            }
            OnHello();
            return;
        }
        if (Version == 0 || message.Version != Version)
        {
            // Before hello, or another version than the one negotiated.
            Error(message, OfErrorType.BadRequest, OfErrorCode.BadRequestVersion);
            return;
        }
        if (message.Type == OfType.EchoRequest)
        {
            Send(new OfSimpleMessage(OfType.EchoReply, message.Body).TryWrite(Scratch, message.Xid, out var n), n);
            return;
        }
        OnMessage(message);
    }

    /// <summary>The peer's hello arrived and a version is agreed.</summary>
    protected abstract void OnHello();

    /// <summary>Any message after hello but echo requests.</summary>
    protected abstract void OnMessage(OfMessage message);
}
