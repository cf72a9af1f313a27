using Unikernel.Devices.Unix;

namespace Unikernel.Devices.Tests;

public class UnixRandomTests
{
    [Fact]
    public void Fills_any_length_with_bytes_that_differ_between_calls()
    {
        var random = new UnixRandom();
        random.Fill([]);
        var first = new byte[100_000]; // more than one getrandom call may return at once for some kernels
        var second = new byte[100_000];
        random.Fill(first);
        random.Fill(second);
        Assert.False(first.AsSpan().SequenceEqual(second));
        // Every byte value turns up in 100,000 random bytes (the chance that one does not is below 1e-160).
        Assert.Equal(256, first.Distinct().Count());
    }
}
