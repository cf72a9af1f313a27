using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.Threading;

namespace Unikernel.Protocols.OpenFlow;

/// <summary>
/// The OpenFlow 1.3 side of the switch: the multi-table pipeline on the data path (instructions, the action set, no
/// implicit packet_in on a miss) and the 1.3 messages on the control channel.
/// </summary>
public sealed partial class SoftwareSwitch
{
    /// <summary>A 1.3 packet_in's bytes before the frame: 24 of fields, a match of in_port and metadata (24 padded), 2 of padding.</summary>
    private const int PacketIn13Header = 64;

    private const uint SupportedPortConfig13 = OfPortConfig.PortDown | OfPortConfig.NoReceive | OfPortConfig.NoForward | OfPortConfig.NoPacketIn;

    /// <summary>
    /// The fields set_field rewrites (FrameRewriter.SetField): every field the pipeline matches but in_port,
    /// in_phy_port, metadata (not packet headers), eth_type and ip_proto (they would change what the packet is) and
    /// nd_sll/nd_tll (options that may be missing).
    /// </summary>
    private static ReadOnlySpan<OxmField> SettableFields13 =>
    [
        OxmField.EthDst, OxmField.EthSrc, OxmField.VlanVid, OxmField.VlanPcp, OxmField.IpDscp, OxmField.IpEcn, OxmField.Ipv4Src, OxmField.Ipv4Dst,
        OxmField.TcpSrc, OxmField.TcpDst, OxmField.UdpSrc, OxmField.UdpDst, OxmField.SctpSrc, OxmField.SctpDst, OxmField.Icmpv4Type, OxmField.Icmpv4Code,
        OxmField.ArpOp, OxmField.ArpSpa, OxmField.ArpTpa, OxmField.ArpSha, OxmField.ArpTha, OxmField.Ipv6Src, OxmField.Ipv6Dst, OxmField.Ipv6FlowLabel,
        OxmField.Icmpv6Type, OxmField.Icmpv6Code, OxmField.Ipv6NdTarget,
    ];

    private readonly long _started;
    private long _misses13;
    private long _invalidTtl13;

    /// <summary>The 1.3 pipeline (<see cref="SoftwareSwitchOptions.Tables13"/> tables).</summary>
    public Of13Pipeline Flows13 { get; }

    /// <summary>Packets the 1.3 pipeline dropped because a table had no entry for them (and no table-miss entry).</summary>
    public long Misses13 => Interlocked.Read(ref _misses13);

    /// <summary>Packets dec_nw_ttl stopped because their TTL or hop limit was 0 or 1 (sent to the controller or dropped, by the switch config).</summary>
    public long InvalidTtl13 => Interlocked.Read(ref _invalidTtl13);

    /// <summary>The state of one packet through the pipeline: the bytes (the received frame until something rewrites it), metadata.</summary>
    private ref struct Packet13
    {
        public ReadOnlySpan<byte> Current;
        public bool Copied; // Current is in the context's rewrite buffer
        public bool Modified; // since the fields were last extracted
        public ulong Metadata;
    }

    /// <summary>
    /// The action set of one packet (OpenFlow 1.3 section 5.10): at most one action per kind, one set_field per field,
    /// executed in the specification's order. Slots refer to action bytes in flow entries' immutable arrays.
    /// </summary>
    private sealed class ActionSet13
    {
        private const int PopVlan = 0;
        private const int PushVlan = 1;
        private const int DecNwTtl = 2;
        private const int SetNwTtl = 3;
        private const int SetField = 4;
        private const int SetQueue = SetField + Of13PacketFields.FieldCount;
        private const int Output = SetQueue + 1;
        public const int Slots = Output + 1;

        private readonly byte[]?[] _arrays = new byte[Slots][];
        private readonly int[] _offsets = new int[Slots];
        private readonly int[] _lengths = new int[Slots];
        private ulong _used;

        public void Clear() => _used = 0;

        /// <summary>write_actions: each action replaces the one of its kind.</summary>
        public void Write(byte[] actions)
        {
            var offset = 0;
            while (Of13Action.TryRead(actions.AsSpan(offset), out var action, out var n, out _))
            {
                var slot = action.Type switch
                {
                    Of13ActionType.PopVlan => PopVlan,
                    Of13ActionType.PushVlan => PushVlan,
                    Of13ActionType.DecNwTtl => DecNwTtl,
                    Of13ActionType.SetNwTtl => SetNwTtl,
                    Of13ActionType.SetField when Oxm.TryRead(action.Field, out var oxm, out _) && oxm.Field < Of13PacketFields.FieldCount => SetField + oxm.Field,
                    Of13ActionType.SetQueue => SetQueue,
                    Of13ActionType.Output => Output,
                    _ => -1,
                };
                if (slot >= 0)
                {
                    _arrays[slot] = actions;
                    _offsets[slot] = offset;
                    _lengths[slot] = n;
                    _used |= 1UL << slot;
                }
                offset += n;
            }
        }

        public bool TryGet(int slot, out ReadOnlySpan<byte> action)
        {
            if ((_used & (1UL << slot)) == 0 || _arrays[slot] is not { } array)
            {
                action = default;
                return false;
            }
            action = array.AsSpan(_offsets[slot], _lengths[slot]);
            return true;
        }
    }

    // ---- data path -----------------------------------------------------------------------------------------------

    private void Process13(Port port, ReadOnlySpan<byte> frame, PathContext context)
    {
        if (!port.Received(frame.Length, frame.Length >= 14))
        {
            return;
        }
        RunPipeline(0, frame, port.Number, 0, null, context);
    }

