using System;
using System.Collections.Generic;
using System.Net;
using System.Threading;
using System.Threading.Tasks;
using Unikernel.Devices;

namespace Unikernel.Protocols.OpenFlow;

public sealed class LearningControllerOptions
{
    public IPEndPoint EndPoint { get; init; } = new(IPAddress.Any, 6653);

    /// <summary>Switches served at once; more connections are closed at accept.</summary>
    public int MaxSwitches { get; init; } = 1024;

    /// <summary>MAC addresses learned per switch; when full, new addresses are flooded without being learned.</summary>
    public int MaxMacsPerSwitch { get; init; } = 4096;

    public ushort IdleTimeout { get; init; } = 10;

    public ushort HardTimeout { get; init; } = 60;

    public ushort Priority { get; init; } = OfFlowMod.DefaultPriority;

    /// <summary>Output bytes queued for one switch above which we stop reading from it until it catches up.</summary>
    public int BackpressureBytes { get; init; } = 128 * 1024;

    /// <summary>Each of a switch's two output buffers (so a switch costs about 2 × this + 128 KiB of input buffer).</summary>
    public int OutputBufferBytes { get; init; } = 384 * 1024;

    /// <summary>Bytes of each table-miss packet the switch sends us.</summary>
    public ushort MissSendLength { get; init; } = 0xffff;

    /// <summary>Offer OpenFlow 1.3 as well as 1.0 (the switch's hello decides: the highest version both speak).</summary>
    public bool OpenFlow13 { get; init; } = true;
}

/// <summary>
/// An OpenFlow 1.0 and 1.3 controller whose application is a MAC-learning switch: on packet_in it learns the source address's
/// port, installs a flow (in_port, dl_src, dl_dst → output) with idle and hard timeouts when the destination is known
/// and floods otherwise; a port that goes down or away is forgotten and its flows deleted. Serves many switches, each on
/// its own connection, each with bounded memory (a fixed receive buffer, a bounded output queue, a bounded MAC table);
/// a switch that does not read its messages is not read from (TCP backpressure) while the others go on.
/// With a switch that speaks 1.3 it uses two tables (see <see cref="SwitchSession.OnHello13"/>): table 0 knows the
/// learned sources and sends the others to us while forwarding them on to table 1, which knows the destinations and
/// floods the rest; so the controller never sends packet_out in 1.3.
/// </summary>
public sealed class LearningController
{
    private readonly ITcp _tcp;
    private readonly LearningControllerOptions _options;
    private readonly Action<string> _log;
    private readonly Lock _gate = new();
    private readonly List<SwitchSession> _sessions = [];
    private ITcpListener? _listener;
    private long _packetIns;
    private long _flowMods;
    private long _packetOuts;
    private long _flowsRemoved;
    private long _errors;
    private long _switchesConnected;

    public LearningController(ITcp tcp, LearningControllerOptions? options = null, Action<string>? log = null)
    {
        ArgumentNullException.ThrowIfNull(tcp);
        _tcp = tcp;
        _options = options ?? new LearningControllerOptions();
        _log = log ?? (_ => { });
    }

    /// <summary>
    /// A controller over <paramref name="stack"/>'s TCP. On the direct stack the switches' connections continue on the
    /// stack's receive thread (run to completion, as <see cref="Http.HttpServer"/>): nothing here blocks a thread,
    /// every wait is an await.
    /// </summary>
    public LearningController(INetworkStack stack, LearningControllerOptions? options = null, Action<string>? log = null)
        : this((stack ?? throw new ArgumentNullException(nameof(stack))).Tcp, options, log)
    {
        if (stack is Net.DirectStack direct)
        {
            direct.RunTcpToCompletion = true;
        }
    }

    public long PacketIns => Interlocked.Read(ref _packetIns);
    public long FlowMods => Interlocked.Read(ref _flowMods);
    public long PacketOuts => Interlocked.Read(ref _packetOuts);
    public long FlowsRemoved => Interlocked.Read(ref _flowsRemoved);
    public long Errors => Interlocked.Read(ref _errors);
    public long SwitchesConnected => Interlocked.Read(ref _switchesConnected);

