using System;
using System.Collections.Generic;
using System.Net;
using System.Net.Sockets;
using System.Threading;
using System.Threading.Tasks;
using Unikernel.Devices;

namespace Unikernel.Protocols.Net;

/// <summary>RFC 9293 §3.3.2 connection states (LISTEN lives in <see cref="TcpListener"/>).</summary>
public enum TcpState
{
    Closed,
    SynSent,
    SynReceived,
    Established,
    FinWait1,
    FinWait2,
    CloseWait,
    Closing,
    LastAck,
    TimeWait,
}

/// <summary>
/// One TCP connection (its TCB) and the application's handle on it. The state machine follows RFC 9293 §3.10 with
/// RFC 5961 (challenge ACKs), RFC 7323 (window scaling, timestamps, PAWS), RFC 2018 (SACK), RFC 6298 (RTO),
/// RFC 5681/6582 (slow start, NewReno recovery, SACK choosing the holes to resend), RFC 9438 (CUBIC), delayed ACKs
/// (every second full segment, quick ACKs at the start), Nagle (off with <see cref="NoDelay"/>), zero-window probes,
/// silly-window avoidance on both sides and keep-alive. Engine methods (<c>…Locked</c>) run under the stack's lock.
/// </summary>
public sealed class TcpConnection : ITcpConnection
{
    private const long Ms = 1_000_000L;
    private const int MaxOutOfOrder = 8;
    private const int MaxSacked = 8;
    private const int QuickAcks = 16;
    private const double CubicBeta = 0.7;
    private const double CubicC = 0.4;

    private readonly TcpEngine _engine;
    private readonly TcpSettings _settings;
    private readonly TcpRing _snd;
    private readonly TcpRing _rcv;
    private readonly uint[] _oooLeft = new uint[MaxOutOfOrder];
    private readonly uint[] _oooRight = new uint[MaxOutOfOrder];
    private readonly uint[] _sackLeft = new uint[MaxSacked];
    private readonly uint[] _sackRight = new uint[MaxSacked];
    private readonly uint _iss;
    private readonly uint _tsOffset;
    private readonly int _rcvShiftWanted;

    // send sequence space
    private uint _sndUna, _sndNxt, _sndMax, _sndBase, _sndWnd, _sndWl1, _sndWl2, _maxSndWnd;
    private int _sndShift, _rcvShift;
    private int _peerMss = 536;
    private int _mss = 536;
    private bool _finQueued;

    // receive sequence space
    private uint _irs, _rcvNxt, _rcvAdvEdge;
    private int _rcvMss = 536;
    private bool _finReceived;
    private bool _oooFin;
    private uint _oooFinSeq;
    private int _oooCount;
    private uint _oooLatest;

    // options
    private bool _ts, _sackOk, _offerWs;
    private uint _tsRecent;
    private uint _lastAckSent;

    // RTT and timers
    private long _srtt, _rttvar, _rto;
    private bool _rttTiming;
    private uint _rttSeq;
    private long _rttStart;
    private int _retries;
    private bool _persist;
    private int _probes;
    private long _rtxDeadline = long.MaxValue;
    private long _ackDeadline = long.MaxValue;
    private long _keepDeadline = long.MaxValue;
    private long _lifeDeadline = long.MaxValue;
    private bool _synRetransmitted;
    private bool _halfOpenReleased;
    private int _persistBackoff;

    // congestion control
    private long _cwnd, _ssthresh = long.MaxValue / 4, _caBytes;
    private int _dupAcks;
    private bool _inRecovery;
    private uint _recover, _rtxNext;
    private uint _rescueRxt; // RFC 6675 RescueRxt: the recovery point of the last rescue retransmission
    private bool _rescued; // RescueRxt is defined (a rescue retransmission was sent in some recovery)
    private int _sackCount;
    private double _wMax, _k, _wEst, _wOrigin;
    private long _epochStart = -1;

    // ACK state
    private int _unackedBytes;
    private int _quickAcks = QuickAcks;
    private bool _ackNow;

    // application
    private bool _appClosed;
    private SocketError _error;
    private TaskCompletionSource? _readSignal, _writeSignal, _stateSignal;

    /// <summary>The send and receive state in one line, relative to the initial sequence numbers, for diagnosing a stalled connection.</summary>
    internal string DescribeLocked() =>
        $"{State} una {_sndUna - _iss} nxt {_sndNxt - _iss} max {_sndMax - _iss} dataEnd {DataEnd - _iss} wnd {_sndWnd} cwnd {_cwnd} ssthresh {_ssthresh} " +
        $"rto {_rto / 1_000_000} ms rtx in {(_rtxDeadline == long.MaxValue ? "-" : ((_rtxDeadline - Now) / 1_000_000).ToString())} ms retries {_retries} " +
        $"persist {_persist} recovery {_inRecovery} recover {_recover - _iss} rtxNext {_rtxNext - _iss} dupAcks {_dupAcks} sacks {_sackCount}" +
        (_sackCount > 0 ? $" [{_sackLeft[0] - _iss}, {_sackRight[_sackCount - 1] - _iss})" : "") +
        $"; rcvNxt {_rcvNxt - _irs} rcvFree {_rcv.Free} ooo {_oooCount} advEdge {_rcvAdvEdge - _rcvNxt} snd free {_snd.Free} fin {_finQueued}/{_finReceived}";

    internal TcpConnection(TcpEngine engine, uint remote, ushort remotePort, ushort localPort, uint iss, bool noDelay)
    {
        _engine = engine;
        _settings = engine.Settings;
        RemoteAddress = remote;
        RemotePort = remotePort;
        LocalPort = localPort;
        Key = (ulong)remote << 32 | (ulong)remotePort << 16 | localPort;
        NoDelay = noDelay;
        _snd = new TcpRing(_settings.SendBufferSize);
        _rcv = new TcpRing(_settings.ReceiveBufferSize);
        _iss = iss;
        _sndUna = _sndNxt = _sndMax = _recover = iss;
        _sndBase = iss + 1;
        _rto = _settings.InitialRto.Ticks * 100;
        Span<byte> seed = stackalloc byte[4];
        engine.Random.Fill(seed);
        _tsOffset = BitConverter.ToUInt32(seed);
        while (_rcvShiftWanted < 14 && _settings.ReceiveBufferSize >> _rcvShiftWanted > 65535)
        {
            _rcvShiftWanted++;
        }
        var address = new byte[4];
        IPv4Address.Write(address, remote);
        RemoteEndPoint = new IPEndPoint(new IPAddress(address), remotePort);
    }

    public IPEndPoint RemoteEndPoint { get; }

    /// <summary>Turns Nagle's algorithm off (RFC 9293 §3.7.4): small writes go out at once. Accepted connections start with it on, as the socket stack's do.</summary>
    public bool NoDelay { get; set; }

    public TcpState State { get; private set; }

    internal uint RemoteAddress { get; }

    internal ushort RemotePort { get; }

    internal ushort LocalPort { get; }

    internal ulong Key { get; }

    internal TcpListener? Listener { get; init; }

    internal bool Accepted { get; set; }

    internal bool IsAlive => State != TcpState.Closed;

    internal System.Collections.Generic.LinkedListNode<TcpConnection>? TimeWaitNode { get; set; }

    internal long NextDeadline => Math.Min(Math.Min(_rtxDeadline, _ackDeadline), Math.Min(_keepDeadline, _lifeDeadline));

    /// <summary>Effective send MSS (data bytes per segment).</summary>
    internal int Mss => _mss;

    internal long CongestionWindow => _cwnd;

    internal long SlowStartThreshold => _ssthresh;

    internal long RetransmissionTimeout => _rto;

    internal bool TimestampsEnabled => _ts;

    internal bool SackEnabled => _sackOk;

    internal int SendShift => _sndShift;

    internal int ReceiveShift => _rcvShift;

    internal int PeerMss => _peerMss;

    internal int BufferedReceive => _rcv.Count;

    internal int AllocatedBytes => _snd.Allocated + _rcv.Allocated;

    private long Now => _engine.Now;

    private TcpCounters Counters => _engine.Counters;

    private uint DataEnd => _sndBase + (uint)_snd.Count;

    private bool FinAcked => _finQueued && TcpSeq.Gt(_sndUna, DataEnd);

    // ---- opening ----

    internal void OpenActiveLocked()
    {
        State = TcpState.SynSent;
        _offerWs = _settings.WindowScaling;
        _ts = _settings.Timestamps;
        _sackOk = _settings.Sack;
        SendSynLocked();
        ArmRetransmit(Now + _rto);
    }

