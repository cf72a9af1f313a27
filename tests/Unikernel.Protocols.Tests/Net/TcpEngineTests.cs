using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using Unikernel.Protocols.Net;

namespace Unikernel.Protocols.Tests.Net;

/// <summary>Two TCP engines on a simulated link (<see cref="TcpTestNet"/>): deterministic, virtual time, no threads.</summary>
public sealed class TcpEngineTests
{
    private static readonly uint A = IPv4Address.Parse("10.0.0.1");
    private static readonly uint B = IPv4Address.Parse("10.0.0.2");
    private static readonly TimeSpan Budget = TimeSpan.FromMinutes(10);

    private static (TcpTestNet Net, TcpTestNet.Host Client, TcpTestNet.Host Server) Pair(TcpSettings? client = null, TcpSettings? server = null, int seed = 1)
    {
        var net = new TcpTestNet(seed);
        return (net, net.Add(A, client, seed: 11), net.Add(B, server, seed: 22));
    }

    private static (TcpConnection Client, TcpConnection Server) Connect(TcpTestNet net, TcpTestNet.Host client, TcpTestNet.Host server, int port = 80)
    {
        var listener = server.Engine.Listen(new IPEndPoint(IPAddress.Any, port));
        var connection = net.Connect(client, server.EndPoint(port));
        return (connection, net.Accept(server, listener));
    }

    [Fact]
    public void Handshake_negotiates_mss_window_scaling_sack_and_timestamps()
    {
        var (net, client, server) = Pair();
        client.Record = true;
        server.Record = true;
        // Through the application API (ITcp/ITcpListener) once; other tests drive the engine directly.
        var listener = server.Engine.Listen(new IPEndPoint(IPAddress.Any, 80));
        var accept = listener.AcceptAsync(CancellationToken.None).AsTask();
        var c = (TcpConnection)net.Complete(client.Engine.ConnectAsync(server.EndPoint(80), CancellationToken.None), Budget);
        net.RunUntil(accept, Budget);
        var s = (TcpConnection)TcpTestNet.Result(accept);
        Assert.Equal(TcpState.Established, c.State);
        Assert.Equal(TcpState.Established, s.State);
        Assert.True(c.TimestampsEnabled && s.TimestampsEnabled);
        Assert.True(c.SackEnabled && s.SackEnabled);
        Assert.Equal(1460, c.PeerMss);
        Assert.Equal(1448, c.Mss); // 1460 less the 12 bytes of the timestamp option
        Assert.Equal(3, c.SendShift); // 256 KiB buffers need a shift of 3
        Assert.Equal(3, s.ReceiveShift);
        Assert.Equal(new IPEndPoint(IPAddress.Parse("10.0.0.2"), 80), c.RemoteEndPoint);

        // SYN, SYN-ACK, ACK: exactly three segments, with Linux's option layout on the SYNs.
        Assert.Equal(2, client.Sent.Count);
        Assert.Single(server.Sent);
        Assert.True(TcpPacket.TryCreate(client.Sent[0].Segment, out var syn));
        Assert.Equal(TcpFlags.Syn, syn.Flags);
        Assert.Equal(40, syn.HeaderLength);
        Assert.Equal(Convert.FromHexString("020405b4" + "0402080a"), syn.Options[..8].ToArray());
        Assert.Equal(Convert.FromHexString("01030303"), syn.Options[16..].ToArray());
        Assert.True(TcpPacket.TryCreate(server.Sent[0].Segment, out var synAck));
        Assert.Equal(TcpFlags.Syn | TcpFlags.Ack, synAck.Flags);
        Assert.Equal(syn.SequenceNumber + 1, synAck.AcknowledgmentNumber);
    }