    /// <summary>
    /// Runs a packet through the tables from <paramref name="table"/>: each entry's apply-actions at once, its
    /// clear/write-actions and write-metadata, then the next table or (at the end) the action set. A table without a
    /// matching entry drops the packet. <paramref name="first"/>: the entry to use in the first table (a flow_mod's
    /// buffered packet goes to the flow just added).
    /// </summary>
    private void RunPipeline(int table, ReadOnlySpan<byte> frame, uint inPort, ulong metadata, Of13FlowEntry? first, PathContext context)
    {
        var packet = new Packet13 { Current = frame, Metadata = metadata };
        var fields = context.Fields13;
        fields.Extract(frame, inPort, metadata);
        var set = context.ActionSet;
        set.Clear();
        var now = _clock.ElapsedNanoseconds;
        for (var hops = 0; hops < Flows13.Tables; hops++)
        {
            var entry = first ?? Flows13.Lookup(table, fields, packet.Current.Length, now);
            if (first is not null)
            {
                Flows13.CountHit(first, packet.Current.Length, now);
                first = null;
            }
            if (entry is null)
            {
                Interlocked.Increment(ref _misses13);
                return;
            }
            var program = entry.Program; // one consistent set, even while a flow_mod modifies the entry
            if (program.ApplyActions is { } apply && !ExecuteActions13(apply, ref packet, inPort, entry, context, packetOut: false))
            {
                return;
            }
            if (program.ClearActions)
            {
                set.Clear();
            }
            if (program.WriteActions is { } write)
            {
                set.Write(write);
            }
            if (program.MetadataMask != 0)
            {
                packet.Metadata = (packet.Metadata & ~program.MetadataMask) | (program.Metadata & program.MetadataMask);
            }
            var next = program.GotoTable;
            if (next <= table || next >= Flows13.Tables)
            {
                ExecuteActionSet(set, ref packet, inPort, entry, context);
                return;
            }
            table = next;
            // Later tables match the packet as the actions so far left it.
            if (packet.Modified)
            {
                fields.Extract(packet.Current, inPort, packet.Metadata);
                packet.Modified = false;
            }
            else
            {
                fields.SetMetadata(packet.Metadata);
            }
        }
    }

    private void ExecuteActionSet(ActionSet13 set, ref Packet13 packet, uint inPort, Of13FlowEntry entry, PathContext context)
    {
        for (var slot = 0; slot < ActionSet13.Slots; slot++)
        {
            if (set.TryGet(slot, out var bytes) && !ExecuteActions13(bytes, ref packet, inPort, entry, context, packetOut: false))
            {
                return;
            }
        }
    }

    /// <summary>Applies a validated 1.3 action list in order; false when the packet is dropped (a TTL ran out).</summary>
    private bool ExecuteActions13(ReadOnlySpan<byte> actions, ref Packet13 packet, uint inPort, Of13FlowEntry? entry, PathContext context, bool packetOut)
    {
        while (Of13Action.TryRead(actions, out var action, out var n, out _))
        {
            actions = actions[n..];
            switch (action.Type)
            {
                case Of13ActionType.Output:
                    Output13(action.Port, action.MaxLength, ref packet, inPort, entry, context, packetOut);
                    break;
                case Of13ActionType.PushVlan or Of13ActionType.PopVlan or Of13ActionType.SetField or Of13ActionType.DecNwTtl or Of13ActionType.SetNwTtl:
                    if (!Copy(ref packet, context))
                    {
                        return false;
                    }
                    var length = Rewrite13(action, context.Rewrite, packet.Current.Length);
                    if (length < 0)
                    {
                        OnInvalidTtl13(ref packet, inPort, entry, context, packetOut);
                        return false;
                    }
                    packet.Current = context.Rewrite.AsSpan(0, length);
                    packet.Modified = true;
                    break;
                // set_queue: the ports have one queue each, which every output uses.
            }
        }
        return true;
    }

    /// <summary>
    /// dec_nw_ttl on a TTL (hop limit) of 0 or 1: the packet is not forwarded and the rest of the actions are not
    /// executed (1.3.5 section 5.12, "Decrement IP TTL"). With OFPC_INVALID_TTL_TO_CONTROLLER in set_config's flags it
    /// goes to the controller as a packet_in with reason OFPR_INVALID_TTL, of at most miss_send_len bytes (the length
    /// for packet_ins that no output action asked for, section 7.3.2), else it is dropped.
    /// </summary>
    private void OnInvalidTtl13(ref Packet13 packet, uint inPort, Of13FlowEntry? entry, PathContext context, bool packetOut)
    {
        Interlocked.Increment(ref _invalidTtl13);
        if ((_configFlags & OfConfigFlags.InvalidTtlToController) == 0)
        {
            return;
        }
        if (PacketInAllowed13(inPort, packetOut))
        {
            SendPacketIn13(packet.Current, inPort, (byte)OfPacketInReason.InvalidTtl, entry?.TableId ?? 0, entry?.Cookie ?? ulong.MaxValue, _missSendLength, packet.Metadata, context);
        }
    }

    /// <summary>Moves the packet into the rewrite buffer (once) so that actions never change the received frame.</summary>
    private static bool Copy(ref Packet13 packet, PathContext context)
    {
        if (packet.Copied)
        {
            return true;
        }
        if (packet.Current.Length > SlotSize)
        {
            return false;
        }
        packet.Current.CopyTo(context.Rewrite);
        packet.Current = context.Rewrite.AsSpan(0, packet.Current.Length);
        packet.Copied = true;
        return true;
    }