    internal void OpenPassiveLocked(ref TcpRepr syn)
    {
        State = TcpState.SynReceived;
        _irs = syn.SequenceNumber;
        _rcvNxt = _irs + 1;
        _ts = _settings.Timestamps && syn.HasTimestamps;
        if (_ts)
        {
            _tsRecent = syn.TimestampValue;
        }
        _sackOk = _settings.Sack && syn.SackPermitted;
        _offerWs = _settings.WindowScaling && syn.WindowScale >= 0;
        TakePeerOptions(ref syn);
        _sndWnd = syn.WindowSize;
        _sndWl1 = syn.SequenceNumber;
        _sndWl2 = _iss;
        SendSynLocked();
        ArmRetransmit(Now + _rto);
    }

    /// <summary>The final ACK of a handshake answered with a SYN cookie: the peer's ISN and MSS come from the cookie.</summary>
    internal void OpenFromCookieLocked(uint peerIsn, int mss, ref TcpRepr ack)
    {
        State = TcpState.SynReceived;
        _halfOpenReleased = true; // a cookie connection was never counted as half-open
        _irs = peerIsn;
        _rcvNxt = peerIsn + 1;
        _sndNxt = _sndMax = _iss + 1;
        _peerMss = mss;
        _mss = Math.Min(mss, _engine.Host.Mtu - 40);
        _rcvAdvEdge = _rcvNxt + 65535;
        _sndWl1 = ack.SequenceNumber - 1;
        HandleLocked(ref ack);
    }

    private void TakePeerOptions(ref TcpRepr syn)
    {
        if (_offerWs && syn.WindowScale >= 0)
        {
            _sndShift = syn.WindowScale;
            _rcvShift = _rcvShiftWanted;
        }
        else
        {
            _offerWs = false;
            _sndShift = _rcvShift = 0;
        }
        _peerMss = syn.MaxSegmentSize == 0 ? 536 : Math.Max((int)syn.MaxSegmentSize, 64);
        _mss = Math.Min(_peerMss, _engine.Host.Mtu - 40) - (_ts ? 12 : 0);
        _rcvMss = Math.Min(_mss, 536);
    }

    private void SendSynLocked()
    {
        var flags = State == TcpState.SynSent ? TcpFlags.Syn : (byte)(TcpFlags.Syn | TcpFlags.Ack);
        var window = (ushort)Math.Min(_rcv.Maximum, 65535);
        var syn = new TcpRepr(LocalPort, RemotePort, _iss, State == TcpState.SynSent ? 0 : _rcvNxt, flags, window)
        {
            MaxSegmentSize = (ushort)Math.Min(65535, _engine.Host.Mtu - 40),
            WindowScale = (sbyte)(_offerWs ? _rcvShiftWanted : -1),
            SackPermitted = _sackOk,
            HasTimestamps = _ts,
            TimestampValue = TsNow(),
            TimestampEcho = State == TcpState.SynSent ? 0 : _tsRecent,
        };
        _engine.SendLocked(RemoteAddress, ref syn);
        _rcvAdvEdge = _rcvNxt + window;
        _lastAckSent = _rcvNxt;
        _sndNxt = _iss + 1;
        _sndMax = TcpSeq.Max(_sndMax, _sndNxt);
    }

    private void EstablishLocked(ref TcpRepr segment)
    {
        State = TcpState.Established;
        _sndWnd = (uint)segment.WindowSize << _sndShift;
        _maxSndWnd = Math.Max(_maxSndWnd, _sndWnd);
        _sndWl1 = segment.SequenceNumber;
        _sndWl2 = segment.AcknowledgmentNumber;
        // RFC 6928 initial window of 10 segments; RFC 5681 §3.1: one segment when the SYN had to be resent.
        _cwnd = _synRetransmitted ? _mss : 10L * _mss;
        _retries = 0;
        if (_rto > _settings.InitialRto.Ticks * 100 && _srtt == 0)
        {
            _rto = Math.Max(3 * Ms * 1000, _settings.InitialRto.Ticks * 100); // RFC 6298 §5.7
        }
        ArmKeepAlive();
        if (Listener is { } listener)
        {
            if (!_halfOpenReleased)
            {
                listener.HalfOpen = Math.Max(0, listener.HalfOpen - 1);
                _halfOpenReleased = true;
            }
            listener.EnqueueLocked(this);
        }
        Signal(ref _stateSignal);
        Signal(ref _writeSignal);
    }

    internal bool AcceptsNewIncarnation(in TcpRepr syn) =>
        (_ts && syn.HasTimestamps && TcpSeq.Gt(syn.TimestampValue, _tsRecent)) || TcpSeq.Gt(syn.SequenceNumber, _rcvNxt);

    // ---- receiving ----

    internal void HandleLocked(ref TcpRepr segment)
    {
        if (State == TcpState.SynSent)
        {
            HandleSynSentLocked(ref segment);
        }
        else
        {
            HandleSynchronizedLocked(ref segment);
        }
        if (IsAlive)
        {
            OutputLocked();
        }
    }

    /// <summary>RFC 9293 §3.10.7.3.</summary>
    private void HandleSynSentLocked(ref TcpRepr segment)
    {
        var ack = segment.Has(TcpFlags.Ack);
        if (ack && (TcpSeq.Le(segment.AcknowledgmentNumber, _iss) || TcpSeq.Gt(segment.AcknowledgmentNumber, _sndMax)))
        {
            if (!segment.Has(TcpFlags.Rst))
            {
                var reset = new TcpRepr(LocalPort, RemotePort, segment.AcknowledgmentNumber, 0, TcpFlags.Rst, 0);
                _engine.SendLocked(RemoteAddress, ref reset);
                Counters.RstsSent++;
            }
            return;
        }
        if (segment.Has(TcpFlags.Rst))
        {
            if (ack)
            {
                FailLocked(SocketError.ConnectionRefused);
            }
            return;
        }
        if (!segment.Has(TcpFlags.Syn))
        {
            return;
        }
        _irs = segment.SequenceNumber;
        _rcvNxt = _irs + 1;
        _ts = _ts && segment.HasTimestamps;
        if (_ts)
        {
            _tsRecent = segment.TimestampValue;
        }
        _sackOk = _sackOk && segment.SackPermitted;
        TakePeerOptions(ref segment);
        if (ack)
        {
            SampleRtt(ref segment, Now);
            _sndUna = segment.AcknowledgmentNumber;
            _rtxDeadline = long.MaxValue;
            EstablishLocked(ref segment);
            _ackNow = true;
        }
        else
        {
            // Simultaneous open: answer with SYN,ACK (same ISS) and wait for the ACK of our SYN.
            State = TcpState.SynReceived;
            _sndWnd = segment.WindowSize;
            SendSynLocked();
            ArmRetransmit(Now + _rto);
        }
    }