    [Fact]
    public void Options_are_not_used_when_the_peer_does_not_offer_them()
    {
        var (net, client, server) = Pair(client: new TcpSettings { WindowScaling = false, Timestamps = false, Sack = false });
        var (c, s) = Connect(net, client, server);
        Assert.False(c.TimestampsEnabled || s.TimestampsEnabled || c.SackEnabled || s.SackEnabled);
        Assert.Equal(0, s.ReceiveShift);
        Assert.Equal(1460, s.Mss);
        var data = TcpTestNet.RandomBytes(300_000, 5);
        Assert.Equal(TcpTestNet.Sha256(data), TcpTestNet.Sha256(net.Transfer(client, c, server, s, data, Budget)));
    }

    [Fact]
    public void Bulk_transfer_both_ways_matches_sha256()
    {
        var (net, client, server) = Pair();
        var (c, s) = Connect(net, client, server);
        var up = TcpTestNet.RandomBytes(4 << 20, 1);
        var down = TcpTestNet.RandomBytes(3 << 20, 2);
        Assert.Equal(TcpTestNet.Sha256(up), TcpTestNet.Sha256(net.Transfer(client, c, server, s, up, Budget)));
        Assert.Equal(TcpTestNet.Sha256(down), TcpTestNet.Sha256(net.Transfer(server, s, client, c, down, Budget)));
        Assert.Equal(0, client.Counters.Retransmits + server.Counters.Retransmits);
        // Both sides closed: the active closer (client) waits in TIME-WAIT, the server is gone.
        net.Run(() => s.State == TcpState.Closed, Budget);
        Assert.Equal(TcpState.TimeWait, c.State);
        Assert.Equal(1, client.Engine.TimeWaitCount);
        // TIME-WAIT lasts 2·MSL (60 s) and then the connection is gone.
        net.Advance(TimeSpan.FromSeconds(59));
        Assert.Equal(TcpState.TimeWait, c.State);
        net.Advance(TimeSpan.FromSeconds(2));
        Assert.Equal(TcpState.Closed, c.State);
        Assert.Equal(0, client.Engine.ConnectionCount + server.Engine.ConnectionCount);
    }

    [Theory]
    [InlineData(TcpCongestionControl.Cubic, true, 3)]
    [InlineData(TcpCongestionControl.NewReno, true, 4)]
    [InlineData(TcpCongestionControl.NewReno, false, 5)]
    public void Bulk_transfer_survives_loss_reordering_and_duplication(TcpCongestionControl control, bool sack, int seed)
    {
        var settings = new TcpSettings { CongestionControl = control, Sack = sack };
        var (net, client, server) = Pair(settings, settings, seed);
        var (c, s) = Connect(net, client, server);
        net.LossRate = 0.02;
        net.ReorderRate = 0.05;
        net.DuplicateRate = 0.02;
        var up = TcpTestNet.RandomBytes(2 << 20, seed);
        var down = TcpTestNet.RandomBytes(1 << 20, seed + 100);
        Assert.Equal(TcpTestNet.Sha256(up), TcpTestNet.Sha256(net.Transfer(client, c, server, s, up, Budget)));
        Assert.Equal(TcpTestNet.Sha256(down), TcpTestNet.Sha256(net.Transfer(server, s, client, c, down, Budget)));
        Assert.True(net.Lost > 0);
        Assert.True(client.Counters.Retransmits > 0 && server.Counters.Retransmits > 0);
        Assert.True(client.Counters.FastRetransmits > 0, "loss recovery should mostly be fast retransmits");
        Assert.True(server.Counters.OutOfOrder > 0);
    }

    [Fact]
    public void Zero_window_is_probed_until_the_reader_makes_room()
    {
        var (net, client, server) = Pair(server: new TcpSettings { ReceiveBufferSize = 16384 });
        var (c, s) = Connect(net, client, server);
        var data = TcpTestNet.RandomBytes(200_000, 9);
        var offset = 0;
        // The server does not read: the window closes after 16 KiB and the client probes it.
        net.Run(() =>
        {
            lock (client.Gate)
            {
                offset += c.TryWriteLocked(data.AsSpan(offset));
            }
            return false;
        }, TimeSpan.FromSeconds(30));
        Assert.Equal(16384, s.BufferedReceive);
        Assert.True(client.Counters.WindowProbesSent >= 3, $"probes {client.Counters.WindowProbesSent}");
        Assert.Equal(TcpState.Established, c.State);
        Assert.Equal(0, client.Counters.Timeouts);
        var received = new MemoryStream();
        var buffer = new byte[4096];
        Assert.True(net.Run(() =>
        {
            lock (client.Gate)
            {
                offset += c.TryWriteLocked(data.AsSpan(offset));
            }
            lock (server.Gate)
            {
                int n;
                while ((n = s.TryReadLocked(buffer, out _)) > 0)
                {
                    received.Write(buffer, 0, n);
                }
            }
            return received.Length == data.Length;
        }, Budget));
        Assert.Equal(TcpTestNet.Sha256(data), TcpTestNet.Sha256(received.ToArray()));
    }

