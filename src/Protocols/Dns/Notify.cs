using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.Globalization;
using System.Net;
using System.Threading;
using Unikernel.Devices;
using Unikernel.Runtime;

namespace Unikernel.Protocols.Dns;

/// <summary>
/// NOTIFY (RFC 1996) to secondaries when a zone changes: one UDP message per zone and secondary (opcode NOTIFY, AA,
/// the zone's SOA as question and answer), TSIG-signed when a key is given, retried until the secondary acknowledges
/// (a response with the same ID and opcode) or <see cref="Attempts"/> are spent, waiting 1, 2, 4… seconds.
/// </summary>
public sealed class NotifySender(INetworkStack stack, IReadOnlyList<IPEndPoint> secondaries, TsigKey? key = null, Action<string>? log = null)
{
    private long _sent;
    private long _acknowledged;

    public IReadOnlyList<IPEndPoint> Secondaries { get; } = secondaries;

    /// <summary>Sends per zone and secondary (the first try and each retry).</summary>
    public int Attempts { get; init; } = 5;

    /// <summary>Wait for the first answer; doubled after each unanswered try.</summary>
    public TimeSpan FirstTimeout { get; init; } = TimeSpan.FromSeconds(1);

    public long Sent => Interlocked.Read(ref _sent);

    public long Acknowledged => Interlocked.Read(ref _acknowledged);

    /// <summary>Parses <c>address</c>, <c>address:port</c> or <c>[v6]:port</c> (port 53 by default).</summary>
    public static bool TryParseTarget(string text, out IPEndPoint? endPoint)
    {
        endPoint = null;
        if (IPAddress.TryParse(text, out var address))
        {
            endPoint = new IPEndPoint(address, 53);
            return true;
        }
        if (IPEndPoint.TryParse(text, out var ep))
        {
            endPoint = ep.Port == 0 ? new IPEndPoint(ep.Address, 53) : ep;
            return true;
        }
        return false;
    }

    /// <summary>The NOTIFY message for <paramref name="zone"/> with ID <paramref name="id"/> (signed with the key, if any).</summary>
    public byte[] Message(Zone zone, ushort id, long now)
    {
        var buffer = new byte[1024];
        Span<ushort> table = stackalloc ushort[16];
        var w = new DnsMessageWriter(buffer, table);
        w.TryWriteHeader(id, (ushort)((DnsOpcode.Notify << 11) | DnsFlags.AA), 1, 1, 0, 0);
        w.TryWriteQuestion(zone.Origin.Wire, DnsType.SOA, DnsClass.IN);
        w.TryWriteRecord(zone.Origin.Wire, DnsType.SOA, DnsClass.IN, zone.Soa.Ttl, zone.Soa.Data);
        var length = w.Position;
        if (key is not null)
        {
            Span<byte> mac = stackalloc byte[64];
            length = TsigSigner.Sign(buffer, length, key, [], timersOnly: false, now, id, 0, [], mac);
        }
        return buffer.AsSpan(0, length).ToArray(); // not buffer[..length]: an array range pulls the runtime type loader (~110 KB)
    }

    /// <summary>Threads one <see cref="NotifyAsync"/> call uses at most (each sends to one secondary at a time).</summary>
    private const int MaxThreads = 8;

    /// <summary>
    /// Notifies every secondary of each zone in <paramref name="zones"/>, in parallel (up to 8 at a time, each on a
    /// thread of its own: no thread pool, no Task); completes when each has acknowledged or run out of attempts.
    /// Never throws (failures are logged).
    /// </summary>
    public Job NotifyAsync(IEnumerable<Zone> zones, CancellationToken cancellationToken)
    {
        var work = new Queue<(Zone Zone, IPEndPoint Secondary)>();
        foreach (var zone in zones)
        {
            foreach (var secondary in Secondaries)
            {
                work.Enqueue((zone, secondary));
            }
        }
        if (work.Count == 0)
        {
            return Job.CompletedJob;
        }
        var done = new JobSource();
        var threads = Math.Min(MaxThreads, work.Count);
        var running = threads;
        for (var t = 0; t < threads; t++)
        {
            new Thread(() =>
            {
                try
                {
                    while (true)
                    {
                        (Zone Zone, IPEndPoint Secondary) next;
                        lock (work)
                        {
                            if (!work.TryDequeue(out next))
                            {
                                break;
                            }
                        }
                        try
                        {
                            NotifyOne(next.Zone, next.Secondary, cancellationToken);
                        }
#pragma warning disable CA1031 // a failure to notify must not end the server (on a thread of its own, it would)
                        catch (Exception e)
#pragma warning restore CA1031
                        {
                            log?.Invoke($"notify {next.Zone.Origin} to {next.Secondary}: {e.Message}");
                        }
                    }
                }
                finally
                {
                    if (Interlocked.Decrement(ref running) == 0)
                    {
                        done.TrySetResult();
                    }
                }
            })
            { IsBackground = true, Name = "dns-notify" }.Start();
        }
        return done.Job;
    }

