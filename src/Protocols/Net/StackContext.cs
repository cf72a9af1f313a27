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
    private int _interfaceLost;

    public Lock Gate { get; } = new();

    /// <summary>Where the stack's log lines go (standard error unless a test captures them).</summary>
    public Action<string> Log { get; set; } = Runtime.StdIo.WriteErrorLine;

    /// <summary>What happens once the interface is gone for good (after the error is logged); see <see cref="DirectStack.InterfaceLostExitCode"/>.</summary>
    public Action<NetworkInterfaceGoneException> InterfaceLost { get; set; } = static _ => Environment.Exit(DirectStack.InterfaceLostExitCode);

    /// <summary>True once the interface is gone: nothing is received or sent any more.</summary>
    public bool IsInterfaceLost => Volatile.Read(ref _interfaceLost) != 0;

    /// <summary>The first report logs at error level and runs <see cref="InterfaceLost"/> off the caller's thread (which may hold the lock); later ones do nothing.</summary>
    public void ReportInterfaceLost(NetworkInterfaceGoneException exception)
    {
        if (Interlocked.Exchange(ref _interfaceLost, 1) != 0)
        {
            return;
        }
        Counters.Errors++;
        Counters.LastError = exception;
        Log($"direct-stack: error: the network interface is gone ({exception.Message}); " +
            $"ending the appliance with exit status {DirectStack.InterfaceLostExitCode} so that a supervisor can restart it");
        var action = InterfaceLost;
        ThreadPool.UnsafeQueueUserWorkItem(static state => state.Action(state.Exception), (Action: action, Exception: exception), preferLocal: false);
    }

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

    /// <summary>
    /// A source address no datagram we accept may carry (RFC 1122 §3.2.1.3, §4.1.3.6; RFC 1812 §5.3.7): 0.0.0.0, a
    /// broadcast, multicast, loopback (127/8), class E (240/4), or our own address. Answering one would reflect traffic
    /// to a broadcast or loop it back.
    /// </summary>
    public bool IsInvalidSource(uint address) =>
        address == 0 || IsBroadcast(address) || IPv4Address.IsMulticast(address) || address >> 24 == 127 || address >> 28 == 0xF
        || (IsConfigured && address == Address);

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