    [Fact]
    public void Retransmission_timeout_backs_off_exponentially_then_aborts()
    {
        var (net, client, server) = Pair(client: new TcpSettings { MaxRetransmissions = 5 });
        var (c, s) = Connect(net, client, server);
        var cut = false;
        net.Filter = (from, _, _) => !cut || from != B;
        cut = true;
        client.Record = true;
        lock (client.Gate)
        {
            Assert.Equal(1000, c.TryWriteLocked(new byte[1000]));
        }
        net.Run(() => c.State == TcpState.Closed, TimeSpan.FromMinutes(5));
        Assert.Equal(TcpState.Closed, c.State);
        var times = client.Sent.Where(x => TcpPacket.TryCreate(x.Segment, out var p) && p.Payload.Length == 1000).Select(x => x.Time).ToList();
        Assert.Equal(6, times.Count); // the original and 5 retransmissions
        var gaps = times.Zip(times.Skip(1), (a, b) => b - a).ToList();
        for (var i = 1; i < gaps.Count; i++)
        {
            Assert.Equal(gaps[i - 1] * 2, gaps[i]);
        }
        Assert.True(gaps[0] >= 200_000_000, $"first RTO {gaps[0]} ns is below the 200 ms floor");
        Assert.Equal(6, client.Counters.Timeouts);
        Assert.Equal(1, client.Counters.ConnectionsAborted);
        var read = c.ReadAsync(new byte[10], CancellationToken.None).AsTask();
        Assert.Equal(SocketError.TimedOut, Assert.IsType<SocketException>(TcpTestNet.Failure(read)).SocketErrorCode);
    }

    [Fact]
    public void Connect_to_a_closed_port_is_refused_and_to_a_silent_host_times_out()
    {
        var (net, client, _) = Pair(client: new TcpSettings { SynRetries = 2 });
        var refused = client.Engine.ConnectAsync(new IPEndPoint(IPAddress.Parse("10.0.0.2"), 9), CancellationToken.None).AsTask();
        net.RunUntil(refused, Budget);
        Assert.Equal(SocketError.ConnectionRefused, Assert.IsType<SocketException>(TcpTestNet.Failure(refused)).SocketErrorCode);

        var silent = client.Engine.ConnectAsync(new IPEndPoint(IPAddress.Parse("10.0.0.99"), 80), CancellationToken.None).AsTask();
        net.RunUntil(silent, Budget);
        Assert.Equal(SocketError.TimedOut, Assert.IsType<SocketException>(TcpTestNet.Failure(silent)).SocketErrorCode);
        Assert.Equal(0, client.Engine.ConnectionCount);
    }