    public int ActiveSwitches
    {
        get
        {
            lock (_gate)
            {
                return _sessions.Count;
            }
        }
    }

    /// <summary>Datapath ids of the switches that completed the handshake.</summary>
    public IReadOnlyList<ulong> DatapathIds
    {
        get
        {
            lock (_gate)
            {
                var ids = new List<ulong>();
                foreach (var session in _sessions)
                {
                    if (session.DatapathId is { } id)
                    {
                        ids.Add(id);
                    }
                }
                return ids;
            }
        }
    }

    /// <summary>The listening endpoint (after <see cref="Listen"/>; port 0 becomes the real port).</summary>
    public IPEndPoint? LocalEndPoint => _listener?.LocalEndPoint;

    public void Listen() => _listener ??= _tcp.Listen(_options.EndPoint);

    public Task RunAsync(CancellationToken cancellationToken)
    {
        Listen();
        return OfConnection.AcceptLoopAsync(_listener!, async connection =>
        {
            if (ActiveSwitches >= _options.MaxSwitches)
            {
                _log($"refusing {connection.RemoteEndPoint}: already serving {_options.MaxSwitches} switches");
                await connection.DisposeAsync().ConfigureAwait(false);
                return;
            }
            Interlocked.Increment(ref _switchesConnected);
            var session = new SwitchSession(this, new OfConnection(connection, Math.Max(OfMessage.MaxLength, _options.OutputBufferBytes)));
            lock (_gate)
            {
                _sessions.Add(session);
            }
            await session.RunAsync(cancellationToken).ConfigureAwait(false);
        }, cancellationToken);
    }

    private void Remove(SwitchSession session)
    {
        lock (_gate)
        {
            _sessions.Remove(session);
        }
    }

    /// <summary>One switch: its channel, its learned addresses and its scratch buffer (reused for every message).</summary>
    private sealed class SwitchSession(LearningController owner, OfConnection connection) : OfSession(connection)
    {
        private readonly Dictionary<ulong, uint> _macs = [];
        private uint _xid;

        public ulong? DatapathId { get; private set; }

        private string Name => DatapathId is { } id ? id.ToString("x16", System.Globalization.CultureInfo.InvariantCulture) : Channel.RemoteEndPoint.ToString();

        public async Task RunAsync(CancellationToken cancellationToken)
        {
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            var writer = Channel.WriteLoopAsync(stop.Token);
            var reason = "";
            try
            {
                SendHello(NextXid());
                reason = await Channel.ReadLoopAsync(Handle, Backpressure, stop.Token).ConfigureAwait(false);
            }
            finally
            {
                stop.Cancel();
                try
                {
                    await writer.ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    // stopping
                }
                await Channel.DisposeAsync().ConfigureAwait(false);
                owner.Remove(this);
                owner._log($"switch {Name} disconnected: {reason}");
            }
        }

        /// <summary>After each read: send the answers at once, and read no more while this switch has not taken them.</summary>
        private async ValueTask Backpressure(CancellationToken cancellationToken)
        {
            await Channel.FlushAsync(cancellationToken).ConfigureAwait(false);
            await Channel.WaitForRoomAsync(owner._options.BackpressureBytes, cancellationToken).ConfigureAwait(false);
        }

        private uint NextXid() => ++_xid;

        protected override uint SupportedVersions => owner._options.OpenFlow13 ? OpenFlow10And13 : OpenFlow10Only;

        protected override void OnHello()
        {
            Send(new OfSimpleMessage(OfType.FeaturesRequest, default, Version).TryWrite(Scratch, NextXid(), out var n), n);
            Send(new OfSwitchConfig(OfConfigFlags.FragmentsNormal, owner._options.MissSendLength, Version).TryWrite(Scratch, OfType.SetConfig, NextXid(), out n), n);
            if (Version == OfVersion.OpenFlow13)
            {
                OnHello13();
            }
        }

