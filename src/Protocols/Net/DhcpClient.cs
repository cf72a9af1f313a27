using System;

namespace Unikernel.Protocols.Net;

/// <summary>What the DHCP client needs from the stack.</summary>
internal interface IDhcpHost
{
    MacAddress MacAddress { get; }

    /// <summary>Sends a client message: broadcast (from 0.0.0.0 unless bound) or unicast to <paramref name="destination"/>.</summary>
    void SendDhcp(in DhcpRepr message, uint destination);

    void OnLease(in DhcpLease lease);

    void OnLeaseLost();
}

public readonly record struct DhcpLease(uint Address, uint SubnetMask, uint Router, uint DnsServer, uint Server, uint LeaseSeconds, uint RenewalSeconds, uint RebindingSeconds);

/// <summary>
/// The DHCP client state machine (RFC 2131 §4.4): INIT → SELECTING → REQUESTING → BOUND → RENEWING (T1, unicast to the
/// server) → REBINDING (T2, broadcast) → INIT when the lease ends. Driven by the stack under its lock: messages in, and
/// <see cref="Poll"/> for retransmissions and the lease timers. Times are monotonic nanoseconds.
/// </summary>
internal sealed class DhcpClient
{
    private const long Second = 1_000_000_000L;
    private const long InitialRetransmit = 2 * Second;
    private const long MaxRetransmit = 16 * Second;
    private const int MaxRequestAttempts = 4;

    private readonly IDhcpHost _host;
    private readonly Func<uint> _newTransactionId;
    private long _retransmit;
    private long _nextSendAt;
    private int _attempts;
    private uint _offered;
    private uint _server;
    private long _t1At;
    private long _t2At;
    private long _endAt;

    public DhcpClient(IDhcpHost host, Func<uint> newTransactionId)
    {
        _host = host;
        _newTransactionId = newTransactionId;
    }

    public DhcpState State { get; private set; } = DhcpState.Init;

    public DhcpLease Lease { get; private set; }

    public uint TransactionId { get; private set; }

    /// <summary>When set, overrides T1 (tests use it to see renewal quickly).</summary>
    public TimeSpan? RenewalOverride { get; set; }

    /// <summary>How many leases were acknowledged (the first and each renewal).</summary>
    public int Acks { get; private set; }

    /// <summary>When <see cref="Poll"/> next has work.</summary>
    public long NextDeadline => State switch
    {
        DhcpState.Selecting or DhcpState.Requesting => _nextSendAt,
        DhcpState.Bound => _t1At,
        DhcpState.Renewing => Math.Min(_nextSendAt, Math.Min(_t2At, _endAt)),
        DhcpState.Rebinding => Math.Min(_nextSendAt, _endAt),
        _ => long.MaxValue,
    };

    public void Start(long now)
    {
        State = DhcpState.Selecting;
        TransactionId = _newTransactionId();
        _retransmit = InitialRetransmit;
        _attempts = 0;
        SendDiscover(now);
    }

    public void Poll(long now)
    {
        switch (State)
        {
            case DhcpState.Selecting when now >= _nextSendAt:
                SendDiscover(now);
                break;
            case DhcpState.Requesting when now >= _nextSendAt:
                if (_attempts >= MaxRequestAttempts)
                {
                    Start(now);
                }
                else
                {
                    SendRequest(now, broadcast: true);
                }
                break;
            case DhcpState.Bound when now >= _t1At:
                State = DhcpState.Renewing;
                TransactionId = _newTransactionId();
                SendRequest(now, broadcast: false);
                break;
            case DhcpState.Renewing or DhcpState.Rebinding when now >= _endAt:
                State = DhcpState.Init;
                Lease = default;
                _host.OnLeaseLost();
                Start(now);
                break;
            case DhcpState.Renewing when now >= _t2At:
                State = DhcpState.Rebinding;
                SendRequest(now, broadcast: true);
                break;
            case DhcpState.Renewing or DhcpState.Rebinding when now >= _nextSendAt:
                SendRequest(now, broadcast: State == DhcpState.Rebinding);
                break;
        }
    }

    public void Handle(in DhcpRepr message, long now)
    {
        if (message.Operation != DhcpRepr.BootReply || message.TransactionId != TransactionId || message.ClientHardwareAddress != _host.MacAddress)
        {
            return;
        }
        switch (State)
        {
            case DhcpState.Selecting when message.MessageType == DhcpMessageType.Offer && message.YourAddress != 0 && message.ServerIdentifier != 0:
                _offered = message.YourAddress;
                _server = message.ServerIdentifier;
                State = DhcpState.Requesting;
                _retransmit = InitialRetransmit;
                _attempts = 0;
                SendRequest(now, broadcast: true);
                break;
            case DhcpState.Requesting or DhcpState.Renewing or DhcpState.Rebinding when message.MessageType == DhcpMessageType.Ack && message.YourAddress != 0:
                Bind(message, now);
                break;
            case DhcpState.Requesting or DhcpState.Renewing or DhcpState.Rebinding when message.MessageType == DhcpMessageType.Nak:
                var wasBound = State != DhcpState.Requesting;
                Lease = default;
                if (wasBound)
                {
                    _host.OnLeaseLost();
                }
                Start(now);
                break;
        }
    }