    [Fact]
    public void Simultaneous_open_and_simultaneous_close()
    {
        var (net, a, b) = Pair();
        TcpConnection x, y;
        lock (a.Gate)
        {
            x = a.Engine.StartConnectLocked(B, 5000, 6000);
        }
        lock (b.Gate)
        {
            y = b.Engine.StartConnectLocked(A, 6000, 5000);
        }
        net.Run(() => x.State == TcpState.Established && y.State == TcpState.Established, Budget);
        Assert.Equal(TcpState.Established, x.State);
        Assert.Equal(TcpState.Established, y.State);
        var data = TcpTestNet.RandomBytes(100_000, 3);
        Assert.Equal(data, net.Transfer(a, x, b, y, data, Budget, close: false));

        // Both send FIN at the same instant: FIN-WAIT-1 → CLOSING → TIME-WAIT on both sides.
        lock (a.Gate)
        {
            x.ShutdownSendLocked();
        }
        lock (b.Gate)
        {
            y.ShutdownSendLocked();
        }
        Assert.Equal(TcpState.FinWait1, x.State);
        net.Run(() => x.State == TcpState.TimeWait && y.State == TcpState.TimeWait, Budget);
        Assert.Equal(TcpState.TimeWait, x.State);
        Assert.Equal(TcpState.TimeWait, y.State);
        net.Advance(TimeSpan.FromSeconds(61));
        Assert.Equal(0, a.Engine.ConnectionCount + b.Engine.ConnectionCount);
    }

    [Fact]
    public void Half_close_keeps_the_other_direction_open()
    {
        var (net, client, server) = Pair();
        var (c, s) = Connect(net, client, server);
        var request = TcpTestNet.RandomBytes(5000, 1);
        Assert.Equal(request, net.Transfer(client, c, server, s, request, Budget)); // ends with the client's FIN
        net.Advance(TimeSpan.FromMilliseconds(100));
        Assert.Equal(TcpState.CloseWait, s.State);
        Assert.Equal(TcpState.FinWait2, c.State);
        var response = TcpTestNet.RandomBytes(70_000, 2);
        Assert.Equal(response, net.Transfer(server, s, client, c, response, Budget));
        net.Run(() => s.State == TcpState.Closed, Budget);
        Assert.Equal(TcpState.TimeWait, c.State);
    }

    private static byte[] Segment(uint from, uint to, ushort sourcePort, ushort destinationPort, uint seq, uint ack, byte flags, ushort window = 65535, byte[]? payload = null)
    {
        var repr = new TcpRepr(sourcePort, destinationPort, seq, ack, flags, window) { Payload = payload ?? [] };
        var bytes = new byte[repr.Length];
        Assert.True(repr.TryWrite(bytes, from, to, out _));
        return bytes;
    }

    private static TcpRepr Parse(byte[] bytes)
    {
        Assert.True(TcpPacket.TryCreate(bytes, out var packet));
        Assert.True(TcpRepr.TryParseUnchecked(packet, out var repr));
        return repr;
    }

