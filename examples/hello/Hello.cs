using System;
using System.Threading;
using Unikernel.Devices;

namespace HelloAppliance;

/// <summary>Prints a line every second, <c>ticks</c> times, then exits: the smallest useful appliance.</summary>
public sealed class Hello(IConsole console, ITime time, int ticks) : IJob
{
    public async Job RunAsync(CancellationToken cancellationToken)
    {
        for (var tick = 1; tick <= ticks; tick++)
        {
            console.WriteLine($"hello: tick {tick} of {ticks}");
            if (tick < ticks)
            {
                await time.SleepAsync(TimeSpan.FromSeconds(1), cancellationToken);
            }
        }
    }
}
