using System;

namespace Unikernel.Protocols.OpenFlow;

/// <summary>
/// What both ends of an OpenFlow channel do the same way: encode into one reused scratch buffer, negotiate the version
/// on hello, refuse messages before hello or of another version, answer echo requests, report errors with the start of
/// the offending message. Messages are handled one at a time on the channel's read loop.
/// </summary>
internal abstract class OfSession(OfConnection channel)
{
    public const uint OpenFlow10Only = 1u << OfVersion.OpenFlow10;
    public const uint OpenFlow10And13 = (1u << OfVersion.OpenFlow10) | (1u << OfVersion.OpenFlow13);

    /// <summary>The versions this end speaks (bit n: version n).</summary>
    protected virtual uint SupportedVersions => OpenFlow10Only;

    protected byte[] Scratch { get; } = new byte[OfMessage.MaxLength];

    protected OfConnection Channel => channel;

    /// <summary>The negotiated version; 0 before hello.</summary>
    public byte Version { get; private set; }

    /// <summary>
    /// Our hello: 1.0 only is a bare 1.0 hello; more versions are the highest in the header and a version bitmap
    /// element (1.3.1 section 7.5.1), which a 1.0 peer ignores (it settles on the lower header version, 1.0).
    /// </summary>
    public void SendHello(uint xid)
    {
        var versions = SupportedVersions;
        if (versions == OpenFlow10Only)
        {
            Send(new OfSimpleMessage(OfType.Hello).TryWrite(Scratch, xid, out var n), n);
            return;
        }
        var highest = (byte)(31 - System.Numerics.BitOperations.LeadingZeroCount(versions));
        Send(new OfHello(highest, versions).TryWrite(Scratch, xid, out var written), written);
    }

    protected void Send(bool ok, int written)
    {
        if (ok)
        {
            channel.TrySend(Scratch.AsSpan(0, written));
        }
    }

    protected void Error(OfMessage offending, OfErrorType type, ushort code) =>
        Send(new OfErrorMessage(type, code, offending.Bytes[..Math.Min(offending.Length, 64)], Version == 0 ? offending.Version is OfVersion.OpenFlow13 ? OfVersion.OpenFlow13 : OfVersion.OpenFlow10 : Version).TryWrite(Scratch, offending.Xid, out var n), n);

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
            Send(new OfSimpleMessage(OfType.EchoReply, message.Body, Version).TryWrite(Scratch, message.Xid, out var n), n);
            return;
        }
        OnMessage(message);
    }

    /// <summary>The peer's hello arrived and a version is agreed.</summary>
    protected abstract void OnHello();

    /// <summary>Any message after hello but echo requests.</summary>
    protected abstract void OnMessage(OfMessage message);
}