        protected override void OnMessage(OfMessage message)
        {
            if (Version == OfVersion.OpenFlow13)
            {
                OnMessage13(message);
                return;
            }
            switch (message.Type)
            {
                case OfType.FeaturesReply when OfFeaturesReply.TryParse(message, out var features):
                    DatapathId = features.DatapathId;
                    owner._log($"switch {features.DatapathId:x16} connected from {Channel.RemoteEndPoint}: {features.PortCount} ports, {features.Buffers} buffers");
                    break;
                case OfType.PacketIn when OfPacketIn.TryParse(message, out var packetIn):
                    Interlocked.Increment(ref owner._packetIns);
                    PacketIn(packetIn);
                    break;
                case OfType.PortStatus when OfPortStatus.TryParse(message, out var status):
                    if ((status.Reason == OfPortReason.Delete || status.Port.IsDown) && status.Port.PortNumber < OfPort.Max)
                    {
                        PortGone(status.Port.PortNumber);
                    }
                    break;
                case OfType.FlowRemoved:
                    Interlocked.Increment(ref owner._flowsRemoved);
                    break;
                case OfType.Error:
                    Interlocked.Increment(ref owner._errors);
                    if (OfErrorMessage.TryParse(message, out var error))
                    {
                        owner._log($"switch {Name} reports error type {(int)error.ErrorType} code {error.Code}");
                    }
                    break;
                case OfType.EchoReply or OfType.BarrierReply or OfType.GetConfigReply or OfType.StatsReply or OfType.FeaturesReply or OfType.PacketIn or OfType.PortStatus:
                    break;
                case OfType.Vendor:
                    Error(message, OfErrorType.BadRequest, OfErrorCode.BadRequestVendor);
                    break;
                default:
                    Error(message, OfErrorType.BadRequest, OfErrorCode.BadRequestType);
                    break;
            }
        }

        private void PacketIn(OfPacketIn packetIn)
        {
            var frame = packetIn.Data;
            if (frame.Length < 14)
            {
                return;
            }
            var destination = OfMatch.ReadMac(frame);
            var source = OfMatch.ReadMac(frame[6..]);
            var options = owner._options;
            if ((source >> 40 & 1) == 0 && source != 0 && (_macs.Count < options.MaxMacsPerSwitch || _macs.ContainsKey(source)))
            {
                _macs[source] = packetIn.InPort;
            }
            Span<byte> actions = stackalloc byte[8];
            ushort outPort;
            if ((destination >> 40 & 1) == 0 && _macs.TryGetValue(destination, out var known))
            {
                if (known == packetIn.InPort)
                {
                    return; // the destination is behind the port it came from: drop (the buffer times out at the switch)
                }
                outPort = (ushort)known;
                OfAction.Output(outPort).TryWrite(actions, out _);
                var match = OfMatch.Any;
                match.Wildcards = OfWildcards.All & ~(OfWildcards.InPort | OfWildcards.DlSrc | OfWildcards.DlDst);
                match.InPort = packetIn.InPort;
                match.DlSrc = source;
                match.DlDst = destination;
                var flowMod = new OfFlowMod
                {
                    Match = match,
                    Command = OfFlowModCommand.Add,
                    IdleTimeout = options.IdleTimeout,
                    HardTimeout = options.HardTimeout,
                    Priority = options.Priority,
                    BufferId = packetIn.BufferId,
                    OutPort = OfPort.None,
                    Flags = OfFlowModFlags.SendFlowRemoved,
                    Actions = actions,
                };
                Send(flowMod.TryWrite(Scratch, NextXid(), out var n), n);
                Interlocked.Increment(ref owner._flowMods);
                if (packetIn.BufferId != OfBuffer.None)
                {
                    return; // the switch applies the flow to the buffered packet
                }
            }
            else
            {
                outPort = OfPort.Flood;
                OfAction.Output(outPort).TryWrite(actions, out _);
            }
            var packetOut = new OfPacketOut
            {
                BufferId = packetIn.BufferId,
                InPort = packetIn.InPort,
                Actions = actions,
                Data = packetIn.BufferId == OfBuffer.None ? frame : default,
            };
            Send(packetOut.TryWrite(Scratch, NextXid(), out var written), written);
            Interlocked.Increment(ref owner._packetOuts);
        }