    /// <summary>One rewriting action on the frame in <paramref name="buffer"/>; the new length, or -1 to drop the packet (TTL expired).</summary>
    private static int Rewrite13(in Of13Action action, byte[] buffer, int length)
    {
        var frame = buffer.AsSpan(0, length);
        var tagged = length >= 18 && BinaryPrimitives.ReadUInt16BigEndian(frame[12..]) is 0x8100 or 0x88a8;
        var l3 = tagged ? 18 : 14;
        var ethType = BinaryPrimitives.ReadUInt16BigEndian(frame[(l3 - 2)..]);
        switch (action.Type)
        {
            case Of13ActionType.PushVlan:
                if (length + FrameRewriter.VlanTagLength > buffer.Length)
                {
                    return length;
                }
                // The new outer tag copies the VID and PCP of the tag it covers, if any (1.3 section 5.12).
                var tci = tagged ? BinaryPrimitives.ReadUInt16BigEndian(frame[14..]) : (ushort)0;
                buffer.AsSpan(12, length - 12).CopyTo(buffer.AsSpan(16));
                BinaryPrimitives.WriteUInt16BigEndian(buffer.AsSpan(12), (ushort)action.Value);
                BinaryPrimitives.WriteUInt16BigEndian(buffer.AsSpan(14), tci);
                return length + FrameRewriter.VlanTagLength;
            case Of13ActionType.PopVlan:
                if (!tagged)
                {
                    return length;
                }
                buffer.AsSpan(16, length - 16).CopyTo(buffer.AsSpan(12));
                return length - FrameRewriter.VlanTagLength;
            case Of13ActionType.DecNwTtl or Of13ActionType.SetNwTtl:
                if (ethType == 0x0800 && length >= l3 + 20)
                {
                    var ip = frame[l3..];
                    var old = BinaryPrimitives.ReadUInt16BigEndian(ip[8..]);
                    if (action.Type == Of13ActionType.DecNwTtl && ip[8] <= 1)
                    {
                        return -1;
                    }
                    ip[8] = action.Type == Of13ActionType.DecNwTtl ? (byte)(ip[8] - 1) : (byte)action.Value;
                    FrameRewriter.Update16(ip[10..], old, BinaryPrimitives.ReadUInt16BigEndian(ip[8..]));
                }
                else if (ethType == 0x86dd && length >= l3 + 40)
                {
                    var hopLimit = frame[l3 + 7];
                    if (action.Type == Of13ActionType.DecNwTtl && hopLimit <= 1)
                    {
                        return -1;
                    }
                    frame[l3 + 7] = action.Type == Of13ActionType.DecNwTtl ? (byte)(hopLimit - 1) : (byte)action.Value;
                }
                return length;
        }
        return Oxm.TryRead(action.Field, out var oxm, out _) ? FrameRewriter.SetField((OxmField)oxm.Field, oxm.Value, buffer, length) : length;
    }

    private void Output13(uint portNumber, ushort maxLength, ref Packet13 packet, uint inPort, Of13FlowEntry? entry, PathContext context, bool packetOut)
    {
        var frame = packet.Current;
        switch (portNumber)
        {
            case Of13Port.InPort:
                if (inPort <= (uint)_ports.Length)
                {
                    Enqueue((ushort)inPort, frame, context);
                }
                break;
            case Of13Port.Flood or Of13Port.All:
                foreach (var port in _ports)
                {
                    if (port.Number != inPort && (portNumber == Of13Port.All || (port.Config & OfPortConfig.NoFlood) == 0))
                    {
                        Enqueue(port.Number, frame, context);
                    }
                }
                break;
            case Of13Port.Controller:
                // The table-miss entry's packet_in says "no match" (1.3 section 6.4), any other entry's "action".
                var reason = entry is { IsTableMiss: true } ? (byte)OfPacketInReason.NoMatch : (byte)OfPacketInReason.Action;
                if (PacketInAllowed13(inPort, packetOut))
                {
                    SendPacketIn13(frame, inPort, reason, entry?.TableId ?? 0, entry?.Cookie ?? ulong.MaxValue, maxLength, packet.Metadata, context);
                }
                break;
            case Of13Port.Table when packetOut:
                // The pipeline reuses the rewrite buffer, so the packet goes in from a copy.
                if (frame.Length <= context.TableInput.Length)
                {
                    frame.CopyTo(context.TableInput);
                    RunPipeline(0, context.TableInput.AsSpan(0, frame.Length), inPort, 0, null, context);
                }
                break;
            default:
                if (portNumber != inPort && portNumber > 0 && portNumber <= (uint)_ports.Length)
                {
                    Enqueue((ushort)portNumber, frame, context);
                }
                break; // LOCAL, NORMAL and unknown ports: this switch has none of them
        }
    }

    /// <summary>OFPPC_NO_PACKET_IN on the packet's in_port stops its packet_ins, but not those a packet_out's own actions ask for.</summary>
    private bool PacketInAllowed13(uint inPort, bool packetOut) =>
        packetOut || !(inPort is > 0 && inPort <= (uint)_ports.Length && (_ports[inPort - 1].Config & OfPortConfig.NoPacketIn) != 0);