    /// <summary>RFC 9293 §3.10.7.4 for every synchronized state (and SYN-RECEIVED).</summary>
    private void HandleSynchronizedLocked(ref TcpRepr segment)
    {
        var now = Now;
        var rst = segment.Has(TcpFlags.Rst);
        var seq = segment.SequenceNumber;
        // RFC 7323 §5.3 PAWS.
        if (_ts && segment.HasTimestamps && !rst && TcpSeq.Lt(segment.TimestampValue, _tsRecent))
        {
            Counters.DropsPaws++;
            SendAckLocked();
            return;
        }
        if (segment.Has(TcpFlags.Syn) && !rst)
        {
            if (State == TcpState.SynReceived && seq == _irs && !segment.Has(TcpFlags.Ack))
            {
                SendSynLocked(); // the peer resent its SYN: resend ours
                return;
            }
            if (State != TcpState.SynReceived)
            {
                SendChallengeAckLocked(); // RFC 5961 §4: whatever its sequence number
                return;
            }
        }
        var length = segment.SegmentLength;
        var window = Math.Max((uint)Math.Max(0, (int)(_rcvAdvEdge - _rcvNxt)), 0u);
        var acceptable = length == 0
            ? window == 0 ? seq == _rcvNxt : TcpSeq.Le(_rcvNxt, seq) && TcpSeq.Lt(seq, _rcvNxt + window)
            : window != 0 && ((TcpSeq.Le(_rcvNxt, seq) && TcpSeq.Lt(seq, _rcvNxt + window))
                || (TcpSeq.Le(_rcvNxt, seq + (uint)length - 1) && TcpSeq.Lt(seq + (uint)length - 1, _rcvNxt + window)));
        var dataAllowed = acceptable;
        if (!acceptable && window == 0 && length > 0 && seq == _rcvNxt)
        {
            acceptable = true; // RFC 9293: with a zero window, still take ACKs, URGs and RSTs (and a bare FIN)
            dataAllowed = segment.Payload.Length == 0;
            _ackNow = true;
        }
        if (!acceptable)
        {
            if (rst)
            {
                return;
            }
            if (State == TcpState.SynReceived && segment.Has(TcpFlags.Syn) && !segment.Has(TcpFlags.Ack) && seq == _irs)
            {
                SendSynLocked(); // the peer resent its SYN: resend ours
                return;
            }
            Counters.DropsOutOfWindow++;
            SendAckLocked();
            return;
        }
        if (rst)
        {
            // RFC 5961 §3.2: only an exact match resets; an in-window one is challenged.
            if (seq == _rcvNxt)
            {
                if (State is TcpState.SynReceived or TcpState.Closing or TcpState.LastAck or TcpState.TimeWait)
                {
                    FailLocked(State == TcpState.SynReceived && Listener is null ? SocketError.ConnectionRefused : SocketError.ConnectionReset);
                }
                else
                {
                    FailLocked(SocketError.ConnectionReset);
                }
            }
            else
            {
                SendChallengeAckLocked();
            }
            return;
        }
        if (segment.HasTimestamps && _ts && TcpSeq.Le(seq, _lastAckSent) && TcpSeq.Ge(segment.TimestampValue, _tsRecent))
        {
            _tsRecent = segment.TimestampValue;
        }
        if (segment.Has(TcpFlags.Syn))
        {
            SendChallengeAckLocked(); // a SYN-RECEIVED connection sees a SYN in its window: RFC 5961 §4 as well
            return;
        }
        if (!segment.Has(TcpFlags.Ack))
        {
            return;
        }
        _probes = 0;
        ArmKeepAlive();
        var ack = segment.AcknowledgmentNumber;
        if (State == TcpState.SynReceived)
        {
            if (!(TcpSeq.Lt(_sndUna, ack) && TcpSeq.Le(ack, _sndMax)))
            {
                var reset = new TcpRepr(LocalPort, RemotePort, ack, 0, TcpFlags.Rst, 0);
                _engine.SendLocked(RemoteAddress, ref reset);
                Counters.RstsSent++;
                return;
            }
            if (Listener is { AcceptQueueFull: true })
            {
                Counters.DropsBacklogFull++;
                return; // stay half-open; the peer's retransmission may find room
            }
            _rtxDeadline = long.MaxValue;
            SampleRtt(ref segment, now);
            _sndUna = ack;
            _sndBase = ack;
            EstablishLocked(ref segment);
        }
        if (TcpSeq.Gt(ack, _sndMax))
        {
            Counters.DropsBadAck++;
            SendAckLocked();
            return;
        }
        if (TcpSeq.Lt(ack, _sndUna - _maxSndWnd))
        {
            Counters.DropsBadAck++;
            SendChallengeAckLocked(); // RFC 5961 §5.2
            return;
        }
        ProcessAckLocked(ref segment, now);
        if (!IsAlive)
        {
            return;
        }
        if (FinAcked)
        {
            switch (State)
            {
                case TcpState.FinWait1:
                    State = TcpState.FinWait2;
                    if (_appClosed)
                    {
                        _lifeDeadline = now + _settings.FinWait2Timeout.Ticks * 100;
                        Schedule();
                    }
                    break;
                case TcpState.Closing:
                    EnterTimeWaitLocked();
                    break;
                case TcpState.LastAck:
                    FailLocked(SocketError.Success);
                    return;
            }
        }
        if (State == TcpState.TimeWait)
        {
            if (segment.Has(TcpFlags.Fin))
            {
                _ackNow = true; // the peer resent its FIN: ACK it and restart 2·MSL
                _lifeDeadline = now + 2 * _settings.Msl.Ticks * 100;
                Schedule();
            }
            return;
        }
        var payload = segment.Payload;
        if (payload.Length > 0 && dataAllowed)
        {
            if (State is TcpState.Established or TcpState.FinWait1 or TcpState.FinWait2)
            {
                if (_appClosed && TcpSeq.Gt(seq + (uint)payload.Length, _rcvNxt))
                {
                    // Nobody will read this: tell the peer (as Linux does for data after close).
                    AbortLocked(sendReset: true, SocketError.ConnectionAborted);
                    return;
                }
                ReceiveDataLocked(seq, payload, segment.Has(TcpFlags.Fin), now);
                return;
            }
        }
        if (segment.Has(TcpFlags.Fin) && dataAllowed)
        {
            if (_finReceived)
            {
                _ackNow = true;
            }
            else if (State is TcpState.Established or TcpState.FinWait1 or TcpState.FinWait2 or TcpState.SynReceived)
            {
                ReceiveDataLocked(seq, payload, fin: true, now);
            }
        }
    }

    private void ReceiveDataLocked(uint seq, ReadOnlySpan<byte> payload, bool fin, long now)
    {
        var finSeq = seq + (uint)payload.Length;
        var start = seq;
        var data = payload;
        if (TcpSeq.Lt(start, _rcvNxt))
        {
            var skip = (int)(_rcvNxt - start);
            data = skip >= data.Length ? default : data[skip..];
            start = _rcvNxt;
        }
        if (_finReceived)
        {
            _ackNow = true;
            return;
        }
        var offset = (int)(start - _rcvNxt);
        var room = _rcv.Free - offset;
        if (room <= 0)
        {
            data = default;
            fin = false;
            if (payload.Length > 0)
            {
                Counters.DropsOutOfWindow++;
            }
        }
        else if (data.Length > room)
        {
            data = data[..room];
            fin = false;
        }
        if (data.Length > 0)
        {
            _rcvMss = Math.Clamp(Math.Max(_rcvMss, data.Length), 1, Math.Max(1, _engine.Host.Mtu - 40));
            if (offset == 0)
            {
                var hadHoles = _oooCount > 0;
                _rcv.Append(data);
                _rcvNxt += (uint)data.Length;
                MergeOutOfOrder();
                if (hadHoles)
                {
                    _ackNow = true;
                }
                else
                {
                    _unackedBytes += data.Length;
                    if (_quickAcks > 0)
                    {
                        _quickAcks--;
                        _ackNow = true;
                    }
                    else if (_unackedBytes >= 2 * _rcvMss)
                    {
                        _ackNow = true;
                    }
                    else if (_ackDeadline == long.MaxValue)
                    {
                        _ackDeadline = now + _settings.DelayedAck.Ticks * 100;
                        Schedule();
                    }
                }
                Signal(ref _readSignal);
            }
            else
            {
                Counters.OutOfOrder++;
                _rcv.WriteAt(_rcv.Count + offset, data);
                if (!AddOutOfOrder(start, start + (uint)data.Length))
                {
                    Counters.DropsOutOfOrderQueueFull++;
                }
                _ackNow = true; // a duplicate ACK (with SACK blocks) tells the sender at once
            }
        }
        if (fin)
        {
            if (finSeq == _rcvNxt)
            {
                ApplyFinLocked(now);
            }
            else if (TcpSeq.Gt(finSeq, _rcvNxt))
            {
                _oooFin = true;
                _oooFinSeq = finSeq;
                _ackNow = true; // out of order: a duplicate ACK at once (RFC 5681 §4.2), as for out-of-order data
            }
        }
        if (_oooFin && _oooFinSeq == _rcvNxt && !_finReceived)
        {
            ApplyFinLocked(now);
        }
    }

    private void ApplyFinLocked(long now)
    {
        _rcvNxt++;
        _finReceived = true;
        _oooFin = false;
        _ackNow = true;
        Signal(ref _readSignal);
        switch (State)
        {
            case TcpState.SynReceived:
            case TcpState.Established:
                State = TcpState.CloseWait;
                break;
            case TcpState.FinWait1:
                if (FinAcked)
                {
                    EnterTimeWaitLocked();
                }
                else
                {
                    State = TcpState.Closing;
                }
                break;
            case TcpState.FinWait2:
                EnterTimeWaitLocked();
                break;
        }
        _ = now;
    }

    private void EnterTimeWaitLocked()
    {
        State = TcpState.TimeWait;
        _rtxDeadline = _keepDeadline = _ackDeadline = long.MaxValue;
        _lifeDeadline = Now + 2 * _settings.Msl.Ticks * 100;
        Schedule();
        _engine.EnterTimeWaitLocked(this);
        if (_appClosed)
        {
            _snd.Release();
            _rcv.Release();
        }
        Signal(ref _readSignal);
        Signal(ref _writeSignal);
    }

