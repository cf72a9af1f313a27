using Unikernel.Devices.Testing;

namespace Unikernel.Protocols.Tests.Net;

/// <summary>
/// Moves a <see cref="VirtualClock"/> 1 ms a step from a thread of its own, at most as fast as real time and for at
/// most 10 virtual minutes, so that stacks on that clock see their timers (retransmission, ARP, delayed ACK) run as
/// on a host. Starts with <see cref="Start"/>; <see cref="Dispose"/> stops the thread and waits for it.
/// </summary>
internal sealed class VirtualClockDriver : IDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly Thread _thread;

    public VirtualClockDriver(VirtualClock clock)
    {
        _thread = new Thread(() =>
        {
            for (var i = 0; i < 600_000 && !_stop.IsCancellationRequested; i++)
            {
                clock.Advance(TimeSpan.FromMilliseconds(1));
                Thread.Sleep(1);
            }
        }) { IsBackground = true, Name = "virtual-clock" };
    }

    public void Start() => _thread.Start();

    public void Dispose()
    {
        _stop.Cancel();
        if (_thread.IsAlive)
        {
            _thread.Join(TimeSpan.FromSeconds(5));
        }
        _stop.Dispose();
    }
}