    [Fact]
    public void Reset_rules_follow_rfc_5961()
    {
        var settings = new TcpSettings { Timestamps = false };
        var (net, client, server) = Pair(settings, settings);
        var (c, s) = Connect(net, client, server);
        server.Record = true;
        lock (client.Gate)
        {
            c.TryWriteLocked(new byte[10]);
        }
        net.Run(() => false, TimeSpan.FromSeconds(1));
        var ackFromServer = Parse(server.Sent[^1].Segment);
        var rcvNxt = ackFromServer.AcknowledgmentNumber; // what the server expects next from the client
        var clientPort = ackFromServer.DestinationPort;
        server.Sent.Clear();

        // An in-window RST that is not exact: challenged with an ACK, the connection lives.
        server.Inject(A, Segment(A, B, clientPort, 80, rcvNxt + 100, 0, TcpFlags.Rst));
        Assert.Equal(TcpState.Established, s.State);
        Assert.Single(server.Sent);
        var challenge = Parse(server.Sent[0].Segment);
        Assert.Equal(TcpFlags.Ack, challenge.Flags);
        Assert.Equal(rcvNxt, challenge.AcknowledgmentNumber);
        Assert.Equal(1, server.Counters.ChallengeAcks);

        // A SYN on an established connection: a challenge ACK too (RFC 5961 §4), not a reset.
        server.Inject(A, Segment(A, B, clientPort, 80, rcvNxt + 5, 0, TcpFlags.Syn));
        Assert.Equal(TcpState.Established, s.State);
        Assert.Equal(2, server.Counters.ChallengeAcks);

        // An RST outside the window: silently dropped.
        server.Inject(A, Segment(A, B, clientPort, 80, rcvNxt + 10_000_000, 0, TcpFlags.Rst));
        Assert.Equal(2, server.Sent.Count);

        // An ACK for data never sent: an ACK back, no state change.
        server.Inject(A, Segment(A, B, clientPort, 80, rcvNxt, challenge.SequenceNumber + 1_000_000, TcpFlags.Ack));
        Assert.Equal(3, server.Sent.Count);
        Assert.Equal(1, server.Counters.DropsBadAck);

        // The exact RST resets: the reader sees the end of the stream, a writer gets ConnectionReset.
        server.Inject(A, Segment(A, B, clientPort, 80, rcvNxt, 0, TcpFlags.Rst));
        Assert.Equal(TcpState.Closed, s.State);
        lock (server.Gate)
        {
            Assert.Equal(10, s.TryReadLocked(new byte[100], out _));
            Assert.Equal(0, s.TryReadLocked(new byte[100], out var ended));
            Assert.True(ended);
            var error = Assert.Throws<SocketException>(() => s.TryWriteLocked(new byte[1]));
            Assert.Equal(SocketError.ConnectionReset, error.SocketErrorCode);
        }

        // A segment for no connection gets an RST (with ACK = SEQ + LEN when it had no ACK).
        server.Sent.Clear();
        server.Inject(A, Segment(A, B, 4444, 81, 1000, 0, TcpFlags.Syn));
        var reset = Parse(server.Sent[0].Segment);
        Assert.Equal(TcpFlags.Rst | TcpFlags.Ack, reset.Flags);
        Assert.Equal(1001u, reset.AcknowledgmentNumber);
        server.Inject(A, Segment(A, B, 4444, 81, 1000, 777, TcpFlags.Ack, payload: new byte[5]));
        reset = Parse(server.Sent[1].Segment);
        Assert.Equal(TcpFlags.Rst, reset.Flags);
        Assert.Equal(777u, reset.SequenceNumber);
        server.Inject(A, Segment(A, B, 4444, 81, 1000, 777, TcpFlags.Rst));
        Assert.Equal(2, server.Sent.Count); // never an RST for an RST
    }

    [Fact]
    public void Challenge_acks_are_rate_limited()
    {
        var (net, client, server) = Pair(server: new TcpSettings { ChallengeAcksPerSecond = 5 });
        var (_, s) = Connect(net, client, server);
        server.Record = true;
        var port = s.RemoteEndPoint.Port;
        for (var i = 0; i < 50; i++)
        {
            server.Inject(A, Segment(A, B, (ushort)port, 80, 12345u + (uint)i, 0, TcpFlags.Syn));
        }
        Assert.Equal(5, server.Sent.Count);
        Assert.Equal(45, server.Counters.ChallengeAcksRateLimited);
        net.Advance(TimeSpan.FromSeconds(1.5));
        server.Inject(A, Segment(A, B, (ushort)port, 80, 99, 0, TcpFlags.Syn));
        Assert.Equal(6, server.Counters.ChallengeAcks);
        Assert.Equal(TcpState.Established, s.State);
    }

    [Fact]
    public void Paws_drops_a_segment_with_an_old_timestamp()
    {
        var (net, client, server) = Pair();
        var (c, s) = Connect(net, client, server);
        client.Record = true;
        lock (client.Gate)
        {
            c.TryWriteLocked(new byte[100]);
        }
        net.Advance(TimeSpan.FromSeconds(1));
        var original = client.Sent.First(x => Parse(x.Segment).Payload.Length == 100).Segment;
        lock (server.Gate)
        {
            Assert.Equal(100, s.TryReadLocked(new byte[200], out _));
        }
        lock (client.Gate)
        {
            c.TryWriteLocked(new byte[100]);
        }
        net.Advance(TimeSpan.FromSeconds(1));
        // Replay the first segment with its sequence number moved forward (as a wrapped old duplicate would be).
        var old = Parse(original);
        var replay = new TcpRepr(old.SourcePort, old.DestinationPort, old.SequenceNumber + 100, old.AcknowledgmentNumber, old.Flags, old.WindowSize)
        {
            HasTimestamps = true,
            TimestampValue = old.TimestampValue - 1,
            TimestampEcho = old.TimestampEcho,
            Payload = new byte[100],
        };
        var bytes = new byte[replay.Length];
        Assert.True(replay.TryWrite(bytes, A, B, out _));
        server.Inject(A, bytes);
        Assert.Equal(1, server.Counters.DropsPaws);
        lock (server.Gate)
        {
            Assert.Equal(100, s.TryReadLocked(new byte[200], out _)); // only the real second segment
        }
    }