    private void Bind(in DhcpRepr ack, long now)
    {
        var lease = ack.LeaseSeconds == 0 ? 3600u : ack.LeaseSeconds;
        var t1 = ack.RenewalSeconds != 0 && ack.RenewalSeconds < lease ? ack.RenewalSeconds : lease / 2;
        var t2 = ack.RebindingSeconds != 0 && ack.RebindingSeconds < lease && ack.RebindingSeconds > t1 ? ack.RebindingSeconds : Math.Max(t1, (uint)(lease * 7UL / 8));
        var server = ack.ServerIdentifier != 0 ? ack.ServerIdentifier : _server;
        Lease = new DhcpLease(ack.YourAddress, ack.SubnetMask, ack.Router, ack.DnsServer, server, lease, t1, t2);
        _server = server;
        _offered = ack.YourAddress;
        var t1Nanoseconds = RenewalOverride is { } renewal ? renewal.Ticks * 100 : t1 * Second;
        _t1At = now + t1Nanoseconds;
        _t2At = now + Math.Max(t1Nanoseconds, t2 * Second);
        _endAt = now + (lease * Second);
        State = DhcpState.Bound;
        Acks++;
        _host.OnLease(Lease);
    }

    private void SendDiscover(long now)
    {
        var message = NewMessage(DhcpMessageType.Discover);
        _host.SendDhcp(message, IPv4Address.Broadcast);
        Backoff(now);
    }

    private void SendRequest(long now, bool broadcast)
    {
        var message = NewMessage(DhcpMessageType.Request);
        if (State == DhcpState.Requesting)
        {
            // SELECTING → REQUESTING: name the offer and the server chosen (RFC 2131 §4.3.2).
            message.RequestedAddress = _offered;
            message.ServerIdentifier = _server;
        }
        else
        {
            // RENEWING/REBINDING: the address goes in ciaddr, no server identifier.
            message.ClientAddress = Lease.Address;
        }
        _attempts++;
        _host.SendDhcp(message, broadcast ? IPv4Address.Broadcast : _server);
        if (State is DhcpState.Renewing or DhcpState.Rebinding)
        {
            // RFC 2131 §4.4.5: wait half the time left to T2 (or to the end of the lease), at least a second.
            var until = State == DhcpState.Renewing ? _t2At : _endAt;
            _nextSendAt = now + Math.Max(Second, (until - now) / 2);
        }
        else
        {
            Backoff(now);
        }
    }

    private void Backoff(long now)
    {
        _nextSendAt = now + _retransmit;
        _retransmit = Math.Min(MaxRetransmit, _retransmit * 2);
    }

    private DhcpRepr NewMessage(DhcpMessageType type) => new()
    {
        Operation = DhcpRepr.BootRequest,
        TransactionId = TransactionId,
        ClientHardwareAddress = _host.MacAddress,
        MessageType = type,
        ClientOptions = true,
        MaxMessageSize = 1500,
    };
}

public enum DhcpState
{
    Init,
    Selecting,
    Requesting,
    Bound,
    Renewing,
    Rebinding,
}

/// <summary>The DHCP client as an ordinary consumer of UDP port 68 and a stack timer.</summary>
internal sealed class DhcpBinding : IUdpReceiver, IStackTimer
{
    private readonly DhcpClient _client;
    private readonly IIPv4 _ip;

    public DhcpBinding(DhcpClient client, IIPv4 ip, DirectUdp udp)
    {
        _client = client;
        _ip = ip;
        lock (ip.Gate)
        {
            udp.BindLocked(DhcpPacket.ClientPort, this);
        }
        ip.AddTimer(this);
    }

    public bool ReceivesWhileUnconfigured => true;

    public bool DeliverLocked(uint source, ushort sourcePort, ReadOnlySpan<byte> payload)
    {
        if (DhcpRepr.TryParse(payload, out var message))
        {
            _client.Handle(message, _ip.Now);
            _ip.WakeTimerLocked(_client.NextDeadline);
        }
        return true;
    }

    public void PollLocked(long now) => _client.Poll(now);

    public long NextDeadline => _client.NextDeadline;
}
