using System;
using System.Collections.Generic;
using System.Net;
using System.Threading;
using System.Threading.Tasks;
using Unikernel.Devices;

namespace Unikernel.Protocols.OpenFlow;

public sealed class SoftwareSwitchOptions
{
    /// <summary>The controller to connect to (reconnecting after <see cref="ReconnectDelay"/> when the channel drops).</summary>
    public IPEndPoint Controller { get; init; } = new(IPAddress.Loopback, 6653);

    /// <summary>0: derived from the first port's MAC address.</summary>
    public ulong DatapathId { get; init; }

    /// <summary>Packets held for the controller while it decides (buffer ids); the oldest is reused first.</summary>
    public int Buffers { get; init; } = 256;

    public int MaxFlows { get; init; } = 65536;

    public TimeSpan ReconnectDelay { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>How often idle and hard timeouts are checked.</summary>
    public TimeSpan ExpiryInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Port names reported in features replies (default port1, port2, ...).</summary>
    public IReadOnlyList<string>? PortNames { get; init; }

    public string Description { get; init; } = "Unikernel OpenFlow switch";

    /// <summary>
    /// Where to accept management connections (like an OVS bridge's <c>ptcp:</c> listener, for <c>ovs-ofctl</c>); null:
    /// none. They get replies to their requests but no asynchronous messages (packet_in, flow_removed).
    /// </summary>
    public IPEndPoint? Listen { get; init; }

    /// <summary>Offer OpenFlow 1.3 next to 1.0 in hello (the peer's versions decide); false: 1.0 only.</summary>
    public bool OpenFlow13 { get; init; } = true;

    /// <summary>Flow tables of the 1.3 pipeline (1.0 has one).</summary>
    public int Tables13 { get; init; } = 8;
}

/// <summary>
/// An OpenFlow 1.0 and 1.3 software switch (the version is negotiated in hello; the 1.3 pipeline is in SoftwareSwitch13.cs). Its ports are network interfaces (numbered from 1), each served by a receive
/// thread that looks frames up in one <see cref="FlowTable"/> and applies the entry's actions; a table miss buffers the
/// frame and sends a packet_in to the controller. Answers the controller's features, config, flow_mod, packet_out,
/// barrier, port_mod and stats (description, flow, aggregate, table, port) requests; expires flows by idle and hard
/// timeout on the given clock and reports them with flow_removed when asked to.
/// </summary>
public sealed partial class SoftwareSwitch
{
    private const int SlotSize = 2048;
    private const int BatchSize = 32;
    private const uint SupportedActions = (1u << 12) - 1; // every OpenFlow 1.0 action but vendor

    private readonly Port[] _ports;
    private readonly ITcp _tcp;
    private readonly IMonotonicClock _clock;
    private readonly ITime _time;
    private readonly SoftwareSwitchOptions _options;
    private readonly Action<string> _log;
    private readonly PacketBuffers _buffers;
    private volatile OfConnection? _channel;
    private volatile bool _channel13; // the controller channel speaks 1.3
    private volatile bool _dataPath13; // frames go through the 1.3 pipeline (see ControlSession.OnHello)
    private volatile ushort _missSendLength = 128;
    private volatile ushort _configFlags; // read by the data path (invalid TTL to the controller)
    private long _packetIns;
    private long _packetInsDropped;
    private long _connections;

    public SoftwareSwitch(IReadOnlyList<INetworkInterface> ports, ITcp tcp, IMonotonicClock clock, ITime time, SoftwareSwitchOptions? options = null, Action<string>? log = null)
    {
        ArgumentNullException.ThrowIfNull(ports);
        ArgumentNullException.ThrowIfNull(tcp);
        ArgumentNullException.ThrowIfNull(clock);
        ArgumentNullException.ThrowIfNull(time);
        if (ports.Count is 0 or >= OfPort.Max)
        {
            throw new ArgumentException($"a switch needs 1 to {OfPort.Max - 1} ports, not {ports.Count}", nameof(ports));
        }
        _options = options ?? new SoftwareSwitchOptions();
        _ports = new Port[ports.Count];
        for (var i = 0; i < ports.Count; i++)
        {
            var name = _options.PortNames is { } names && i < names.Count ? names[i] : $"port{i + 1}";
            _ports[i] = new Port(ports[i], (ushort)(i + 1), name);
        }
        _tcp = tcp;
        _clock = clock;
        _time = time;
        _log = log ?? (_ => { });
        _buffers = new PacketBuffers(Math.Max(1, _options.Buffers), SlotSize);
        Flows = new FlowTable(_options.MaxFlows);
        Flows13 = new Of13Pipeline(_options.Tables13, _options.MaxFlows);
        _started = clock.ElapsedNanoseconds;
        DatapathId = _options.DatapathId != 0 ? _options.DatapathId : OfMatch.ReadMac(ports[0].MacAddress);
    }