    [Fact]
    public void Keep_alive_probes_an_idle_peer_and_aborts_when_it_is_gone()
    {
        var settings = new TcpSettings { KeepAliveIdle = TimeSpan.FromSeconds(10), KeepAliveInterval = TimeSpan.FromSeconds(2), KeepAliveProbes = 3 };
        var (net, client, server) = Pair(settings);
        var (c, _) = Connect(net, client, server);
        net.Advance(TimeSpan.FromSeconds(35));
        Assert.Equal(TcpState.Established, c.State);
        Assert.Equal(3, client.Counters.KeepAlivesSent); // at 10, 20 and 30 s: each answered
        net.Filter = (from, _, _) => from != B;
        net.Advance(TimeSpan.FromSeconds(30));
        Assert.Equal(TcpState.Closed, c.State);
        Assert.Equal(3 + 3, client.Counters.KeepAlivesSent); // three unanswered, then the abort
    }

    [Fact]
    public void Syn_flood_is_answered_with_cookies_and_a_cookie_handshake_completes()
    {
        var (net, client, server) = Pair(server: new TcpSettings { MaxHalfOpen = 4 });
        var listener = server.Engine.Listen(new IPEndPoint(IPAddress.Any, 80), backlog: 8);
        server.Record = true;
        for (var i = 0; i < 100; i++)
        {
            server.Inject(IPv4Address.Parse("10.9.0.1") + (uint)i, Segment(IPv4Address.Parse("10.9.0.1") + (uint)i, B, 40000, 80, 1000, 0, TcpFlags.Syn));
        }
        Assert.Equal(4, server.Engine.ConnectionCount); // half-open entries stay bounded
        Assert.Equal(96, server.Counters.SynCookiesSent);
        Assert.Equal(100, server.Sent.Count);

        var connection = net.Connect(client, server.EndPoint(80));
        var s = net.Accept(server, listener);
        Assert.Equal(1, server.Counters.SynCookiesAccepted);
        var data = TcpTestNet.RandomBytes(200_000, 4);
        Assert.Equal(data, net.Transfer(client, connection, server, s, data, Budget));

        // A forged ACK with a wrong cookie gets an RST.
        server.Inject(A, Segment(A, B, 41000, 80, 5000, 123456, TcpFlags.Ack));
        Assert.Equal(1, server.Counters.SynCookiesAccepted);
        Assert.Equal(TcpFlags.Rst, Parse(server.Sent[^1].Segment).Flags);
        // The half-open entries time out after their SYN-ACK retries.
        net.Advance(TimeSpan.FromMinutes(3));
        Assert.Equal(1, server.Engine.ConnectionCount); // only the cookie connection (in CLOSE-WAIT) is left
        Assert.Equal(TcpState.CloseWait, s.State);
    }

    [Fact]
    public void Time_wait_entries_are_bounded()
    {
        var (net, client, server) = Pair(client: new TcpSettings { MaxTimeWait = 3 });
        var listener = server.Engine.Listen(new IPEndPoint(IPAddress.Any, 80));
        for (var i = 0; i < 8; i++)
        {
            var c = net.Connect(client, server.EndPoint(80));
            var s = net.Accept(server, listener);
            lock (client.Gate)
            {
                c.CloseLocked();
            }
            net.Run(() => s.State == TcpState.CloseWait, Budget);
            lock (server.Gate)
            {
                s.CloseLocked();
            }
            net.Run(() => s.State == TcpState.Closed, Budget);
        }
        Assert.Equal(3, client.Engine.TimeWaitCount);
        Assert.Equal(5, client.Counters.TimeWaitRecycled);
        Assert.Equal(3, client.Engine.ConnectionCount);
    }