        /// <summary>Forgets the addresses behind a port and deletes the flows into and out of it.</summary>
        private void PortGone(ushort port)
        {
            var stale = Forget(port);
            var deleteOut = new OfFlowMod { Match = OfMatch.Any, Command = OfFlowModCommand.Delete, OutPort = port, BufferId = OfBuffer.None };
            Send(deleteOut.TryWrite(Scratch, NextXid(), out var n), n);
            var match = OfMatch.Any;
            match.Wildcards &= ~OfWildcards.InPort;
            match.InPort = port;
            var deleteIn = new OfFlowMod { Match = match, Command = OfFlowModCommand.Delete, OutPort = OfPort.None, BufferId = OfBuffer.None };
            Send(deleteIn.TryWrite(Scratch, NextXid(), out n), n);
            owner._log($"switch {Name}: port {port} down, forgot {stale} address(es)");
        }

        private int Forget(uint port)
        {
            var stale = new List<ulong>();
            foreach (var (mac, p) in _macs)
            {
                if (p == port)
                {
                    stale.Add(mac);
                }
            }
            foreach (var mac in stale)
            {
                _macs.Remove(mac);
            }
            return stale.Count;
        }

        // ---- OpenFlow 1.3 -------------------------------------------------------------------------------------
        // Table 0 (sources): in_port+eth_src learned → goto_table 1; table-miss → apply_actions(output CONTROLLER,
        //   unbuffered) and goto_table 1, so a new source is learned while its packet goes on.
        // Table 1 (destinations): eth_dst learned → write_actions(output port); table-miss → apply_actions(FLOOD).
        // Learned entries have the idle and hard timeouts and say when they go; when a destination entry goes, its
        // source entry is deleted too, so the next packet from that address is learned again.

        /// <summary>The table-miss entries of both tables (priority 0, empty match).</summary>
        internal void OnHello13()
        {
            Span<byte> actions = stackalloc byte[Of13Action.OutputLength];
            Span<byte> instructions = stackalloc byte[8 + Of13Action.OutputLength + 8];
            Of13Action.Output(Of13Port.Controller, Of13ControllerMaxLength.NoBuffer).TryWrite(actions, out _);
            Of13Instruction.Apply(actions).TryWrite(instructions, out var length);
            Of13Instruction.GotoTable(1).TryWrite(instructions[length..], out var gotoLength);
            AddFlow13(0, 0, default, instructions[..(length + gotoLength)], idle: 0, hard: 0, flags: 0);
            Of13Action.Output(Of13Port.Flood).TryWrite(actions, out _);
            Of13Instruction.Apply(actions).TryWrite(instructions, out length);
            AddFlow13(1, 0, default, instructions[..length], idle: 0, hard: 0, flags: 0);
        }

        private void AddFlow13(byte table, ushort priority, ReadOnlySpan<byte> fields, ReadOnlySpan<byte> instructions, ushort idle, ushort hard, ushort flags)
        {
            var flowMod = new Of13FlowMod
            {
                TableId = table,
                Command = OfFlowModCommand.Add,
                IdleTimeout = idle,
                HardTimeout = hard,
                Priority = priority,
                BufferId = OfBuffer.None,
                OutPort = Of13Port.Any,
                OutGroup = Of13Group.Any,
                Flags = flags,
                Match = new Of13Match(fields),
                Instructions = instructions,
            };
            Send(flowMod.TryWrite(Scratch, NextXid(), out var n), n);
            Interlocked.Increment(ref owner._flowMods);
        }

        private void Delete13(byte table, ReadOnlySpan<byte> fields, uint outPort)
        {
            var flowMod = new Of13FlowMod
            {
                TableId = table,
                Command = OfFlowModCommand.Delete,
                BufferId = OfBuffer.None,
                OutPort = outPort,
                OutGroup = Of13Group.Any,
                Match = new Of13Match(fields),
            };
            Send(flowMod.TryWrite(Scratch, NextXid(), out var n), n);
        }