    public ulong DatapathId { get; }

    /// <summary>The 1.0 flow table.</summary>
    public FlowTable Flows { get; }

    public bool IsConnected => _channel is not null;

    /// <summary>Times the switch has connected to the controller.</summary>
    public long Connections => Interlocked.Read(ref _connections);

    public long PacketIns => Interlocked.Read(ref _packetIns);

    /// <summary>Table misses not reported because no controller was connected or its channel was full.</summary>
    public long PacketInsDropped => Interlocked.Read(ref _packetInsDropped);

    public OfPortStats PortCounters(int portNumber) => _ports[portNumber - 1].Snapshot();

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        var threads = new List<Thread>();
        foreach (var port in _ports)
        {
            var thread = new Thread(() => ReceiveLoop(port, cancellationToken)) { IsBackground = true, Name = "of-" + port.Name };
            thread.Start();
            threads.Add(thread);
        }
        var expiry = ExpiryLoop(cancellationToken);
        var management = _options.Listen is { } listen ? ListenLoop(_tcp.Listen(listen), cancellationToken) : Task.CompletedTask;
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                ITcpConnection connection;
                try
                {
                    connection = await _tcp.ConnectAsync(_options.Controller, cancellationToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
                catch (Exception e) when (e is System.Net.Sockets.SocketException or System.IO.IOException or InvalidOperationException)
                {
                    _log($"cannot reach controller {_options.Controller}: {e.Message}");
                    await Delay(cancellationToken).ConfigureAwait(false);
                    continue;
                }
                Interlocked.Increment(ref _connections);
                var reason = await SessionAsync(connection, primary: true, cancellationToken).ConfigureAwait(false);
                _log($"controller channel closed: {reason}");
                if (!cancellationToken.IsCancellationRequested)
                {
                    await Delay(cancellationToken).ConfigureAwait(false);
                }
            }
        }
        finally
        {
            foreach (var thread in threads)
            {
                thread.Join(TimeSpan.FromSeconds(5));
            }
            try
            {
                await expiry.ConfigureAwait(false);
                await management.ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // stopping
            }
        }
    }

    private Task ListenLoop(ITcpListener listener, CancellationToken cancellationToken)
    {
        _log($"accepting management connections on {listener.LocalEndPoint}");
        return OfConnection.AcceptLoopAsync(listener, connection => ServeAsync(connection, cancellationToken), cancellationToken);
    }

    /// <summary>Serves one management connection (the peer connected to us, as <c>ovs-ofctl</c> does) until it closes.</summary>
    public Task<string> ServeAsync(ITcpConnection connection, CancellationToken cancellationToken) =>
        SessionAsync(connection, primary: false, cancellationToken);