    [Fact]
    public void Close_with_unread_data_resets_and_orphaned_connections_finish_in_the_background()
    {
        var (net, client, server) = Pair();
        var (c, s) = Connect(net, client, server);
        lock (client.Gate)
        {
            c.TryWriteLocked(new byte[500]);
        }
        net.Advance(TimeSpan.FromSeconds(1));
        lock (server.Gate)
        {
            s.CloseLocked(); // 500 bytes unread: RST (RFC 2525 §2.17)
        }
        net.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(TcpState.Closed, c.State);
        Assert.Equal(1, server.Counters.RstsSent);

        var (c2, s2) = Connect(net, client, server, port: 81);
        var data = TcpTestNet.RandomBytes(1 << 20, 8);
        lock (client.Gate)
        {
            var n = c2.TryWriteLocked(data);
            Assert.Equal(256 * 1024, n);
            c2.CloseLocked(); // the rest of the buffer and the FIN go out after the application is gone
        }
        var received = new MemoryStream();
        var buffer = new byte[65536];
        net.Run(() =>
        {
            lock (server.Gate)
            {
                int k;
                while ((k = s2.TryReadLocked(buffer, out _)) > 0)
                {
                    received.Write(buffer, 0, k);
                }
            }
            return s2.State == TcpState.CloseWait;
        }, Budget);
        Assert.Equal(data.AsSpan(0, 256 * 1024).ToArray(), received.ToArray());
    }

    [Fact]
    public void Nagle_holds_small_writes_while_data_is_in_flight_and_no_delay_sends_them()
    {
        var (net, client, server) = Pair();
        var (c, _) = Connect(net, client, server);
        client.Record = true;
        c.NoDelay = false;
        lock (client.Gate)
        {
            c.TryWriteLocked(new byte[10]);
            c.TryWriteLocked(new byte[10]);
            c.TryWriteLocked(new byte[10]);
        }
        Assert.Single(client.Sent); // the first goes, the others wait for its ACK
        net.Advance(TimeSpan.FromMilliseconds(100));
        Assert.Equal(20, client.Sent.Sum(x => Parse(x.Segment).Payload.Length) - 10);
        client.Sent.Clear();
        c.NoDelay = true;
        lock (client.Gate)
        {
            c.TryWriteLocked(new byte[10]);
            c.TryWriteLocked(new byte[10]);
        }
        Assert.Equal(2, client.Sent.Count);
    }

    [Fact]
    public void Delayed_acks_ack_every_second_full_segment()
    {
        var (net, client, server) = Pair();
        var (c, s) = Connect(net, client, server);
        // Past the quick-ACK phase at the start.
        var warm = TcpTestNet.RandomBytes(100_000, 1);
        Assert.Equal(warm, net.Transfer(client, c, server, s, warm, Budget, close: false));
        server.Record = true;
        var data = TcpTestNet.RandomBytes(1448 * 40, 2);
        Assert.Equal(data, net.Transfer(client, c, server, s, data, Budget, close: false));
        var acks = server.Sent.Count(x => Parse(x.Segment).Payload.Length == 0);
        Assert.InRange(acks, 20, 22);
    }

    [Fact]
    public void Memory_of_idle_connections_stays_small()
    {
        var (net, client, server) = Pair();
        var listener = server.Engine.Listen(new IPEndPoint(IPAddress.Any, 80), backlog: 1000);
        var accepted = new List<TcpConnection>();
        for (var i = 0; i < 200; i++)
        {
            net.Connect(client, server.EndPoint(80));
            accepted.Add(net.Accept(server, listener));
        }
        Assert.Equal(200, server.Engine.ConnectionCount);
        Assert.All(accepted, connection => Assert.Equal(0, connection.AllocatedBytes)); // buffers grow only when used
    }
}