    private void MergeOutOfOrder()
    {
        while (_oooCount > 0 && TcpSeq.Le(_oooLeft[0], _rcvNxt))
        {
            if (TcpSeq.Gt(_oooRight[0], _rcvNxt))
            {
                _rcv.Commit((int)(_oooRight[0] - _rcvNxt));
                _rcvNxt = _oooRight[0];
            }
            RemoveAt(_oooLeft, _oooRight, ref _oooCount, 0);
        }
    }

    /// <summary>Adds [left, right) to the sorted out-of-order list, merging neighbours; false when the list is full.</summary>
    private bool AddOutOfOrder(uint left, uint right)
    {
        _oooLatest = left;
        return AddInterval(_oooLeft, _oooRight, ref _oooCount, left, right, dropHighest: false);
    }

    private static bool AddInterval(uint[] lefts, uint[] rights, ref int count, uint left, uint right, bool dropHighest)
    {
        var i = 0;
        while (i < count && TcpSeq.Lt(rights[i], left))
        {
            i++;
        }
        // Merge every interval that overlaps or touches [left, right).
        var j = i;
        while (j < count && TcpSeq.Le(lefts[j], right))
        {
            left = TcpSeq.Min(left, lefts[j]);
            right = TcpSeq.Max(right, rights[j]);
            j++;
        }
        var merged = j - i;
        if (merged == 0 && count == lefts.Length)
        {
            if (!dropHighest || i == count)
            {
                return false;
            }
            count--; // forget the highest interval to make room for a lower one
        }
        if (merged == 0)
        {
            Array.Copy(lefts, i, lefts, i + 1, count - i);
            Array.Copy(rights, i, rights, i + 1, count - i);
            count++;
        }
        else if (merged > 1)
        {
            Array.Copy(lefts, j, lefts, i + 1, count - j);
            Array.Copy(rights, j, rights, i + 1, count - j);
            count -= merged - 1;
        }
        lefts[i] = left;
        rights[i] = right;
        return true;
    }

    private static void RemoveAt(uint[] lefts, uint[] rights, ref int count, int index)
    {
        Array.Copy(lefts, index + 1, lefts, index, count - index - 1);
        Array.Copy(rights, index + 1, rights, index, count - index - 1);
        count--;
    }

    // ---- acknowledgments and congestion control ----

    private void ProcessAckLocked(ref TcpRepr segment, long now)
    {
        var ack = segment.AcknowledgmentNumber;
        var seq = segment.SequenceNumber;
        if (_sackOk)
        {
            for (var b = 0; b < segment.Sack.Count; b++)
            {
                var (left, right) = segment.Sack[b];
                if (TcpSeq.Lt(left, right) && TcpSeq.Gt(right, ack) && TcpSeq.Le(right, _sndMax))
                {
                    AddInterval(_sackLeft, _sackRight, ref _sackCount, TcpSeq.Max(left, ack), right, dropHighest: true);
                }
            }
        }
        var windowChanged = false;
        if (TcpSeq.Lt(_sndWl1, seq) || (_sndWl1 == seq && TcpSeq.Le(_sndWl2, ack)))
        {
            var window = (uint)segment.WindowSize << _sndShift;
            windowChanged = window != _sndWnd;
            _sndWnd = window;
            _sndWl1 = seq;
            _sndWl2 = ack;
            _maxSndWnd = Math.Max(_maxSndWnd, window);
        }
        if (TcpSeq.Gt(ack, _sndUna))
        {
            var acked = ack - _sndUna;
            SampleRtt(ref segment, now);
            var dataAcked = (int)Math.Min(Math.Max(0, (int)(ack - _sndBase)), _snd.Count);
            _snd.Discard(dataAcked);
            _sndBase += (uint)dataAcked;
            _sndUna = ack;
            if (TcpSeq.Lt(_sndNxt, ack))
            {
                _sndNxt = ack;
            }
            while (_sackCount > 0 && TcpSeq.Le(_sackRight[0], ack))
            {
                RemoveAt(_sackLeft, _sackRight, ref _sackCount, 0);
            }
            if (_sackCount > 0 && TcpSeq.Lt(_sackLeft[0], ack))
            {
                _sackLeft[0] = ack;
            }
            _retries = 0;
            _dupAcks = 0;
            if (_inRecovery)
            {
                if (TcpSeq.Ge(ack, _recover))
                {
                    _inRecovery = false;
                    _cwnd = Math.Max(_mss, Math.Min(_ssthresh, (long)(uint)(_sndMax - _sndUna) + _mss));
                }
                else if (UsePipe)
                {
                    // RFC 6675 §5 (C): a partial ACK updates the scoreboard; the pipe says what may be sent.
                    _rtxNext = TcpSeq.Max(_rtxNext, _sndUna);
                    SendRecoveryLocked();
                }
                else
                {
                    // RFC 6582 partial ACK: resend the next hole, deflate by what was acknowledged.
                    RetransmitNextLocked();
                    _cwnd = Math.Max(_mss, _cwnd - acked + _mss);
                }
            }
            else
            {
                GrowWindow(acked, now);
            }
            _persist = false;
            if (_sndUna == _sndMax)
            {
                _rtxDeadline = long.MaxValue;
            }
            else
            {
                ArmRetransmit(now + _rto);
            }
            if (_snd.Free > 0)
            {
                Signal(ref _writeSignal);
            }
            return;
        }
        if (ack == _sndUna && !windowChanged && segment.Payload.Length == 0 && !segment.Has(TcpFlags.Fin) && _sndMax != _sndUna)
        {
            _dupAcks++;
            if (_inRecovery && UsePipe)
            {
                SendRecoveryLocked(); // RFC 6675 §5 (C): no window inflation, the pipe counts what the SACKs took out
                return;
            }
            if (_inRecovery)
            {
                _cwnd += _mss;
                if (_sackCount > 0)
                {
                    RetransmitNextLocked();
                }
                return;
            }
            var sackedBeyond = _sackCount > 0 && SackedBytes() >= 3L * _mss;
            if ((_dupAcks >= 3 || sackedBeyond) && TcpSeq.Ge(_sndUna, _recover))
            {
                OnCongestionEvent(now, timeout: false);
                _inRecovery = true;
                _recover = _sndMax;
                _rtxNext = _sndUna;
                Counters.FastRetransmits++;
                if (UsePipe)
                {
                    // RFC 6675 §5 steps 4.1–4.3: cwnd = ssthresh, resend the first segment presumed lost, then
                    // send while cwnd − pipe allows.
                    _cwnd = _ssthresh;
                    if (FindHole(_sndUna, _sndMax, out var start, out var limit))
                    {
                        RetransmitHoleLocked(start, limit);
                    }
                    SendRecoveryLocked();
                    return;
                }
                RetransmitNextLocked();
                _cwnd = _ssthresh + 3L * _mss;
            }
        }
    }

    // ---- RFC 6675: SACK-based loss recovery ----

    /// <summary>SACK is in use (and the RFC 6675 pipe is not turned off for a comparison): recovery follows the pipe estimate.</summary>
    private bool UsePipe => _sackOk && _settings.SackPipe;

    /// <summary>
    /// RFC 6675 §4 IsLost as an edge: every unSACKed byte below it has more than (DupThresh − 1)·SMSS bytes SACKed
    /// above it (DupThresh = 3); SND.UNA when no byte has. The SACK blocks are sorted and merged, so this is the left
    /// edge of the highest block at which the SACKed bytes counted from the top first exceed 2·SMSS.
    /// </summary>
    internal uint LostEdge()
    {
        long above = 0;
        for (var i = _sackCount - 1; i >= 0; i--)
        {
            above += _sackRight[i] - _sackLeft[i];
            if (above > 2L * _mss)
            {
                return _sackLeft[i];
            }
        }
        return _sndUna;
    }

    /// <summary>The bytes in [SND.UNA, <paramref name="end"/>) that no SACK block covers.</summary>
    private long UnsackedBelow(uint end)
    {
        if (TcpSeq.Le(end, _sndUna))
        {
            return 0;
        }
        long total = end - _sndUna;
        for (var i = 0; i < _sackCount && TcpSeq.Lt(_sackLeft[i], end); i++)
        {
            total -= TcpSeq.Min(_sackRight[i], end) - _sackLeft[i];
        }
        return total;
    }

