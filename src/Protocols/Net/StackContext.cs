using System;
using System.Threading;
using Unikernel.Devices;

namespace Unikernel.Protocols.Net;

/// <summary>
/// What every layer of one <see cref="DirectStack"/> shares: the lock, the clock, the counters, the interface's IPv4
/// configuration and a way to pull the timer loop forward.
/// </summary>
/// <remarks>
/// Lock discipline: <see cref="Gate"/> is the only lock over protocol state, for every layer. The receive thread holds
/// it for a batch of frames, the timer loop for one poll, a socket call for one send. Code that runs under it (every
/// method named <c>…Locked</c>, every <see cref="IIPv4Handler"/> and <see cref="IStackTimer"/> callback) must not block,
/// wait or call out to user code; the only locks it may take are leaf locks (a socket's receive queue, the echo-reply
/// set) that are never held while taking <see cref="Gate"/>. Frames sent under the lock are batched and go out when the
/// holder flushes (<see cref="IIPv4.Enter"/> does it on dispose).
/// </remarks>
internal sealed class StackContext(IMonotonicClock clock, Action<long> wakeTimer)
{
    public Lock Gate { get; } = new();

    public DirectStackCounters Counters { get; } = new();

    public IPv4Settings IPv4 { get; } = new();

    public long Now => clock.ElapsedNanoseconds;

    /// <summary>Makes the timer loop run the timers no later than <paramref name="deadline"/>.</summary>
    public void WakeTimerLocked(long deadline) => wakeTimer(deadline);
}

/// <summary>The interface's IPv4 configuration (static, or from DHCP); read and written under the stack's lock.</summary>
internal sealed class IPv4Settings
{
    public bool IsConfigured { get; private set; }

    /// <summary>Our address (0 until configured).</summary>
    public uint Address { get; private set; }

    public uint Mask { get; private set; }

    public uint Gateway { get; private set; }

    public void Configure(uint address, uint mask, uint gateway)
    {
        Address = address;
        Mask = mask;
        Gateway = gateway;
        IsConfigured = true;
    }

    public void Clear()
    {
        Address = 0;
        Mask = 0;
        Gateway = 0;
        IsConfigured = false;
    }

    /// <summary>True for an address on our subnet (false until configured).</summary>
    public bool IsOnLink(uint address) => IsConfigured && ((address ^ Address) & Mask) == 0;

    /// <summary>The limited broadcast, or our subnet's directed broadcast (none on /31 and /32 links).</summary>
    public bool IsBroadcast(uint address) =>
        address == IPv4Address.Broadcast || (IsConfigured && (~Mask & 0xFFFF_FFFE) != 0 && address == (Address | ~Mask));
}

/// <summary>Something with deadlines the stack's timer loop drives (ARP retries, reassembly, DHCP, TCP retransmission).</summary>
internal interface IStackTimer
{
    /// <summary>Does what is due at <paramref name="now"/> (under the lock).</summary>
    void PollLocked(long now);

    /// <summary>When <see cref="PollLocked"/> next has work (under the lock); <see cref="long.MaxValue"/> for never.</summary>
    long NextDeadline { get; }
}