        private void OnMessage13(OfMessage message)
        {
            switch ((Of13Type)message.Type)
            {
                case Of13Type.FeaturesReply when Of13FeaturesReply.TryParse(message, out var features):
                    DatapathId = features.DatapathId;
                    owner._log($"switch {features.DatapathId:x16} connected from {Channel.RemoteEndPoint} (OpenFlow 1.3): {features.Tables} tables, {features.Buffers} buffers");
                    break;
                case Of13Type.PacketIn when Of13PacketIn.TryParse(message, out var packetIn):
                    Interlocked.Increment(ref owner._packetIns);
                    PacketIn13(packetIn);
                    break;
                case Of13Type.PortStatus when Of13PortStatus.TryParse(message, out var status):
                    if ((status.Reason == OfPortReason.Delete || status.Port.IsDown) && status.Port.PortNumber < Of13Port.Max)
                    {
                        PortGone13(status.Port.PortNumber);
                    }
                    break;
                case Of13Type.FlowRemoved when Of13FlowRemoved.TryParse(message, out var removed):
                    Interlocked.Increment(ref owner._flowsRemoved);
                    if (removed.TableId == 1 && removed.Match.TryGet(OxmField.EthDst, out var mac))
                    {
                        // The destination entry went: forget the address and its source entry, to learn it again.
                        _macs.Remove(mac);
                        Span<byte> fields = stackalloc byte[16];
                        var match = new OxmWriter(fields);
                        match.Add(OxmField.EthSrc, mac);
                        Delete13(0, match.Written, Of13Port.Any);
                    }
                    break;
                case Of13Type.Error:
                    Interlocked.Increment(ref owner._errors);
                    if (OfErrorMessage.TryParse(message, out var error))
                    {
                        owner._log($"switch {Name} reports error type {(int)error.ErrorType} code {error.Code}");
                    }
                    break;
                case Of13Type.EchoReply or Of13Type.BarrierReply or Of13Type.GetConfigReply or Of13Type.MultipartReply or Of13Type.RoleReply or Of13Type.GetAsyncReply
                    or Of13Type.FeaturesReply or Of13Type.PacketIn or Of13Type.PortStatus or Of13Type.FlowRemoved:
                    break;
                case Of13Type.Experimenter:
                    Error(message, OfErrorType.BadRequest, 3); // OFPBRC_BAD_EXPERIMENTER
                    break;
                default:
                    Error(message, OfErrorType.BadRequest, OfErrorCode.BadRequestType);
                    break;
            }
        }

        private void PacketIn13(Of13PacketIn packetIn)
        {
            var frame = packetIn.Data;
            var inPort = packetIn.InPort;
            if (frame.Length < 14 || inPort is 0 or >= Of13Port.Max)
            {
                return;
            }
            var source = OfMatch.ReadMac(frame[6..]);
            var options = owner._options;
            if ((source >> 40 & 1) != 0 || source == 0 || (_macs.Count >= options.MaxMacsPerSwitch && !_macs.ContainsKey(source)))
            {
                return; // table 1 forwards it; nothing to learn
            }
            _macs[source] = inPort;
            Span<byte> fields = stackalloc byte[32];
            Span<byte> actions = stackalloc byte[Of13Action.OutputLength];
            Span<byte> instructions = stackalloc byte[8 + Of13Action.OutputLength];
            // Table 1: to this address → write_actions(output its port).
            var match = new OxmWriter(fields);
            match.Add(OxmField.EthDst, source);
            Of13Action.Output(inPort).TryWrite(actions, out _);
            Of13Instruction.Write(actions).TryWrite(instructions, out var length);
            AddFlow13(1, options.Priority, match.Written, instructions[..length], options.IdleTimeout, options.HardTimeout, Of13FlowModFlags.SendFlowRemoved);
            // Table 0: from this address on this port → goto_table 1 (no more packet_in for it).
            match = new OxmWriter(fields);
            match.Add(OxmField.InPort, inPort);
            match.Add(OxmField.EthSrc, source);
            Of13Instruction.GotoTable(1).TryWrite(instructions, out length);
            AddFlow13(0, options.Priority, match.Written, instructions[..length], options.IdleTimeout, options.HardTimeout, 0);
        }

        private void PortGone13(uint port)
        {
            var stale = Forget(port);
            Delete13(Of13Table.All, default, port);
            Span<byte> fields = stackalloc byte[8];
            var match = new OxmWriter(fields);
            match.Add(OxmField.InPort, port);
            Delete13(0, match.Written, Of13Port.Any);
            owner._log($"switch {Name}: port {port} down, forgot {stale} address(es)");
        }
    }
}