    /// <summary>
    /// RFC 6675 §4 SetPipe, in bytes: every unSACKed byte of [SND.UNA, SND.MAX) counts once if it is not deemed lost
    /// (its original may still be in flight) and once more if it was retransmitted in this recovery (below HighRxt,
    /// <see cref="_rtxNext"/>).
    /// </summary>
    internal long Pipe()
    {
        var highRxt = TcpSeq.Min(TcpSeq.Max(_rtxNext, _sndUna), _sndMax);
        return UnsackedBelow(_sndMax) - UnsackedBelow(TcpSeq.Max(LostEdge(), _sndUna)) + UnsackedBelow(highRxt);
    }

    /// <summary>RFC 6675 §5 (C): while cwnd − pipe ≥ 1 SMSS, send the segment NextSeg() chooses (bounded per ACK).</summary>
    private void SendRecoveryLocked()
    {
        for (var sent = 0; sent < 64 && _cwnd - Pipe() >= _mss; sent++)
        {
            if (!NextSegLocked())
            {
                return;
            }
        }
    }

    /// <summary>RFC 6675 §4 NextSeg(): (1) a lost hole above HighRxt, (2) new data, (3) a hole below the highest SACKed byte.</summary>
    private bool NextSegLocked()
    {
        var from = TcpSeq.Max(_rtxNext, _sndUna);
        if (FindHole(from, LostEdge(), out var start, out var limit))
        {
            RetransmitHoleLocked(start, limit);
            return true;
        }
        if (SendNewSegmentLocked())
        {
            return true;
        }
        if (_sackCount > 0 && FindHole(from, _sackRight[_sackCount - 1], out start, out limit))
        {
            RetransmitHoleLocked(start, limit);
            return true;
        }
        return _settings.RescueRetransmission && RescueLocked();
    }

    /// <summary>
    /// RFC 6675 §4 NextSeg rule (4), the rescue retransmission: once per recovery (HighACK &gt; RescueRxt), resend the
    /// highest outstanding unSACKed segment, so that a lost tail with nothing SACKed above it is repaired without
    /// waiting for the timeout. HighRxt is not moved.
    /// </summary>
    private bool RescueLocked()
    {
        if (_rescued && TcpSeq.Le(_sndUna, _rescueRxt))
        {
            return false;
        }
        var end = _sndMax;
        if (_sackCount > 0 && _sackRight[_sackCount - 1] == end)
        {
            end = _sackLeft[_sackCount - 1];
        }
        if (TcpSeq.Le(end, _sndUna))
        {
            return false;
        }
        var finOutstanding = _finQueued && !FinAcked && TcpSeq.Gt(end, DataEnd);
        var dataEnd = TcpSeq.Min(end, DataEnd);
        var start = TcpSeq.Max(_sndUna, dataEnd - (uint)SendMss);
        for (var i = 0; i < _sackCount; i++)
        {
            if (TcpSeq.Gt(_sackRight[i], start) && TcpSeq.Le(_sackRight[i], dataEnd))
            {
                start = _sackRight[i]; // the segment must not reach down into SACKed bytes
            }
        }
        if (TcpSeq.Ge(start, dataEnd) && !finOutstanding)
        {
            return false;
        }
        _rescued = true;
        _rescueRxt = _recover;
        Counters.RescueRetransmits++;
        TransmitLocked(start, TcpSeq.Lt(start, dataEnd) ? (int)(dataEnd - start) : 0);
        return true;
    }

    /// <summary>The first byte at or above <paramref name="from"/> and below <paramref name="bound"/> that no SACK block covers, and where its hole ends.</summary>
    private bool FindHole(uint from, uint bound, out uint start, out uint limit)
    {
        start = from;
        limit = _sndMax;
        for (var i = 0; i < _sackCount; i++)
        {
            if (TcpSeq.Le(_sackRight[i], start))
            {
                continue;
            }
            if (TcpSeq.Le(_sackLeft[i], start))
            {
                start = _sackRight[i];
                continue;
            }
            limit = _sackLeft[i];
            break;
        }
        return TcpSeq.Lt(start, bound) && TcpSeq.Lt(start, limit);
    }

    /// <summary>Resends one segment of the hole [start, limit) (or the FIN alone) and moves HighRxt past it.</summary>
    private void RetransmitHoleLocked(uint start, uint limit)
    {
        var dataLimit = TcpSeq.Min(limit, DataEnd);
        var finOnly = _finQueued && start == DataEnd && !FinAcked;
        if (TcpSeq.Ge(start, dataLimit) && !finOnly)
        {
            _rtxNext = limit;
            return;
        }
        var length = finOnly ? 0 : (int)Math.Min((uint)(dataLimit - start), (uint)SendMss);
        TransmitLocked(start, length);
        var end = start + (uint)length;
        _rtxNext = finOnly || (_finQueued && end == DataEnd) ? end + 1 : end;
    }

    /// <summary>One segment of new data within the peer's window (NextSeg rule 2); false when there is none to send.</summary>
    private bool SendNewSegmentLocked()
    {
        var unsent = (int)(DataEnd - _sndNxt);
        if (_sndNxt != _sndMax || unsent <= 0)
        {
            return false;
        }
        var room = (long)_sndWnd - (uint)(_sndNxt - _sndUna);
        var mss = SendMss;
        var length = (int)Math.Min(Math.Min(unsent, room), mss);
        if (length <= 0 || (length < mss && length < unsent))
        {
            return false;
        }
        var fin = _finQueued && length == unsent;
        TransmitLocked(_sndNxt, length);
        _sndNxt += (uint)length + (fin ? 1u : 0u);
        _sndMax = TcpSeq.Max(_sndMax, _sndNxt);
        return true;
    }

    /// <summary>
    /// Going back after a timeout with the scoreboard kept: moves SND.NXT past the SACK block it is in (to SND.MAX at
    /// most) and gives how many bytes may follow before the next block.
    /// </summary>
    private uint SkipSackedLocked()
    {
        var limit = uint.MaxValue;
        for (var i = 0; i < _sackCount; i++)
        {
            if (TcpSeq.Le(_sackRight[i], _sndNxt))
            {
                continue;
            }
            if (TcpSeq.Le(_sackLeft[i], _sndNxt))
            {
                _sndNxt = _sackRight[i];
                continue;
            }
            limit = _sackLeft[i] - _sndNxt;
            break;
        }
        if (TcpSeq.Ge(_sndNxt, _sndMax))
        {
            _sndNxt = _sndMax; // the rest is new data (or the FIN), sent as usual
        }
        return limit;
    }

    /// <summary>
    /// The payload that fits one segment now: the MSS less the SACK option that every segment carries while we hold
    /// out-of-order data (RFC 9293 §3.7.1: options come out of the MSS). Sized by the plain MSS, a full data segment
    /// with SACK blocks would exceed the MTU.
    /// </summary>
    private int SendMss => _sackOk && _oooCount > 0 ? Math.Max(1, _mss - (4 + 8 * Math.Min(_oooCount, _ts ? 3 : 4))) : _mss;

    private long SackedBytes()
    {
        long total = 0;
        for (var i = 0; i < _sackCount; i++)
        {
            total += _sackRight[i] - _sackLeft[i];
        }
        return total;
    }

    /// <summary>Resends the lowest hole not covered by SACK (or the first unacknowledged segment without SACK).</summary>
    private void RetransmitNextLocked()
    {
        var start = _sackCount > 0 ? TcpSeq.Max(_rtxNext, _sndUna) : _sndUna;
        var limit = _sndMax;
        for (var i = 0; i < _sackCount; i++)
        {
            if (TcpSeq.Le(_sackLeft[i], start) && TcpSeq.Lt(start, _sackRight[i]))
            {
                start = _sackRight[i];
            }
            else if (TcpSeq.Gt(_sackLeft[i], start))
            {
                limit = _sackLeft[i];
                break;
            }
        }
        if (_sackCount > 0 && TcpSeq.Ge(start, _sackRight[_sackCount - 1]))
        {
            return; // no hole below the highest SACKed byte
        }
        limit = TcpSeq.Min(limit, DataEnd);
        var finOnly = _finQueued && start == DataEnd && !FinAcked;
        if (TcpSeq.Ge(start, limit) && !finOnly)
        {
            return;
        }
        var length = finOnly ? 0 : (int)Math.Min((uint)(limit - start), (uint)SendMss);
        TransmitLocked(start, length);
        _rtxNext = start + (uint)length;
    }

