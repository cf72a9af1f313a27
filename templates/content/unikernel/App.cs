using System;
using System.Threading;
using Unikernel.Devices;

namespace UnikernelApp;

/// <summary>The appliance's job: its constructor parameters are the devices and arguments it needs (see config.cs, or unikernel.yaml in the unikernel-yaml template).</summary>
public sealed class App(IConsole console, ITime time, string who, int times) : IJob
{
    public async Job RunAsync(CancellationToken cancellationToken)
    {
        for (var i = 1; i <= times; i++)
        {
            console.WriteLine($"hello, {who} ({i} of {times})");
            if (i < times)
            {
                await time.SleepAsync(TimeSpan.FromSeconds(1), cancellationToken);
            }
        }
    }
}