    private async Task Delay(CancellationToken cancellationToken)
    {
        try
        {
            await Task.Delay(_options.ReconnectDelay, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // stopping
        }
    }

    private async Task ExpiryLoop(CancellationToken cancellationToken)
    {
        var scratch = new byte[OfFlowRemoved.Size];
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                await _time.SleepAsync(_options.ExpiryInterval, cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            var now = _clock.ElapsedNanoseconds;
            foreach (var (entry, reason) in Flows.Expire(now))
            {
                SendFlowRemoved(entry, reason, now, scratch);
            }
            foreach (var (entry, reason) in Flows13.Expire(now))
            {
                SendFlowRemoved13(entry, (byte)reason, now);
            }
        }
    }

    private void SendFlowRemoved(FlowEntry entry, OfFlowRemovedReason reason, long now, byte[] scratch)
    {
        if ((entry.Flags & OfFlowModFlags.SendFlowRemoved) == 0 || _channel is not { } channel || _channel13)
        {
            return;
        }
        var age = Math.Max(0, now - entry.Created);
        var removed = new OfFlowRemoved(entry.Match, entry.Cookie, entry.Priority, reason, (uint)(age / 1_000_000_000), (uint)(age % 1_000_000_000), entry.IdleTimeout, entry.PacketCount, entry.ByteCount);
        if (removed.TryWrite(scratch, 0, out var n))
        {
            channel.TrySend(scratch.AsSpan(0, n));
        }
    }

    // ---- data path -----------------------------------------------------------------------------------------------

    /// <summary>Per-thread buffers: one transmit batch per port, a frame copy for rewriting, a packet_in message.</summary>
    private sealed class PathContext
    {
        public PathContext(int ports)
        {
            Tx = new DatagramBatch[ports];
            for (var i = 0; i < ports; i++)
            {
                Tx[i] = new DatagramBatch(BatchSize, SlotSize);
            }
        }

        public DatagramBatch[] Tx { get; }

        // Room for two pushed VLAN tags (1.3 push_vlan) and a 1.3 packet_in's header and match.
        public byte[] Rewrite { get; } = new byte[SlotSize + 2 * FrameRewriter.VlanTagLength];

        public byte[] Message { get; } = new byte[PacketIn13Header + SlotSize + 2 * FrameRewriter.VlanTagLength];

        public Of13PacketFields Fields13 { get; } = new();

        /// <summary>A packet_out's frame sent to the 1.3 pipeline (output:TABLE) while its own actions hold the rewrite buffer.</summary>
        public byte[] TableInput { get; } = new byte[SlotSize + 2 * FrameRewriter.VlanTagLength];

        public ActionSet13 ActionSet { get; } = new();
    }

    private void ReceiveLoop(Port port, CancellationToken cancellationToken)
    {
        var rx = new DatagramBatch(BatchSize, SlotSize);
        var context = new PathContext(_ports.Length);
        while (!cancellationToken.IsCancellationRequested)
        {
            int n;
            try
            {
                n = port.Interface.Receive(rx, cancellationToken);
            }
            catch (Exception) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (ObjectDisposedException)
            {
                return;
            }
            for (var i = 0; i < n; i++)
            {
                if (_dataPath13)
                {
                    Process13(port, rx.Datagram(i), context);
                }
                else
                {
                    Process(port, rx.Datagram(i), context);
                }
            }
            Flush(context);
        }
    }

    private void Process(Port port, ReadOnlySpan<byte> frame, PathContext context)
    {
        if (!port.Received(frame.Length, OfMatch.TryExtract(frame, port.Number, out var match)))
        {
            return;
        }
        var actions = Flows.Lookup(match, frame.Length, _clock.ElapsedNanoseconds);
        if (actions is null)
        {
            if ((port.Config & OfPortConfig.NoPacketIn) == 0)
            {
                SendPacketIn(frame, port.Number, OfPacketInReason.NoMatch, _missSendLength, store: true, context);
            }
            return;
        }
        Execute(actions, frame, port.Number, context, allowTable: false);
    }

    private void SendPacketIn(ReadOnlySpan<byte> frame, ushort inPort, OfPacketInReason reason, int maxLength, bool store, PathContext context)
    {
        if (_channel is not { } channel || _channel13)
        {
            Interlocked.Increment(ref _packetInsDropped);
            return;
        }
        var bufferId = store ? _buffers.Store(frame, inPort) : OfBuffer.None;
        var data = bufferId == OfBuffer.None ? frame : frame[..Math.Min(frame.Length, maxLength)];
        var packetIn = new OfPacketIn { BufferId = bufferId, TotalLength = (ushort)frame.Length, InPort = inPort, Reason = reason, Data = data };
        if (packetIn.TryWrite(context.Message, 0, out var n) && channel.TrySend(context.Message.AsSpan(0, n)))
        {
            Interlocked.Increment(ref _packetIns);
        }
        else
        {
            Interlocked.Increment(ref _packetInsDropped);
        }
    }

    /// <summary>Applies a validated action list; set-field actions work on a copy so the received frame stays intact.</summary>
    private void Execute(ReadOnlySpan<byte> actions, ReadOnlySpan<byte> frame, ushort inPort, PathContext context, bool allowTable)
    {
        var current = frame;
        var copied = false;
        var length = frame.Length;
        var reader = new OfActionReader(actions);
        while (reader.TryRead(out var action, out _))
        {
            switch (action.Type)
            {
                case OfActionType.Output or OfActionType.Enqueue:
                    Output(action.Port, action.MaxLength, current, inPort, context, allowTable);
                    break;
                default:
                    if (!copied)
                    {
                        if (frame.Length > SlotSize)
                        {
                            return;
                        }
                        frame.CopyTo(context.Rewrite);
                        copied = true;
                    }
                    length = FrameRewriter.Apply(action, context.Rewrite, length);
                    current = context.Rewrite.AsSpan(0, length);
                    break;
            }
        }
    }

    private void Output(ushort portNumber, ushort maxLength, ReadOnlySpan<byte> frame, ushort inPort, PathContext context, bool allowTable)
    {
        switch (portNumber)
        {
            case OfPort.InPort:
                Enqueue(inPort, frame, context);
                break;
            case OfPort.Flood or OfPort.All:
                foreach (var port in _ports)
                {
                    if (port.Number != inPort && (portNumber == OfPort.All || (port.Config & OfPortConfig.NoFlood) == 0))
                    {
                        Enqueue(port.Number, frame, context);
                    }
                }
                break;
            case OfPort.Controller:
                SendPacketIn(frame, inPort, OfPacketInReason.Action, maxLength, store: false, context);
                break;
            case OfPort.Table when allowTable:
                if (OfMatch.TryExtract(frame, inPort, out var match) && Flows.Lookup(match, frame.Length, _clock.ElapsedNanoseconds) is { } actions)
                {
                    Execute(actions, frame, inPort, context, allowTable: false);
                }
                else if (inPort is > 0 and < OfPort.Max)
                {
                    SendPacketIn(frame, inPort, OfPacketInReason.NoMatch, _missSendLength, store: true, context);
                }
                break;
            default:
                if (portNumber != inPort)
                {
                    Enqueue(portNumber, frame, context);
                }
                break;
        }
    }

    private void Enqueue(ushort portNumber, ReadOnlySpan<byte> frame, PathContext context)
    {
        if (portNumber == 0 || portNumber > _ports.Length)
        {
            return; // LOCAL, NORMAL and unknown ports: this switch has none of them
        }
        var port = _ports[portNumber - 1];
        if ((port.Config & (OfPortConfig.NoForward | OfPortConfig.PortDown)) != 0)
        {
            Interlocked.Increment(ref port.TxDropped);
            return;
        }
        var batch = context.Tx[portNumber - 1];
        if (!batch.TryAdd(frame, default))
        {
            FlushPort(portNumber - 1, batch);
            if (!batch.TryAdd(frame, default))
            {
                Interlocked.Increment(ref port.TxDropped);
            }
        }
    }

    private void Flush(PathContext context)
    {
        for (var i = 0; i < context.Tx.Length; i++)
        {
            if (context.Tx[i].Count > 0)
            {
                FlushPort(i, context.Tx[i]);
            }
        }
    }

    private void FlushPort(int index, DatagramBatch batch)
    {
        var port = _ports[index];
        int sent;
        try
        {
            sent = port.Interface.Send(batch);
        }
        catch (Exception e) when (e is System.IO.IOException or ObjectDisposedException)
        {
            sent = 0;
        }
        long bytes = 0;
        for (var i = 0; i < sent; i++)
        {
            bytes += batch.Length(i);
        }
        Interlocked.Add(ref port.TxPackets, sent);
        Interlocked.Add(ref port.TxBytes, bytes);
        Interlocked.Add(ref port.TxDropped, batch.Count - sent);
        batch.Count = 0;
    }

    // ---- control channel -------------------------------------------------------------------------------------------

    private async Task<string> SessionAsync(ITcpConnection connection, bool primary, CancellationToken cancellationToken)
    {
        var channel = new OfConnection(connection);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var writer = channel.WriteLoopAsync(stop.Token);
        var control = new ControlSession(this, channel, primary);
        try
        {
            control.SendHello(1);
            return await channel.ReadLoopAsync(control.Handle, async ct =>
            {
                await channel.FlushAsync(ct).ConfigureAwait(false);
                await channel.WaitForRoomAsync(channel.OutputCapacity / 2, ct).ConfigureAwait(false);
            }, stop.Token).ConfigureAwait(false);
        }
        finally
        {
            if (primary)
            {
                _channel = null;
            }
            stop.Cancel();
            try
            {
                await writer.ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // stopping
            }
            await channel.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>The switch side of one controller connection: handles every message in order on the read loop.</summary>
    private sealed partial class ControlSession(SoftwareSwitch owner, OfConnection channel, bool primary) : OfSession(channel)
    {
        private readonly byte[] _frame = new byte[SlotSize];
        private readonly PathContext _context = new(owner._ports.Length);

        protected override uint SupportedVersions => owner._options.OpenFlow13 ? OpenFlow10And13 : OpenFlow10Only;

        protected override void OnHello()
        {
            if (primary)
            {
                owner._dataPath13 = owner._channel13 = Version == OfVersion.OpenFlow13;
                owner._channel = Channel; // the data path may send packet_in from now on
                owner._log($"connected to controller {Channel.RemoteEndPoint} (OpenFlow {(Version == OfVersion.OpenFlow13 ? "1.3" : "1.0")})");
            }
        }

        protected override void OnMessage(OfMessage message)
        {
            if (Version == OfVersion.OpenFlow13)
            {
                OnMessage13(message);
                return;
            }
            int n;
            switch (message.Type)
            {
                case OfType.EchoReply:
                    break;
                case OfType.FeaturesRequest:
                    FeaturesReply(message.Xid);
                    break;
                case OfType.GetConfigRequest:
                    Send(new OfSwitchConfig(owner._configFlags, owner._missSendLength).TryWrite(Scratch, OfType.GetConfigReply, message.Xid, out n), n);
                    break;
                case OfType.SetConfig:
                    if (OfSwitchConfig.TryParse(message, out var config))
                    {
                        owner._configFlags = config.Flags;
                        owner._missSendLength = config.MissSendLength;
                    }
                    else
                    {
                        Error(message, OfErrorType.BadRequest, OfErrorCode.BadRequestLength);
                    }
                    break;
                case OfType.FlowMod:
                    FlowMod(message);
                    break;
                case OfType.PacketOut:
                    PacketOut(message);
                    break;
                case OfType.PortMod:
                    PortMod(message);
                    break;
                case OfType.BarrierRequest:
                    // Messages are handled in order and completely, so everything before the barrier is done.
                    Send(new OfSimpleMessage(OfType.BarrierReply).TryWrite(Scratch, message.Xid, out n), n);
                    break;
                case OfType.StatsRequest:
                    Stats(message);
                    break;
                case OfType.Vendor:
                    Error(message, OfErrorType.BadRequest, OfErrorCode.BadRequestVendor);
                    break;
                case OfType.Error:
                    if (OfErrorMessage.TryParse(message, out var error))
                    {
                        owner._log($"controller reports error type {(int)error.ErrorType} code {error.Code}");
                    }
                    break;
                default:
                    Error(message, OfErrorType.BadRequest, OfErrorCode.BadRequestType);
                    break;
            }
        }

        private void FeaturesReply(uint xid)
        {
            Span<OfPhysicalPort> ports = new OfPhysicalPort[owner._ports.Length];
            for (var i = 0; i < ports.Length; i++)
            {
                ports[i] = owner._ports[i].Description();
            }
            var reply = new OfFeaturesReply
            {
                DatapathId = owner.DatapathId,
                Buffers = (uint)owner._buffers.Count,
                Tables = 1,
                Capabilities = OfCapabilities.FlowStats | OfCapabilities.TableStats | OfCapabilities.PortStats | OfCapabilities.ArpMatchIp,
                Actions = SupportedActions,
            };
            Send(reply.TryWrite(Scratch, xid, ports, out var n), n);
        }

        private void FlowMod(OfMessage message)
        {
            if (!OfFlowMod.TryParse(message, out var flowMod))
            {
                Error(message, OfErrorType.BadRequest, OfErrorCode.BadRequestLength);
                return;
            }
            if (OfAction.Validate(flowMod.Actions) is var bad and >= 0)
            {
                Error(message, OfErrorType.BadAction, (ushort)bad);
                return;
            }
            if (!ValidPorts(flowMod.Actions, out var badPort) && badPort)
            {
                Error(message, OfErrorType.BadAction, OfErrorCode.BadActionOutPort);
                return;
            }
            var now = owner._clock.ElapsedNanoseconds;
            if (flowMod.Command is OfFlowModCommand.Add or OfFlowModCommand.Modify or OfFlowModCommand.ModifyStrict)
            {
                owner._dataPath13 = false; // the pipeline of the version flows were last programmed in forwards
            }
            switch (flowMod.Command)
            {
                case OfFlowModCommand.Add:
                    var result = owner.Flows.Add(flowMod, now);
                    if (result == FlowTable.AddResult.TableFull)
                    {
                        Error(message, OfErrorType.FlowModFailed, OfErrorCode.FlowModAllTablesFull);
                        return;
                    }
                    if (result == FlowTable.AddResult.Overlap)
                    {
                        Error(message, OfErrorType.FlowModFailed, OfErrorCode.FlowModOverlap);
                        return;
                    }
                    break;
                case OfFlowModCommand.Modify or OfFlowModCommand.ModifyStrict:
                    if (owner.Flows.Modify(flowMod, flowMod.Command == OfFlowModCommand.ModifyStrict) == 0)
                    {
                        owner.Flows.Add(flowMod, now); // OpenFlow 1.0: a modify that matches nothing adds
                    }
                    break;
                case OfFlowModCommand.Delete or OfFlowModCommand.DeleteStrict:
                    var flowRemoved = new byte[OfFlowRemoved.Size];
                    foreach (var entry in owner.Flows.Delete(flowMod.Match, flowMod.Priority, flowMod.Command == OfFlowModCommand.DeleteStrict, flowMod.OutPort))
                    {
                        owner.SendFlowRemoved(entry, OfFlowRemovedReason.Delete, now, flowRemoved);
                    }
                    return; // a delete's buffer_id is ignored
                default:
                    Error(message, OfErrorType.FlowModFailed, OfErrorCode.FlowModBadCommand);
                    return;
            }
            if (flowMod.BufferId != OfBuffer.None)
            {
                if (owner._buffers.TryTake(flowMod.BufferId, _frame, out var length, out var inPort))
                {
                    owner.Execute(flowMod.Actions, _frame.AsSpan(0, length), inPort, _context, allowTable: false);
                    owner.Flush(_context);
                }
                else
                {
                    Error(message, OfErrorType.BadRequest, OfErrorCode.BadRequestBufferUnknown);
                }
            }
        }

        /// <summary>False with <paramref name="bad"/> when an output names a port this switch does not have.</summary>
        private bool ValidPorts(ReadOnlySpan<byte> actions, out bool bad)
        {
            bad = false;
            var reader = new OfActionReader(actions);
            while (reader.TryRead(out var action, out _))
            {
                if (action.Type is OfActionType.Output or OfActionType.Enqueue && action.Port is > 0 and < OfPort.Max && action.Port > owner._ports.Length)
                {
                    bad = true;
                    return false;
                }
            }
            return true;
        }

        private void PacketOut(OfMessage message)
        {
            if (!OfPacketOut.TryParse(message, out var packetOut))
            {
                Error(message, OfErrorType.BadRequest, OfErrorCode.BadRequestLength);
                return;
            }
            if (OfAction.Validate(packetOut.Actions) is var bad and >= 0)
            {
                Error(message, OfErrorType.BadAction, (ushort)bad);
                return;
            }
            ReadOnlySpan<byte> frame;
            var inPort = packetOut.InPort;
            if (packetOut.BufferId == OfBuffer.None)
            {
                frame = packetOut.Data;
            }
            else if (owner._buffers.TryTake(packetOut.BufferId, _frame, out var length, out _))
            {
                frame = _frame.AsSpan(0, length);
            }
            else
            {
                Error(message, OfErrorType.BadRequest, OfErrorCode.BadRequestBufferUnknown);
                return;
            }
            if (frame.Length > SlotSize)
            {
                Error(message, OfErrorType.BadRequest, OfErrorCode.BadRequestLength);
                return;
            }
            owner.Execute(packetOut.Actions, frame, inPort, _context, allowTable: true);
            owner.Flush(_context);
        }

        private void PortMod(OfMessage message)
        {
            if (!OfPortMod.TryParse(message, out var portMod))
            {
                Error(message, OfErrorType.BadRequest, OfErrorCode.BadRequestLength);
                return;
            }
            if (portMod.PortNumber == 0 || portMod.PortNumber > owner._ports.Length)
            {
                Error(message, OfErrorType.PortModFailed, 0); // OFPPMFC_BAD_PORT
                return;
            }
            var port = owner._ports[portMod.PortNumber - 1];
            port.Config = (port.Config & ~portMod.Mask) | (portMod.Config & portMod.Mask);
            Send(new OfPortStatus(OfPortReason.Modify, port.Description()).TryWrite(Scratch, 0, out var n), n);
        }

        private void Stats(OfMessage message)
        {
            if (!OfStatsMessage.TryParse(message, out var request))
            {
                Error(message, OfErrorType.BadRequest, OfErrorCode.BadRequestLength);
                return;
            }
            var body = Scratch.AsSpan(OfStatsMessage.Size);
            var xid = message.Xid;
            int n;
            switch (request.StatsType)
            {
                case OfStatsType.Description:
                    var description = new OfDescriptionStats("Unikernel", "software switch over network interfaces", "Unikernel.Protocols.OpenFlow", "none", owner._options.Description);
                    description.TryWrite(body, out n);
                    Reply(OfStatsType.Description, 0, n, xid);
                    break;
                case OfStatsType.Flow or OfStatsType.Aggregate:
                    if (!OfFlowStatsRequest.TryRead(request.Body, out var flowRequest))
                    {
                        Error(message, OfErrorType.BadRequest, OfErrorCode.BadRequestLength);
                        return;
                    }
                    var entries = flowRequest.TableId is 0 or OfFlowStatsRequest.AllTables ? owner.Flows.Select(flowRequest.Match, flowRequest.OutPort) : [];
                    if (request.StatsType == OfStatsType.Aggregate)
                    {
                        ulong packets = 0, bytes = 0;
                        foreach (var entry in entries)
                        {
                            packets += entry.PacketCount;
                            bytes += entry.ByteCount;
                        }
                        new OfAggregateStats(packets, bytes, (uint)entries.Count).TryWrite(body, out n);
                        Reply(OfStatsType.Aggregate, 0, n, xid);
                        break;
                    }
                    FlowStats(entries, xid);
                    break;
                case OfStatsType.Table:
                    new OfTableStats(0, "classifier", OfWildcards.All, (uint)owner.Flows.Capacity, (uint)owner.Flows.Count, (ulong)owner.Flows.Lookups, (ulong)owner.Flows.Matched).TryWrite(body, out n);
                    Reply(OfStatsType.Table, 0, n, xid);
                    break;
                case OfStatsType.Port:
                    if (!OfPortStatsRequest.TryRead(request.Body, out var portRequest))
                    {
                        Error(message, OfErrorType.BadRequest, OfErrorCode.BadRequestLength);
                        return;
                    }
                    var length = 0;
                    foreach (var port in owner._ports)
                    {
                        if (portRequest.PortNumber == OfPort.None || portRequest.PortNumber == port.Number)
                        {
                            port.Snapshot().TryWrite(body[length..], out n);
                            length += n;
                        }
                    }
                    Reply(OfStatsType.Port, 0, length, xid);
                    break;
                default:
                    Error(message, OfErrorType.BadRequest, OfErrorCode.BadRequestStat);
                    break;
            }
        }

        /// <summary>Flow stats in as many replies as needed (each under 64 KiB), all but the last flagged REPLY_MORE.</summary>
        private void FlowStats(List<FlowEntry> entries, uint xid)
        {
            var body = Scratch.AsSpan(OfStatsMessage.Size);
            var length = 0;
            var now = owner._clock.ElapsedNanoseconds;
            foreach (var entry in entries)
            {
                var age = Math.Max(0, now - entry.Created);
                var stats = new OfFlowStats
                {
                    TableId = 0,
                    Match = entry.Match,
                    DurationSeconds = (uint)(age / 1_000_000_000),
                    DurationNanoseconds = (uint)(age % 1_000_000_000),
                    Priority = entry.Priority,
                    IdleTimeout = entry.IdleTimeout,
                    HardTimeout = entry.HardTimeout,
                    Cookie = entry.Cookie,
                    PacketCount = entry.PacketCount,
                    ByteCount = entry.ByteCount,
                    Actions = entry.Actions,
                };
                if (!stats.TryWrite(body[length..], out var n))
                {
                    Reply(OfStatsType.Flow, OfStatsFlags.ReplyMore, length, xid);
                    length = 0;
                    stats.TryWrite(body, out n);
                }
                length += n;
            }
            Reply(OfStatsType.Flow, 0, length, xid);
        }

        private void Reply(OfStatsType type, ushort flags, int bodyLength, uint xid)
        {
            if (OfStatsMessage.TryWriteHeader(Scratch, OfType.StatsReply, type, flags, bodyLength, xid))
            {
                Channel.TrySend(Scratch.AsSpan(0, OfStatsMessage.Size + bodyLength));
            }
        }
    }

    /// <summary>A switch port: its interface, number, config bits and counters.</summary>
    private sealed class Port(INetworkInterface networkInterface, ushort number, string name)
    {
        public long RxPackets;
        public long TxPackets;
        public long RxBytes;
        public long TxBytes;
        public long RxDropped;
        public long TxDropped;

        public INetworkInterface Interface { get; } = networkInterface;

        public ushort Number { get; } = number;

        public string Name { get; } = name;

        public uint Config { get; set; }

        /// <summary>Counts a received frame (both versions' data paths); false, counted as dropped, when the port does not receive or the frame is not <paramref name="usable"/>.</summary>
        public bool Received(int length, bool usable)
        {
            Interlocked.Increment(ref RxPackets);
            Interlocked.Add(ref RxBytes, length);
            if (!usable || (Config & (OfPortConfig.NoReceive | OfPortConfig.PortDown)) != 0)
            {
                Interlocked.Increment(ref RxDropped);
                return false;
            }
            return true;
        }

        public OfPhysicalPort Description() =>
            new(Number, OfMatch.ReadMac(Interface.MacAddress), Name, Config, 0, Current: 0x40 | 0x200 /* 1 Gb full duplex, copper */);

        /// <summary>The 1.3 form: 32-bit number, 1 Gb/s full duplex copper in the 1.3 feature bits, speeds in kb/s.</summary>
        public Of13PortDescription Description13() =>
            new(Number, OfMatch.ReadMac(Interface.MacAddress), Name, Config, 0, Current: 0x20 | 0x800, CurrentSpeed: 1_000_000, MaxSpeed: 1_000_000);

        public OfPortStats Snapshot() => new()
        {
            PortNumber = Number,
            RxPackets = (ulong)Interlocked.Read(ref RxPackets),
            TxPackets = (ulong)Interlocked.Read(ref TxPackets),
            RxBytes = (ulong)Interlocked.Read(ref RxBytes),
            TxBytes = (ulong)Interlocked.Read(ref TxBytes),
            RxDropped = (ulong)Interlocked.Read(ref RxDropped),
            TxDropped = (ulong)Interlocked.Read(ref TxDropped),
        };
    }

    /// <summary>A ring of packet buffers: buffer id n lives in slot n mod count until that slot is reused.</summary>
    private sealed class PacketBuffers(int count, int slotSize)
    {
        private readonly Lock _gate = new();
        private readonly byte[] _data = new byte[count * slotSize];
        private readonly uint[] _ids = new uint[count];
        private readonly int[] _lengths = new int[count];
        private readonly ushort[] _inPorts = new ushort[count];
        private uint _next = 1;

        public int Count => count;

        public uint Store(ReadOnlySpan<byte> frame, ushort inPort)
        {
            if (frame.Length > slotSize)
            {
                return OfBuffer.None;
            }
            lock (_gate)
            {
                var id = _next++;
                if (_next == OfBuffer.None)
                {
                    _next = 1;
                }
                var slot = (int)(id % (uint)count);
                _ids[slot] = id;
                _lengths[slot] = frame.Length;
                _inPorts[slot] = inPort;
                frame.CopyTo(_data.AsSpan(slot * slotSize, slotSize));
                return id;
            }
        }

        /// <summary>Takes the packet out of the buffer (a buffer id is used once).</summary>
        public bool TryTake(uint id, Span<byte> destination, out int length, out ushort inPort)
        {
            lock (_gate)
            {
                var slot = (int)(id % (uint)count);
                if (id == 0 || _ids[slot] != id)
                {
                    length = 0;
                    inPort = 0;
                    return false;
                }
                _ids[slot] = 0;
                length = _lengths[slot];
                inPort = _inPorts[slot];
                _data.AsSpan(slot * slotSize, length).CopyTo(destination);
                return true;
            }
        }
    }
}