    private void GrowWindow(uint acked, long now)
    {
        if (_cwnd < _ssthresh)
        {
            _cwnd += Math.Min(acked, 2u * (uint)_mss); // RFC 3465 with L = 2·SMSS
            return;
        }
        if (_settings.CongestionControl == TcpCongestionControl.NewReno)
        {
            _caBytes += acked;
            if (_caBytes >= _cwnd)
            {
                _caBytes -= _cwnd;
                _cwnd += _mss;
            }
            return;
        }
        // RFC 9438 §4.2–4.3, in segments; time since the start of this congestion-avoidance epoch.
        var segments = (double)_cwnd / _mss;
        if (_epochStart < 0)
        {
            _epochStart = now;
            if (_wMax <= segments)
            {
                _k = 0;
                _wOrigin = segments;
            }
            else
            {
                _k = Math.Cbrt((_wMax - segments) / CubicC);
                _wOrigin = _wMax;
            }
            _wEst = segments;
        }
        var t = (now - _epochStart + _srtt) / 1e9;
        var target = CubicC * Math.Pow(t - _k, 3) + _wOrigin;
        target = Math.Min(target, 1.5 * segments);
        _wEst += 3 * (1 - CubicBeta) / (1 + CubicBeta) * (acked / (double)_mss) / segments;
        if (_wEst > target)
        {
            target = _wEst;
        }
        if (target > segments)
        {
            _caBytes += (long)(acked * (target - segments) / segments);
            if (_caBytes >= 1)
            {
                _cwnd += _caBytes;
                _caBytes = 0;
            }
        }
    }

    private void OnCongestionEvent(long now, bool timeout)
    {
        var flight = (long)(uint)(_sndMax - _sndUna);
        if (_settings.CongestionControl == TcpCongestionControl.Cubic)
        {
            var segments = (double)_cwnd / _mss;
            _wMax = segments < _wMax ? segments * (1 + CubicBeta) / 2 : segments; // fast convergence
            _ssthresh = Math.Max((long)(_cwnd * CubicBeta), 2L * _mss);
            _epochStart = -1;
        }
        else
        {
            _ssthresh = Math.Max(flight / 2, 2L * _mss);
        }
        _caBytes = 0;
        if (timeout)
        {
            _cwnd = _mss;
        }
        _ = now;
    }

    private void SampleRtt(ref TcpRepr segment, long now)
    {
        long sample;
        if (_ts && segment.HasTimestamps && segment.TimestampEcho != 0)
        {
            var ms = TsNow() - segment.TimestampEcho;
            if (ms > 60_000)
            {
                return;
            }
            sample = Math.Max(ms, 1) * Ms;
        }
        else if (_rttTiming && TcpSeq.Ge(segment.AcknowledgmentNumber, _rttSeq))
        {
            _rttTiming = false;
            sample = Math.Max(now - _rttStart, Ms);
        }
        else
        {
            return;
        }
        if (_srtt == 0)
        {
            _srtt = sample;
            _rttvar = sample / 2;
        }
        else
        {
            _rttvar = (3 * _rttvar + Math.Abs(_srtt - sample)) / 4;
            _srtt = (7 * _srtt + sample) / 8;
        }
        _rto = Math.Clamp(_srtt + Math.Max(Ms, 4 * _rttvar), _settings.MinRto.Ticks * 100, _settings.MaxRto.Ticks * 100);
    }

    // ---- sending ----

    /// <summary>Sends what the windows, Nagle and silly-window avoidance allow, then any pending ACK.</summary>
    internal void OutputLocked()
    {
        if (State is TcpState.Established or TcpState.CloseWait or TcpState.FinWait1 or TcpState.Closing or TcpState.LastAck)
        {
            var now = Now;
            while (true)
            {
                var dataEnd = DataEnd;
                var unsent = (int)(dataEnd - _sndNxt);
                if (unsent < 0)
                {
                    break; // the FIN is out
                }
                // Going back after a timeout with the scoreboard kept (RFC 6675 §5.1): resend only the holes, and
                // count only unSACKed bytes as in flight.
                var goingBack = _settings.SackAfterTimeout && _sackCount > 0 && TcpSeq.Lt(_sndNxt, _sndMax);
                var sackLimit = uint.MaxValue;
                if (goingBack)
                {
                    sackLimit = SkipSackedLocked();
                    unsent = (int)(dataEnd - _sndNxt);
                    if (unsent < 0)
                    {
                        break;
                    }
                }
                var inFlight = goingBack ? UnsackedBelow(_sndNxt) : (long)(uint)(_sndNxt - _sndUna);
                var usable = Math.Min((long)_sndWnd - (uint)(_sndNxt - _sndUna), _cwnd - inFlight);
                var mss = SendMss;
                var length = (int)Math.Clamp(Math.Min(Math.Min(unsent, usable), sackLimit), 0, mss);
                var segmentSize = 0;
                if (length == mss && !goingBack && !_inRecovery && TcpSeq.Ge(_sndNxt, _sndMax))
                {
                    // New data beyond one segment goes to a link that segments it in one packet (TCP segmentation
                    // offload): whole segments, or all that is left when it would be sent at once anyway.
                    var offloadable = OffloadLength(unsent, usable, mss);
                    if (offloadable > mss)
                    {
                        length = offloadable;
                        segmentSize = mss;
                    }
                }
                var fin = _finQueued && length == unsent;
                if (length == 0 && !(fin && _cwnd > inFlight))
                {
                    break;
                }
                if (length < mss && length > 0 && !fin && !goingBack)
                {
                    var all = length == unsent;
                    // Nagle (RFC 9293 §3.7.4) and sender-side SWS avoidance (§3.8.6.2.1).
                    var send = all ? NoDelay || inFlight == 0 : inFlight == 0 || length >= _maxSndWnd / 2;
                    if (!send)
                    {
                        break;
                    }
                }
                TransmitLocked(_sndNxt, length, segmentSize);
                if (!_rttTiming && !_ts && TcpSeq.Ge(_sndNxt, _sndMax))
                {
                    _rttTiming = true;
                    _rttSeq = _sndNxt + (uint)length;
                    _rttStart = now;
                }
                _sndNxt += (uint)length + (fin ? 1u : 0u);
                _sndMax = TcpSeq.Max(_sndMax, _sndNxt);
                if (_rtxDeadline == long.MaxValue || _persist)
                {
                    _persist = false;
                    _persistBackoff = 0;
                    ArmRetransmit(now + _rto);
                }
                if (fin)
                {
                    break;
                }
            }
            var pending = (int)(DataEnd - _sndNxt);
            if (pending > 0 && _sndWnd == 0 && _sndNxt == _sndUna && _rtxDeadline == long.MaxValue)
            {
                _persist = true;
                ArmRetransmit(now + Math.Min(_rto << Math.Min(_persistBackoff, 10), _settings.MaxRto.Ticks * 100));
            }
        }
        if (_ackNow)
        {
            SendAckLocked();
        }
    }

    /// <summary>
    /// How much new data one offloaded segment carries (more than <paramref name="mss"/> only when the link segments):
    /// up to the host's limit, the peer's window and the congestion window, in whole segments unless it is all that is
    /// left and Nagle would not hold back the short tail (no delay, or the FIN follows it).
    /// </summary>
    private int OffloadLength(int unsent, long usable, int mss)
    {
        var offload = _engine.Host.SegmentOffload;
        if (offload <= mss)
        {
            return 0;
        }
        var most = (int)Math.Min(Math.Min(unsent, usable), offload);
        if (most == unsent && (NoDelay || _finQueued))
        {
            return most;
        }
        return most / mss * mss;
    }

    /// <summary>Sends data [seq, seq+length) from the send buffer (FIN when it ends the stream), as new data or a retransmission.</summary>
    private void TransmitLocked(uint seq, int length, int segmentSize = 0)
    {
        var end = seq + (uint)length;
        var flags = (byte)(TcpFlags.Ack | (end == DataEnd && length > 0 ? TcpFlags.Psh : 0));
        if (_finQueued && end == DataEnd)
        {
            flags |= TcpFlags.Fin;
        }
        if (TcpSeq.Lt(seq, _sndMax))
        {
            Counters.Retransmits++;
            _rttTiming = false; // Karn
        }
        SendSegmentLocked(seq, length, flags, segmentSize);
    }