    private void SendPacketIn13(ReadOnlySpan<byte> frame, uint inPort, byte reason, byte tableId, ulong cookie, ushort maxLength, ulong metadata, PathContext context)
    {
        if (_channel is not { } channel || !_channel13)
        {
            Interlocked.Increment(ref _packetInsDropped);
            return;
        }
        var bufferId = maxLength == Of13ControllerMaxLength.NoBuffer || inPort == 0 || inPort > (uint)_ports.Length ? OfBuffer.None : _buffers.Store(frame, (ushort)inPort);
        var data = bufferId == OfBuffer.None ? frame : frame[..Math.Min(frame.Length, maxLength)];
        Span<byte> fields = stackalloc byte[24];
        var match = new OxmWriter(fields);
        match.Add(OxmField.InPort, inPort);
        if (metadata != 0)
        {
            match.Add(OxmField.Metadata, metadata);
        }
        var packetIn = new Of13PacketIn { BufferId = bufferId, TotalLength = (ushort)frame.Length, Reason = reason, TableId = tableId, Cookie = cookie, Match = new Of13Match(match.Written), Data = data };
        if (packetIn.TryWrite(context.Message, 0, out var n) && channel.TrySend(context.Message.AsSpan(0, n)))
        {
            Interlocked.Increment(ref _packetIns);
        }
        else
        {
            Interlocked.Increment(ref _packetInsDropped);
        }
    }

    private void SendFlowRemoved13(Of13FlowEntry entry, byte reason, long now)
    {
        if ((entry.Flags & Of13FlowModFlags.SendFlowRemoved) == 0 || _channel is not { } channel || !_channel13)
        {
            return;
        }
        var age = Math.Max(0, now - entry.Created);
        var removed = new Of13FlowRemoved
        {
            Cookie = entry.Cookie, Priority = entry.Priority, Reason = reason, TableId = entry.TableId,
            DurationSeconds = (uint)(age / 1_000_000_000), DurationNanoseconds = (uint)(age % 1_000_000_000),
            IdleTimeout = entry.IdleTimeout, HardTimeout = entry.HardTimeout, PacketCount = entry.PacketCount, ByteCount = entry.ByteCount,
            Match = new Of13Match(entry.Match.OxmFields),
        };
        var buffer = new byte[removed.Length]; // per removed flow, not per packet
        if (removed.TryWrite(buffer, 0, out var n))
        {
            channel.TrySend(buffer.AsSpan(0, n));
        }
    }

    // ---- control channel -------------------------------------------------------------------------------------------

    private sealed partial class ControlSession
    {
        private void Error13(OfMessage message, ushort type, ushort code) => Error(message, (OfErrorType)type, code);

