using Unikernel.Devices.Vm;

namespace Unikernel.EndToEnd.Tests.Vm;

/// <summary>Outside a VM (not PID 1) the init is a no-op: the same appliance binary runs on unix.</summary>
public sealed class VmInitTests
{
    [Fact]
    public void Not_init_outside_a_vm() => Assert.False(VmInit.IsInit);

    [Fact]
    public void Initialize_is_a_no_op_and_Exit_returns_the_code_when_not_pid_1()
    {
        VmInit.Initialize();
        Assert.Equal(7, VmInit.Exit(7));
        Assert.Equal(0, VmInit.Exit(0));
    }
}