    /// <summary>
    /// Builds and sends one segment; with <paramref name="segmentSize"/> (offload) the link cuts its payload into
    /// pieces of that size, each carrying the same options.
    /// </summary>
    private void SendSegmentLocked(uint seq, int length, byte flags, int segmentSize = 0)
    {
        var segment = new TcpRepr(LocalPort, RemotePort, seq, _rcvNxt, flags, AdvertiseWindow());
        if (_ts)
        {
            segment.HasTimestamps = true;
            segment.TimestampValue = TsNow();
            segment.TimestampEcho = _tsRecent;
        }
        if (_sackOk && _oooCount > 0)
        {
            var limit = _ts ? 3 : 4;
            if (length > 0)
            {
                // The SACK option must not push the segment past the MTU (the IP layer would refuse it): SendMss
                // leaves room for it; this bounds what a caller that sized by the plain MSS would send.
                var room = _engine.Host.Mtu - IPv4Repr.HeaderLength - segment.HeaderLength - (segmentSize != 0 ? segmentSize : length);
                limit = Math.Min(limit, room >= 12 ? (room - 4) / 8 : 0);
            }
            for (var i = 0; i < _oooCount && limit > 0; i++)
            {
                if (TcpSeq.Le(_oooLeft[i], _oooLatest) && TcpSeq.Lt(_oooLatest, _oooRight[i]))
                {
                    segment.Sack.TryAdd(_oooLeft[i], _oooRight[i]); // the block with the latest segment first (RFC 2018 §4)
                    break;
                }
            }
            for (var i = 0; i < _oooCount && segment.Sack.Count < limit; i++)
            {
                if (!(TcpSeq.Le(_oooLeft[i], _oooLatest) && TcpSeq.Lt(_oooLatest, _oooRight[i])))
                {
                    segment.Sack.TryAdd(_oooLeft[i], _oooRight[i]);
                }
            }
        }
        if (length > 0)
        {
            var scratch = _engine.Scratch;
            var payload = scratch.Slice(segment.HeaderLength, length);
            _snd.ReadAt((int)(seq - _sndBase), payload);
            segment.Payload = payload;
        }
        _engine.SendLocked(RemoteAddress, ref segment, segmentSize);
        _lastAckSent = _rcvNxt;
        _ackNow = false;
        _unackedBytes = 0;
        _ackDeadline = long.MaxValue;
    }

    private ushort AdvertiseWindow()
    {
        var free = (uint)_rcv.Free;
        var edge = _rcvNxt + free;
        // Receiver-side SWS avoidance (RFC 9293 §3.8.6.2.2): move the right edge only by a useful amount.
        var threshold = (uint)Math.Min(_rcv.Maximum / 2, _rcvMss);
        if (TcpSeq.Gt(edge, _rcvAdvEdge) && edge - _rcvAdvEdge < threshold && TcpSeq.Ge(_rcvAdvEdge, _rcvNxt))
        {
            edge = _rcvAdvEdge;
        }
        if (TcpSeq.Lt(edge, _rcvNxt))
        {
            edge = _rcvNxt;
        }
        var window = Math.Min((edge - _rcvNxt) >> _rcvShift, 65535u);
        _rcvAdvEdge = _rcvNxt + (window << _rcvShift);
        return (ushort)window;
    }

    private void SendAckLocked()
    {
        if (State is TcpState.Closed or TcpState.SynSent)
        {
            return;
        }
        SendSegmentLocked(_sndNxt, 0, TcpFlags.Ack);
    }

    private void SendChallengeAckLocked()
    {
        if (_engine.TakeChallengeToken())
        {
            SendAckLocked();
        }
    }

    /// <summary>A segment below the window (SEG.SEQ = SND.UNA − 1, no data) that makes the peer answer with its current ACK and window.</summary>
    private void SendProbeLocked()
    {
        SendSegmentLocked(_sndUna - 1, 0, TcpFlags.Ack);
    }

    // ---- timers ----

    private void ArmRetransmit(long deadline)
    {
        _rtxDeadline = deadline;
        Schedule();
    }

    private void ArmKeepAlive()
    {
        if (_settings.KeepAliveIdle > TimeSpan.Zero && State is not (TcpState.TimeWait or TcpState.Closed))
        {
            _keepDeadline = Now + _settings.KeepAliveIdle.Ticks * 100;
            Schedule();
        }
    }

    private void Schedule() => _engine.ScheduleLocked(this, NextDeadline);

    /// <summary>The deadline of this connection's entry in the engine's timer queue; MaxValue: none (TcpEngine.ScheduleLocked).</summary>
    internal long QueuedDeadline { get; set; } = long.MaxValue;

    internal void OnTimerLocked(long now)
    {
        if (_lifeDeadline <= now)
        {
            _lifeDeadline = long.MaxValue;
            FailLocked(State == TcpState.TimeWait ? SocketError.Success : SocketError.TimedOut);
            return;
        }
        if (_rtxDeadline <= now)
        {
            _rtxDeadline = long.MaxValue;
            if (_persist)
            {
                OnPersistLocked(now);
            }
            else
            {
                OnRetransmitTimeoutLocked(now);
            }
            if (!IsAlive)
            {
                return;
            }
        }
        if (_ackDeadline <= now)
        {
            _ackDeadline = long.MaxValue;
            SendAckLocked();
        }
        if (_keepDeadline <= now)
        {
            _keepDeadline = long.MaxValue;
            if (State is TcpState.Established or TcpState.CloseWait or TcpState.FinWait2)
            {
                if (_probes >= _settings.KeepAliveProbes)
                {
                    AbortLocked(sendReset: true, SocketError.TimedOut);
                    return;
                }
                _probes++;
                Counters.KeepAlivesSent++;
                SendProbeLocked();
                _keepDeadline = now + _settings.KeepAliveInterval.Ticks * 100;
            }
        }
        Schedule();
    }

    private void OnRetransmitTimeoutLocked(long now)
    {
        Counters.Timeouts++;
        _rto = Math.Min(_rto * 2, _settings.MaxRto.Ticks * 100); // RFC 6298 §5.5
        if (State is TcpState.SynSent or TcpState.SynReceived)
        {
            if (++_retries > _settings.SynRetries)
            {
                AbortLocked(sendReset: false, SocketError.TimedOut);
                return;
            }
            _synRetransmitted = true;
            Counters.Retransmits++;
            SendSynLocked();
            ArmRetransmit(now + _rto);
            return;
        }
        if (_sndUna == _sndMax)
        {
            return;
        }
        if (++_retries > _settings.MaxRetransmissions)
        {
            AbortLocked(sendReset: true, SocketError.TimedOut);
            return;
        }
        OnCongestionEvent(now, timeout: true);
        _inRecovery = false;
        _recover = _sndMax;
        _dupAcks = 0;
        if (_retries > 1 || !_settings.SackAfterTimeout)
        {
            // RFC 2018 §8: a second timeout without progress may mean the receiver dropped what it SACKed.
            _sackCount = 0;
        }
        _rttTiming = false;
        _sndNxt = _sndUna; // go back: resend from the first unacknowledged byte (one segment: cwnd is one MSS now)
        OutputLocked();
        if (_rtxDeadline == long.MaxValue)
        {
            ArmRetransmit(now + _rto);
        }
    }

    private void OnPersistLocked(long now)
    {
        _persist = false;
        Counters.WindowProbesSent++;
        _persistBackoff++; // RFC 9293 §3.8.6.1: back off, but never give up while the peer answers
        SendProbeLocked();
        if (_sndWnd == 0 && _sndNxt == _sndUna && (int)(DataEnd - _sndNxt) > 0)
        {
            _persist = true;
            ArmRetransmit(now + Math.Min(_rto << Math.Min(_persistBackoff, 10), _settings.MaxRto.Ticks * 100));
        }
    }

    private uint TsNow() => (uint)(Now / Ms) + _tsOffset;

    // ---- closing ----

    /// <summary>Ends the connection at once: an optional RST, then the TCB goes away and waiters wake with <paramref name="error"/>.</summary>
    internal void AbortLocked(bool sendReset, SocketError error)
    {
        if (State == TcpState.Closed)
        {
            return;
        }
        if (sendReset && State is not (TcpState.SynSent or TcpState.TimeWait))
        {
            var reset = new TcpRepr(LocalPort, RemotePort, _sndNxt, _rcvNxt, TcpFlags.Rst | TcpFlags.Ack, 0);
            _engine.SendLocked(RemoteAddress, ref reset);
            Counters.RstsSent++;
        }
        if (error != SocketError.Success)
        {
            Counters.ConnectionsAborted++;
        }
        FailLocked(error);
    }