    /// <summary>Cancelled (then disposed) when disposed: takes the timer of <see cref="CancelAt"/> off the loop.</summary>
    private sealed class StopOnDispose : IDisposable
    {
        private readonly CancellationTokenSource _source = new();

        public CancellationToken Token => _source.Token;

        public void Dispose()
        {
            _source.Cancel();
            _source.Dispose();
        }
    }

    /// <summary>Cancels <paramref name="wait"/> after <paramref name="delay"/> unless <paramref name="stop"/> is cancelled first.</summary>
    private static void CancelAt(CancellationTokenSource wait, TimeSpan delay, CancellationToken stop)
    {
        var timer = JobLoop.Default.Delay(delay < TimeSpan.Zero ? TimeSpan.Zero : delay, stop);
        timer.GetAwaiter().UnsafeOnCompleted(() =>
        {
            if (timer.IsFaulted)
            {
                return; // stopped: the wait is over (and its source may be disposed)
            }
            try
            {
                wait.Cancel();
            }
            catch (ObjectDisposedException)
            {
                // the wait ended as the timer fired
            }
        });
    }

    private void NotifyOne(Zone zone, IPEndPoint secondary, CancellationToken cancellationToken)
    {
        IUdpSocket socket;
        try
        {
            socket = stack.Udp.Bind(new IPEndPoint(secondary.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? IPAddress.IPv6Any : IPAddress.Any, 0));
        }
#pragma warning disable CA1031 // a failure to notify must not end the server
        catch (Exception e)
#pragma warning restore CA1031
        {
            log?.Invoke($"notify {zone.Origin} to {secondary}: cannot bind a socket: {e.Message}");
            return;
        }
        using (socket)
        {
            var id = (ushort)Random.Shared.Next(0, 65536);
            var serial = BinaryPrimitives.ReadUInt32BigEndian(zone.Soa.Data.AsSpan(zone.Soa.Data.Length - 20));
            var tx = new DatagramBatch(1, 1024);
            var rx = new DatagramBatch(4, 4096);
            var timeout = FirstTimeout;
            for (var attempt = 1; attempt <= Math.Max(1, Attempts) && !cancellationToken.IsCancellationRequested; attempt++)
            {
                var message = Message(zone, id, TsigSigner.Now());
                tx.Count = 0;
                tx.TryAdd(message, DatagramPeer.FromEndPoint(secondary));
                try
                {
                    socket.Send(tx);
                    Interlocked.Increment(ref _sent);
                }
                catch (System.Net.Sockets.SocketException e)
                {
                    log?.Invoke($"notify {zone.Origin} to {secondary}: {e.Message}");
                }
                var deadline = DateTime.UtcNow + timeout;
                while (DateTime.UtcNow < deadline && !cancellationToken.IsCancellationRequested)
                {
                    using var wait = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                    // A job-loop timer, not CancelAfter: its timer queue links the thread pool into the image (issue 17).
                    using var stopTimer = new StopOnDispose();
                    CancelAt(wait, deadline - DateTime.UtcNow, stopTimer.Token);
                    int n;
                    try
                    {
                        n = socket.Receive(rx, wait.Token);
                    }
                    catch (Exception) when (wait.IsCancellationRequested)
                    {
                        break;
                    }
                    catch (System.Net.Sockets.SocketException)
                    {
                        break; // e.g. ICMP port unreachable: count as unanswered
                    }
                    for (var i = 0; i < n; i++)
                    {
                        var d = rx.Datagram(i);
                        if (d.Length >= 12 && BinaryPrimitives.ReadUInt16BigEndian(d) == id && (d[2] & 0x80) != 0 && ((d[2] >> 3) & 0xF) == DnsOpcode.Notify)
                        {
                            Interlocked.Increment(ref _acknowledged);
                            var rcode = d[3] & 0xF;
                            log?.Invoke($"notify {zone.Origin} serial {serial.ToString(CultureInfo.InvariantCulture)} to {secondary}: "
                                + (rcode == 0 ? "acknowledged" : "answered " + DnsRcode.ToName(rcode)));
                            return;
                        }
                    }
                }
                timeout += timeout;
            }
            if (!cancellationToken.IsCancellationRequested)
            {
                log?.Invoke($"notify {zone.Origin} serial {serial.ToString(CultureInfo.InvariantCulture)} to {secondary}: no answer after {Attempts.ToString(CultureInfo.InvariantCulture)} tries, giving up");
            }
        }
    }
}