        private void OnMessage13(OfMessage message)
        {
            int n;
            switch ((Of13Type)message.Type)
            {
                case Of13Type.EchoReply:
                    break;
                case Of13Type.FeaturesRequest:
                    var features = new Of13FeaturesReply(owner.DatapathId, (uint)owner._buffers.Count, (byte)owner.Flows13.Tables, 0,
                        Of13Capabilities.FlowStats | Of13Capabilities.TableStats | Of13Capabilities.PortStats);
                    Send(features.TryWrite(Scratch, message.Xid, out n), n);
                    break;
                case Of13Type.GetConfigRequest:
                    Send(new OfSwitchConfig(owner._configFlags, owner._missSendLength, OfVersion.OpenFlow13).TryWrite(Scratch, OfType.GetConfigReply, message.Xid, out n), n);
                    break;
                case Of13Type.SetConfig:
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
                case Of13Type.FlowMod:
                    FlowMod13(message);
                    break;
                case Of13Type.PacketOut:
                    PacketOut13(message);
                    break;
                case Of13Type.PortMod:
                    PortMod13(message);
                    break;
                case Of13Type.BarrierRequest:
                    // Messages are handled in order and completely, so everything before the barrier is done.
                    Send(new OfSimpleMessage((OfType)Of13Type.BarrierReply, default, OfVersion.OpenFlow13).TryWrite(Scratch, message.Xid, out n), n);
                    break;
                case Of13Type.MultipartRequest:
                    Multipart13(message);
                    break;
                case Of13Type.RoleRequest:
                    // One controller at a time and no roles: every controller is equal.
                    if (Of13Role.TryParse(message, out var role))
                    {
                        Send(new Of13Role(Of13Role.Equal, role.GenerationId).TryWrite(Scratch, Of13Type.RoleReply, message.Xid, out n), n);
                    }
                    else
                    {
                        Error(message, OfErrorType.BadRequest, OfErrorCode.BadRequestLength);
                    }
                    break;
                case Of13Type.GetAsyncRequest:
                    GetAsyncReply(message.Xid);
                    break;
                case Of13Type.QueueGetConfigRequest:
                    // No port has queues beyond its default one: the reply lists none.
                    if (message.Length != 16)
                    {
                        Error(message, OfErrorType.BadRequest, OfErrorCode.BadRequestLength);
                        break;
                    }
                    if (OfMessage.TryWriteHeader(Scratch, OfVersion.OpenFlow13, (OfType)Of13Type.QueueGetConfigReply, 16, message.Xid))
                    {
                        message.Bytes[8..16].CopyTo(Scratch.AsSpan(8));
                        Send(true, 16);
                    }
                    break;
                case Of13Type.TableMod:
                    // 1.3 table config bits are all deprecated: nothing to change, but the table must exist.
                    if (message.Length != 16)
                    {
                        Error(message, OfErrorType.BadRequest, OfErrorCode.BadRequestLength);
                    }
                    else if (message.Bytes[8] >= owner.Flows13.Tables && message.Bytes[8] != Of13Table.All)
                    {
                        Error13(message, Of13Error.TableModFailed, Of13Error.TableModBadTable);
                    }
                    break;
                case Of13Type.GroupMod:
                    GroupMod13(message);
                    break;
                case Of13Type.MeterMod:
                    Error(message, OfErrorType.BadRequest, OfErrorCode.BadRequestType); // no meters (features and meter_features say so)
                    break;
                case Of13Type.Experimenter:
                    Error(message, OfErrorType.BadRequest, Of13Error.BadRequestExperimenter);
                    break;
                case Of13Type.Error:
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

        /// <summary>What asynchronous messages a controller gets: all of them (set_async is not supported).</summary>
        private void GetAsyncReply(uint xid)
        {
            const int size = 32;
            if (!OfMessage.TryWriteHeader(Scratch, OfVersion.OpenFlow13, (OfType)Of13Type.GetAsyncReply, size, xid))
            {
                return;
            }
            var b = Scratch.AsSpan(8, size - 8);
            // Pairs of masks (master/equal, slave): packet_in reasons, port_status reasons, flow_removed reasons.
            // Packet_in: no match, action, invalid TTL (when set_config asks for it).
            ReadOnlySpan<uint> masks = [0x7, 0x0, 0x7, 0x7, 0xf, 0x0];
            for (var i = 0; i < masks.Length; i++)
            {
                BinaryPrimitives.WriteUInt32BigEndian(b[(4 * i)..], masks[i]);
            }
            Send(true, size);
        }

        private void GroupMod13(OfMessage message)
        {
            if (message.Length < 16)
            {
                Error(message, OfErrorType.BadRequest, OfErrorCode.BadRequestLength);
                return;
            }
            // The switch has no group table: adding fails for want of room, modifying names a group that does not
            // exist, deleting one that does not exist is not an error (1.3 section 6.5).
            switch (BinaryPrimitives.ReadUInt16BigEndian(message.Bytes[8..]))
            {
                case 0:
                    Error13(message, Of13Error.GroupModFailed, Of13Error.GroupModOutOfGroups);
                    break;
                case 1:
                    Error13(message, Of13Error.GroupModFailed, Of13Error.GroupModUnknownGroup);
                    break;
                case 2:
                    break;
                default:
                    Error13(message, Of13Error.GroupModFailed, Of13Error.GroupModBadCommand);
                    break;
            }
        }

        /// <summary>-1 when every action is one this switch executes (with ports it has), else the ofp_bad_action_code.</summary>
        private int CheckActions13(ReadOnlySpan<byte> actions, bool packetOut)
        {
            var bad = Of13Action.Validate(actions);
            if (bad >= 0)
            {
                return bad;
            }
            while (Of13Action.TryRead(actions, out var action, out var n, out _))
            {
                actions = actions[n..];
                switch (action.Type)
                {
                    case Of13ActionType.Output:
                        if (action.Port == 0 || action.Port < Of13Port.Max && action.Port > (uint)owner._ports.Length || action.Port == Of13Port.Any || action.Port == Of13Port.Table && !packetOut)
                        {
                            return OfErrorCode.BadActionOutPort;
                        }
                        break;
                    case Of13ActionType.PushVlan:
                        if (action.Value is not (0x8100 or 0x88a8))
                        {
                            return OfErrorCode.BadActionArgument;
                        }
                        break;
                    case Of13ActionType.SetField:
                        Oxm.TryRead(action.Field, out var oxm, out _);
                        if (oxm.HasMask)
                        {
                            return Of13Error.BadActionSetArgument;
                        }
                        if (oxm.Class != Oxm.OpenFlowBasic || !SettableFields13.Contains((OxmField)oxm.Field))
                        {
                            return Of13Error.BadActionSetType;
                        }
                        break;
                    case Of13ActionType.PopVlan or Of13ActionType.SetQueue or Of13ActionType.DecNwTtl or Of13ActionType.SetNwTtl:
                        break;
                    case Of13ActionType.Group:
                        return Of13Error.BadActionOutGroup;
                    case Of13ActionType.Experimenter:
                        return OfErrorCode.BadActionVendor;
                    default:
                        return OfErrorCode.BadActionType; // MPLS, PBB and TTL copies: not done
                }
            }
            return -1;
        }

        /// <summary>Checks a flow's instructions; false after sending the error.</summary>
        private bool CheckInstructions13(OfMessage message, ReadOnlySpan<byte> instructions, byte table)
        {
            var bad = Of13Instruction.Validate(instructions);
            if (bad >= 0)
            {
                if (bad >= 0x100)
                {
                    Error(message, OfErrorType.BadAction, (ushort)(bad - 0x100));
                }
                else
                {
                    Error13(message, Of13Error.BadInstruction, (ushort)bad);
                }
                return false;
            }
            var seen = 0;
            while (Of13Instruction.TryRead(instructions, out var instruction, out var n, out _))
            {
                instructions = instructions[n..];
                var bit = 1 << Math.Min(15, (int)instruction.Type);
                if ((seen & bit) != 0 || instruction.Type is Of13InstructionType.Meter or Of13InstructionType.Experimenter)
                {
                    Error13(message, Of13Error.BadInstruction, Of13ErrorCode.BadInstructionUnsupported);
                    return false;
                }
                seen |= bit;
                if (instruction.Type == Of13InstructionType.GotoTable && (instruction.TableId <= table || instruction.TableId >= owner.Flows13.Tables))
                {
                    Error13(message, Of13Error.BadInstruction, Of13ErrorCode.BadInstructionTableId);
                    return false;
                }
                if (instruction.Type is Of13InstructionType.ApplyActions or Of13InstructionType.WriteActions && CheckActions13(instruction.Actions, packetOut: false) is var badAction and >= 0)
                {
                    Error(message, OfErrorType.BadAction, (ushort)badAction);
                    return false;
                }
            }
            return true;
        }

        private void FlowMod13(OfMessage message)
        {
            if (!Of13FlowMod.TryParse(message, out var flowMod))
            {
                Error(message, OfErrorType.BadRequest, OfErrorCode.BadRequestLength);
                return;
            }
            var command = flowMod.Command;
            var delete = command is OfFlowModCommand.Delete or OfFlowModCommand.DeleteStrict;
            if (command > OfFlowModCommand.DeleteStrict)
            {
                Error13(message, Of13Error.FlowModFailed, Of13Error.FlowModBadCommand);
                return;
            }
            if (flowMod.TableId >= owner.Flows13.Tables && !(delete && flowMod.TableId == Of13Table.All))
            {
                Error13(message, Of13Error.FlowModFailed, Of13Error.FlowModBadTableId);
                return;
            }
            if (!Of13CompiledMatch.TryCompile(flowMod.Match, out var match, out var badMatch))
            {
                Error13(message, Of13Error.BadMatch, badMatch);
                return;
            }
            if (!delete && !CheckInstructions13(message, flowMod.Instructions, flowMod.TableId))
            {
                return;
            }
            var now = owner._clock.ElapsedNanoseconds;
            var strict = command is OfFlowModCommand.ModifyStrict or OfFlowModCommand.DeleteStrict;
            Of13FlowEntry? added = null;
            switch (command)
            {
                case OfFlowModCommand.Add:
                    added = new Of13FlowEntry(flowMod.TableId, match, flowMod.Priority, flowMod.Cookie, flowMod.IdleTimeout, flowMod.HardTimeout, flowMod.Flags, flowMod.Instructions.ToArray(), now);
                    switch (owner.Flows13.Add(added, (flowMod.Flags & Of13FlowModFlags.CheckOverlap) != 0))
                    {
                        case Of13Pipeline.AddResult.TableFull:
                            Error13(message, Of13Error.FlowModFailed, Of13Error.FlowModTableFull);
                            return;
                        case Of13Pipeline.AddResult.Overlap:
                            Error13(message, Of13Error.FlowModFailed, Of13Error.FlowModOverlap);
                            return;
                    }
                    owner._dataPath13 = true; // the pipeline of the version flows were last programmed in forwards
                    break;
                case OfFlowModCommand.Modify or OfFlowModCommand.ModifyStrict:
                    // 1.3: a modify that selects nothing changes nothing (1.0 added the flow).
                    var modified = owner.Flows13.Select(flowMod.TableId, match, flowMod.Priority, strict, Of13Port.Any, Of13Group.Any, flowMod.Cookie, flowMod.CookieMask);
                    owner.Flows13.Modify(modified, flowMod.Instructions.ToArray(), (flowMod.Flags & Of13FlowModFlags.ResetCounts) != 0);
                    owner._dataPath13 = true;
                    break;
                default:
                    var removed = owner.Flows13.Select(flowMod.TableId, match, flowMod.Priority, strict, flowMod.OutPort, flowMod.OutGroup, flowMod.Cookie, flowMod.CookieMask);
                    owner.Flows13.Remove(removed);
                    foreach (var entry in removed)
                    {
                        owner.SendFlowRemoved13(entry, (byte)OfFlowRemovedReason.Delete, now);
                    }
                    return; // a delete's buffer_id is ignored
            }
            if (flowMod.BufferId != OfBuffer.None)
            {
                if (owner._buffers.TryTake(flowMod.BufferId, _frame, out var length, out var inPort))
                {
                    // As a packet_out to TABLE after the flow_mod; an added flow takes the packet in its own table.
                    owner.RunPipeline(added?.TableId ?? 0, _frame.AsSpan(0, length), inPort, 0, added, _context);
                    owner.Flush(_context);
                }
                else
                {
                    Error(message, OfErrorType.BadRequest, OfErrorCode.BadRequestBufferUnknown);
                }
            }
        }

        private void PacketOut13(OfMessage message)
        {
            if (!Of13PacketOut.TryParse(message, out var packetOut))
            {
                Error(message, OfErrorType.BadRequest, OfErrorCode.BadRequestLength);
                return;
            }
            if (CheckActions13(packetOut.Actions, packetOut: true) is var bad and >= 0)
            {
                Error(message, OfErrorType.BadAction, (ushort)bad);
                return;
            }
            var inPort = packetOut.InPort;
            if (!(inPort is > 0 && inPort <= (uint)owner._ports.Length || inPort is Of13Port.Controller or Of13Port.Local))
            {
                Error(message, OfErrorType.BadRequest, Of13Error.BadRequestBadPort);
                return;
            }
            ReadOnlySpan<byte> frame;
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
            var packet = new Packet13 { Current = frame };
            owner.ExecuteActions13(packetOut.Actions, ref packet, inPort, null, _context, packetOut: true);
            owner.Flush(_context);
        }

        private void PortMod13(OfMessage message)
        {
            if (!Of13PortMod.TryParse(message, out var portMod))
            {
                Error(message, OfErrorType.BadRequest, OfErrorCode.BadRequestLength);
                return;
            }
            if (portMod.PortNumber == 0 || portMod.PortNumber > (uint)owner._ports.Length)
            {
                Error13(message, Of13Error.PortModFailed, Of13Error.PortModBadPort);
                return;
            }
            var port = owner._ports[portMod.PortNumber - 1];
            if (portMod.HardwareAddress != OfMatch.ReadMac(port.Interface.MacAddress))
            {
                Error13(message, Of13Error.PortModFailed, Of13Error.PortModBadHardwareAddress);
                return;
            }
            var mask = portMod.Mask & SupportedPortConfig13;
            port.Config = (port.Config & ~mask) | (portMod.Config & mask);
            Send(new Of13PortStatus(OfPortReason.Modify, port.Description13()).TryWrite(Scratch, 0, out var n), n);
        }

        private void Multipart13(OfMessage message)
        {
            if (!Of13Multipart.TryParse(message, out var request))
            {
                Error(message, OfErrorType.BadRequest, OfErrorCode.BadRequestLength);
                return;
            }
            var body = Scratch.AsSpan(Of13Multipart.Size);
            var xid = message.Xid;
            var type = request.MultipartType;
            int n;
            switch (type)
            {
                case Of13MultipartType.Description:
                    new OfDescriptionStats("Unikernel", "software switch over network interfaces", "Unikernel.Protocols.OpenFlow", "none", owner._options.Description).TryWrite(body, out n);
                    Reply13(type, 0, n, xid);
                    break;
                case Of13MultipartType.Flow or Of13MultipartType.Aggregate:
                    if (!Of13FlowStatsRequest.TryRead(request.Body, out var flowRequest))
                    {
                        Error(message, OfErrorType.BadRequest, OfErrorCode.BadRequestLength);
                        return;
                    }
                    if (!Of13CompiledMatch.TryCompile(flowRequest.Match, out var match, out var badMatch))
                    {
                        Error13(message, Of13Error.BadMatch, badMatch);
                        return;
                    }
                    var entries = flowRequest.TableId < owner.Flows13.Tables || flowRequest.TableId == Of13Table.All
                        ? owner.Flows13.Select(flowRequest.TableId, match, 0, strict: false, flowRequest.OutPort, flowRequest.OutGroup, flowRequest.Cookie, flowRequest.CookieMask)
                        : [];
                    if (type == Of13MultipartType.Aggregate)
                    {
                        ulong packets = 0, bytes = 0;
                        foreach (var entry in entries)
                        {
                            packets += entry.PacketCount;
                            bytes += entry.ByteCount;
                        }
                        new OfAggregateStats(packets, bytes, (uint)entries.Count).TryWrite(body, out n);
                        Reply13(type, 0, n, xid);
                        break;
                    }
                    FlowStats13(entries, xid);
                    break;
                case Of13MultipartType.Table:
                    var length = 0;
                    for (var t = 0; t < owner.Flows13.Tables; t++)
                    {
                        new Of13TableStats((byte)t, (uint)owner.Flows13.CountIn(t), (ulong)owner.Flows13.Lookups(t), (ulong)owner.Flows13.Matched(t)).TryWrite(body[length..], out n);
                        length += n;
                    }
                    Reply13(type, 0, length, xid);
                    break;
                case Of13MultipartType.PortStats:
                    if (!Of13PortStats.TryReadRequest(request.Body, out var portNumber))
                    {
                        Error(message, OfErrorType.BadRequest, OfErrorCode.BadRequestLength);
                        return;
                    }
                    if (portNumber != Of13Port.Any && (portNumber == 0 || portNumber > (uint)owner._ports.Length))
                    {
                        Error(message, OfErrorType.BadRequest, Of13Error.BadRequestBadPort);
                        return;
                    }
                    var age = Math.Max(0, owner._clock.ElapsedNanoseconds - owner._started);
                    length = 0;
                    foreach (var port in owner._ports)
                    {
                        if (portNumber == Of13Port.Any || portNumber == port.Number)
                        {
                            new Of13PortStats(port.Number, port.Snapshot(), (uint)(age / 1_000_000_000), (uint)(age % 1_000_000_000)).TryWrite(body[length..], out n);
                            length += n;
                        }
                    }
                    Reply13(type, 0, length, xid);
                    break;
                case Of13MultipartType.PortDescription:
                    length = 0;
                    foreach (var port in owner._ports)
                    {
                        port.Description13().TryWrite(body[length..], out n);
                        length += n;
                    }
                    Reply13(type, 0, length, xid);
                    break;
                case Of13MultipartType.Group or Of13MultipartType.GroupDescription or Of13MultipartType.Meter or Of13MultipartType.MeterConfig or Of13MultipartType.Queue:
                    Reply13(type, 0, 0, xid); // there are no groups, meters or extra queues to list
                    break;
                case Of13MultipartType.TableFeatures:
                    if (!request.Body.IsEmpty)
                    {
                        Error13(message, Of13Error.TableFeaturesFailed, Of13Error.TableFeaturesPermission); // the tables cannot be reconfigured
                        return;
                    }
                    TableFeatures13(xid);
                    break;
                case Of13MultipartType.Experimenter:
                    Error(message, OfErrorType.BadRequest, Of13Error.BadRequestExperimenter);
                    break;
                default:
                    Error(message, OfErrorType.BadRequest, Of13Error.BadRequestMultipart); // group and meter features
                    break;
            }
        }

        /// <summary>What every table takes (the same for all but the next tables); a reply of about 1000 bytes a table, several when needed.</summary>
        private void TableFeatures13(uint xid)
        {
            Span<uint> instructions = [(uint)Of13InstructionType.GotoTable << 16 | 4, (uint)Of13InstructionType.WriteMetadata << 16 | 4, (uint)Of13InstructionType.WriteActions << 16 | 4,
                (uint)Of13InstructionType.ApplyActions << 16 | 4, (uint)Of13InstructionType.ClearActions << 16 | 4];
            ReadOnlySpan<uint> actions = [(uint)Of13ActionType.Output << 16 | 4, (uint)Of13ActionType.PushVlan << 16 | 4, (uint)Of13ActionType.PopVlan << 16 | 4,
                (uint)Of13ActionType.SetQueue << 16 | 4, (uint)Of13ActionType.SetNwTtl << 16 | 4, (uint)Of13ActionType.DecNwTtl << 16 | 4, (uint)Of13ActionType.SetField << 16 | 4];
            Span<uint> match = stackalloc uint[(int)OxmField.Ipv6NdTll + 1];
            Span<uint> wildcards = stackalloc uint[match.Length];
            for (var f = 0; f < match.Length; f++)
            {
                match[f] = Of13TableFeatures.OxmHeader((OxmField)f, Of13CompiledMatch.IsMaskable((OxmField)f));
                wildcards[f] = Of13TableFeatures.OxmHeader((OxmField)f, false);
            }
            var settable = SettableFields13;
            Span<uint> setFields = stackalloc uint[settable.Length];
            for (var i = 0; i < settable.Length; i++)
            {
                setFields[i] = Of13TableFeatures.OxmHeader(settable[i], false);
            }
            var tables = owner.Flows13.Tables;
            Span<uint> next = stackalloc uint[tables];
            var body = Scratch.AsSpan(Of13Multipart.Size, OfMessage.MaxLength - Of13Multipart.Size);
            var length = 0;
            for (var t = 0; t < tables; t++)
            {
                var entry = body[length..];
                if (entry.Length < 1536)
                {
                    Reply13(Of13MultipartType.TableFeatures, Of13Multipart.FlagMore, length, xid);
                    length = 0;
                    entry = body;
                }
                Of13TableFeatures.TryWriteHeader(entry, (byte)t, $"table{t}", ulong.MaxValue, ulong.MaxValue, (uint)owner.Flows13.Capacity);
                var n = Of13TableFeatures.HeaderSize;
                var nextCount = 0;
                for (var u = t + 1; u < tables; u++)
                {
                    next[nextCount++] = (uint)u;
                }
                // The last table has no goto_table.
                var instructionList = t == tables - 1 ? instructions[1..] : instructions;
                n += Of13TableFeatures.TryWriteProperty(entry[n..], Of13TableFeatures.Instructions, instructionList);
                n += Of13TableFeatures.TryWriteProperty(entry[n..], Of13TableFeatures.InstructionsMiss, instructionList);
                n += Of13TableFeatures.TryWriteProperty(entry[n..], Of13TableFeatures.NextTables, next[..nextCount], byteItems: true);
                n += Of13TableFeatures.TryWriteProperty(entry[n..], Of13TableFeatures.NextTablesMiss, next[..nextCount], byteItems: true);
                n += Of13TableFeatures.TryWriteProperty(entry[n..], Of13TableFeatures.WriteActions, actions);
                n += Of13TableFeatures.TryWriteProperty(entry[n..], Of13TableFeatures.WriteActionsMiss, actions);
                n += Of13TableFeatures.TryWriteProperty(entry[n..], Of13TableFeatures.ApplyActions, actions);
                n += Of13TableFeatures.TryWriteProperty(entry[n..], Of13TableFeatures.ApplyActionsMiss, actions);
                n += Of13TableFeatures.TryWriteProperty(entry[n..], Of13TableFeatures.Match, match);
                n += Of13TableFeatures.TryWriteProperty(entry[n..], Of13TableFeatures.Wildcards, wildcards);
                n += Of13TableFeatures.TryWriteProperty(entry[n..], Of13TableFeatures.WriteSetField, setFields);
                n += Of13TableFeatures.TryWriteProperty(entry[n..], Of13TableFeatures.WriteSetFieldMiss, setFields);
                n += Of13TableFeatures.TryWriteProperty(entry[n..], Of13TableFeatures.ApplySetField, setFields);
                n += Of13TableFeatures.TryWriteProperty(entry[n..], Of13TableFeatures.ApplySetFieldMiss, setFields);
                Of13TableFeatures.Finish(entry[..n]);
                length += n;
            }
            Reply13(Of13MultipartType.TableFeatures, 0, length, xid);
        }

        /// <summary>Flow stats in as many replies as needed (each under 64 KiB), all but the last flagged REPLY_MORE.</summary>
        private void FlowStats13(List<Of13FlowEntry> entries, uint xid)
        {
            var body = Scratch.AsSpan(Of13Multipart.Size);
            var length = 0;
            var now = owner._clock.ElapsedNanoseconds;
            foreach (var entry in entries)
            {
                var age = Math.Max(0, now - entry.Created);
                var stats = new Of13FlowStats
                {
                    TableId = entry.TableId,
                    DurationSeconds = (uint)(age / 1_000_000_000),
                    DurationNanoseconds = (uint)(age % 1_000_000_000),
                    Priority = entry.Priority,
                    IdleTimeout = entry.IdleTimeout,
                    HardTimeout = entry.HardTimeout,
                    Flags = entry.Flags,
                    Cookie = entry.Cookie,
                    PacketCount = entry.PacketCount,
                    ByteCount = entry.ByteCount,
                    Match = new Of13Match(entry.Match.OxmFields),
                    Instructions = entry.Instructions,
                };
                if (!stats.TryWrite(body[length..], out var n))
                {
                    Reply13(Of13MultipartType.Flow, Of13Multipart.FlagMore, length, xid);
                    length = 0;
                    stats.TryWrite(body, out n);
                }
                length += n;
            }
            Reply13(Of13MultipartType.Flow, 0, length, xid);
        }

        /// <summary>Sends a multipart reply whose body is already in <see cref="OfSession.Scratch"/> after the 16-byte header.</summary>
        private void Reply13(Of13MultipartType type, ushort flags, int bodyLength, uint xid)
        {
            if (!OfMessage.TryWriteHeader(Scratch, OfVersion.OpenFlow13, (OfType)Of13Type.MultipartReply, Of13Multipart.Size + bodyLength, xid))
            {
                return;
            }
            BinaryPrimitives.WriteUInt16BigEndian(Scratch.AsSpan(8), (ushort)type);
            BinaryPrimitives.WriteUInt16BigEndian(Scratch.AsSpan(10), flags);
            Scratch.AsSpan(12, 4).Clear();
            Channel.TrySend(Scratch.AsSpan(0, Of13Multipart.Size + bodyLength));
        }
    }
}