    private void FailLocked(SocketError error)
    {
        if (State == TcpState.Closed)
        {
            return;
        }
        if (State == TcpState.SynReceived && Listener is { } listener && !_halfOpenReleased)
        {
            listener.HalfOpen = Math.Max(0, listener.HalfOpen - 1);
            _halfOpenReleased = true;
        }
        State = TcpState.Closed;
        if (_error == SocketError.Success)
        {
            _error = error;
        }
        _rtxDeadline = _ackDeadline = _keepDeadline = _lifeDeadline = long.MaxValue;
        _engine.RemoveLocked(this);
        if (_appClosed || !Accepted && Listener is not null)
        {
            _snd.Release();
            _rcv.Release();
        }
        Signal(ref _readSignal);
        Signal(ref _writeSignal);
        Signal(ref _stateSignal);
    }

    private void QueueFinLocked()
    {
        if (_finQueued)
        {
            return;
        }
        switch (State)
        {
            case TcpState.Established:
            case TcpState.SynReceived:
                State = TcpState.FinWait1;
                break;
            case TcpState.CloseWait:
                State = TcpState.LastAck;
                break;
            default:
                return;
        }
        _finQueued = true;
        OutputLocked();
    }

    // ---- the application's side ----

    internal async Task WaitEstablishedAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            Task wait;
            lock (_engine.Host.Gate)
            {
                if (State is not (TcpState.SynSent or TcpState.SynReceived or TcpState.Closed))
                {
                    return;
                }
                if (State == TcpState.Closed)
                {
                    throw new SocketException((int)(_error == SocketError.Success ? SocketError.ConnectionRefused : _error));
                }
                wait = WaitFor(ref _stateSignal);
            }
            await wait.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Copies readable bytes; 0 with <paramref name="ended"/> at the end of the stream (FIN or reset).</summary>
    internal int TryReadLocked(Span<byte> buffer, out bool ended)
    {
        ended = false;
        var n = Math.Min(buffer.Length, _rcv.Count);
        if (n > 0)
        {
            _rcv.ReadAt(0, buffer[..n]);
            _rcv.Discard(n);
            if (State is TcpState.Established or TcpState.FinWait1 or TcpState.FinWait2)
            {
                // A window update only when the advertised window had closed below half the buffer and can now open by
                // a useful amount (RFC 9293 §3.8.6.2.2); a reader that keeps up rides on the ordinary ACKs instead.
                var possible = _rcvNxt + (uint)_rcv.Free;
                var advertised = (int)(_rcvAdvEdge - _rcvNxt);
                if (advertised < _rcv.Maximum / 2 && TcpSeq.Gt(possible, _rcvAdvEdge)
                    && possible - _rcvAdvEdge >= (uint)Math.Min(_rcv.Maximum / 2, 2 * _rcvMss))
                {
                    SendAckLocked();
                }
            }
            return n;
        }
        ended = _finReceived || State == TcpState.Closed || buffer.Length == 0;
        return 0;
    }

    /// <summary>Copies as much as fits into the send buffer and sends what the windows allow; returns the count taken.</summary>
    internal int TryWriteLocked(ReadOnlySpan<byte> data)
    {
        if (State == TcpState.Closed)
        {
            throw new SocketException((int)(_error is SocketError.Success or SocketError.ConnectionReset ? SocketError.ConnectionReset : _error));
        }
        if (_finQueued || _appClosed)
        {
            throw new SocketException((int)SocketError.Shutdown);
        }
        var n = _snd.Append(data);
        if (n > 0)
        {
            OutputLocked();
        }
        return n;
    }

    public async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken)
    {
        while (true)
        {
            Task wait;
            lock (_engine.Host.Gate)
            {
                cancellationToken.ThrowIfCancellationRequested();
                ObjectDisposedException.ThrowIf(_appClosed, this);
                var n = TryReadLocked(buffer.Span, out var ended);
                if (n > 0 || ended)
                {
                    _engine.Host.Flush();
                    if (n == 0 && _error is not (SocketError.Success or SocketError.ConnectionReset or SocketError.ConnectionAborted))
                    {
                        throw new SocketException((int)_error);
                    }
                    return n;
                }
                wait = WaitFor(ref _readSignal);
            }
            await wait.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    public async ValueTask WriteAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        while (!data.IsEmpty)
        {
            Task wait;
            lock (_engine.Host.Gate)
            {
                cancellationToken.ThrowIfCancellationRequested();
                ObjectDisposedException.ThrowIf(_appClosed, this);
                var n = TryWriteLocked(data.Span);
                _engine.Host.Flush();
                data = data[n..];
                if (data.IsEmpty)
                {
                    return;
                }
                wait = WaitFor(ref _writeSignal);
            }
            await wait.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    public void ShutdownSend()
    {
        lock (_engine.Host.Gate)
        {
            QueueFinLocked();
            _engine.Host.Flush();
        }
    }

    internal void ShutdownSendLocked() => QueueFinLocked();

    /// <summary>Closes the application's handle: unread data → RST (RFC 2525 §2.17); otherwise FIN after the buffered data, finished in the background.</summary>
    internal void CloseLocked()
    {
        if (_appClosed)
        {
            return;
        }
        _appClosed = true;
        if (State == TcpState.Closed)
        {
            _snd.Release();
            _rcv.Release();
            return;
        }
        if (_rcv.Count > 0 || State == TcpState.SynSent)
        {
            AbortLocked(sendReset: true, SocketError.Success);
            return;
        }
        if (State == TcpState.FinWait2)
        {
            _lifeDeadline = Now + _settings.FinWait2Timeout.Ticks * 100;
            Schedule();
        }
        else if (State == TcpState.TimeWait)
        {
            _snd.Release();
            _rcv.Release();
        }
        QueueFinLocked();
        Signal(ref _readSignal);
        Signal(ref _writeSignal);
    }

    public ValueTask DisposeAsync()
    {
        lock (_engine.Host.Gate)
        {
            CloseLocked();
            _engine.Host.Flush();
        }
        return ValueTask.CompletedTask;
    }

    // Not RunContinuationsAsynchronously: TcpCompletions decides where the waiter's continuation runs.
    private static Task WaitFor(ref TaskCompletionSource? signal) => (signal ??= new TaskCompletionSource()).Task;

    private static void Signal(ref TaskCompletionSource? signal)
    {
        var waiting = signal;
        signal = null;
        if (waiting is not null)
        {
            TcpCompletions.Complete(waiting);
        }
    }

    public override string ToString() => $"tcp {LocalPort} -> {RemoteEndPoint} {State}";
}

/// <summary>
/// Where an application's read, write or state wait resumes. Signals are raised under the stack's lock, so the waiter
/// never runs there. On the direct stack's receive thread, while it handles a batch of frames
/// (<see cref="BeginBatch"/> .. <see cref="EndBatch"/>), they are collected and completed after the lock is released,
/// on that thread: the application's continuation (an HTTP connection reading its next request, answering it) runs
/// to completion there, and its reply leaves on the same thread, with no thread hand-off or context switch per
/// segment. Anywhere else (timers, a UDP socket thread driving the interface, the application's own calls) a
/// completion goes to the thread pool, as it always did.
/// </summary>
internal static class TcpCompletions
{
    [ThreadStatic]
    private static List<TaskCompletionSource>? t_batch;

    [ThreadStatic]
    private static List<TaskCompletionSource>? t_spare;

    public static void Complete(TaskCompletionSource waiting)
    {
        if (t_batch is { } batch)
        {
            batch.Add(waiting);
            return;
        }
        ThreadPool.UnsafeQueueUserWorkItem(static state => ((TaskCompletionSource)state!).TrySetResult(), waiting, preferLocal: false);
    }

    /// <summary>From here on this thread's signals are collected (call with no lock held).</summary>
    public static void BeginBatch() => t_batch ??= t_spare ?? new List<TaskCompletionSource>();

    /// <summary>Completes what was collected, here and now (with no lock held), and what those continuations signal in turn.</summary>
    public static void EndBatch()
    {
        var batch = t_batch;
        if (batch is null)
        {
            return;
        }
        // Completing runs continuations inline, and they may signal more (collected into the same list): go on until
        // nothing is left. Index by index, since the list grows while it is walked.
        for (var i = 0; i < batch.Count; i++)
        {
            var waiting = batch[i];
            batch[i] = null!;
            try
            {
                waiting.TrySetResult();
            }
            catch (Exception exception) when (exception is not OutOfMemoryException)
            {
                // A continuation's own failure belongs to its task; nothing here may stop the others from running.
            }
        }
        batch.Clear();
        t_spare = batch;
        t_batch = null;
    }
}
