using System.Reflection;
using Unikernel.Devices;
using Unikernel.Runtime;

namespace Unikernel.Devices.Tests;

/// <summary>The seal's filter as data: every declared call exists on x86-64, and the program has the shape it must.</summary>
public sealed class SealFilterTests
{
    private const uint Kill = 0x80000000;
    private const uint Allow = 0x7fff0000;

    public static TheoryData<string> DeclaringTypes()
    {
        var data = new TheoryData<string>();
        foreach (var type in Declaring())
        {
            data.Add(type.FullName!);
        }
        return data;
    }

    private static IEnumerable<Type> Declaring() =>
        new[] { typeof(Seal).Assembly, typeof(Unikernel.Protocols.Net.DirectStack).Assembly }
            .SelectMany(a => a.GetTypes())
            .Where(t => t.GetCustomAttributes<SystemCallsAttribute>().Any());

    [Theory]
    [MemberData(nameof(DeclaringTypes))]
    public void Every_declared_call_is_an_x86_64_system_call_with_a_reason(string typeName)
    {
        var type = Declaring().Single(t => t.FullName == typeName);
        foreach (var attribute in type.GetCustomAttributes<SystemCallsAttribute>())
        {
            Assert.False(string.IsNullOrWhiteSpace(attribute.Reason), $"{typeName}: [SystemCalls({string.Join(", ", attribute.Calls)})] has no Reason");
            foreach (var call in attribute.Calls)
            {
                Assert.True(SystemCallTable.Number(call) >= 0, $"{typeName} declares '{call}', which x86-64 has not");
            }
        }
    }

    [Theory]
    // From the kernel's arch/x86/entry/syscalls/syscall_64.tbl: both ends of each numbered range and calls between.
    [InlineData("read", 0)]
    [InlineData("write", 1)]
    [InlineData("futex", 202)]
    [InlineData("epoll_wait", 232)]
    [InlineData("recvmmsg", 299)]
    [InlineData("sendmmsg", 307)]
    [InlineData("getrandom", 318)]
    [InlineData("rseq", 334)]
    [InlineData("pidfd_send_signal", 424)]
    [InlineData("io_uring_enter", 426)]
    [InlineData("clone3", 435)]
    [InlineData("set_mempolicy_home_node", 450)]
    [InlineData("no_such_call", -1)]
    [InlineData("read write", -1)]
    [InlineData("rea", -1)]
    [InlineData("", -1)]
    public void The_table_gives_the_kernel_numbers(string name, int number) =>
        Assert.Equal(number, SystemCallTable.Number(name));

    [Fact]
    public void Calls_are_distinct_and_sorted_and_the_filter_tests_a_call_named_twice_once()
    {
        var uses = new[] { new SystemCallUse("a", "write", "r"), new SystemCallUse("b", "read", "r"), new SystemCallUse("c", "write", "r") };
        Assert.Equal(["read", "write"], Seal.Calls(uses));
        Assert.Equal(2, Seal.CallCount(uses));
        var filter = Seal.BuildFilter(["write", "read", "write"], 1);
        Assert.Equal([0u, 1u], filter.Where(i => i.Code == 0x15 && i.K < 1000).Select(i => i.K).ToList());
    }

    [Fact]
    public void The_runtime_base_set_never_allows_exec_open_or_ptrace()
    {
        var calls = typeof(Seal).GetCustomAttributes<SystemCallsAttribute>().SelectMany(a => a.Calls).ToHashSet();
        Assert.Contains("futex", calls);
        foreach (var forbidden in new[] { "execve", "execveat", "open", "openat", "openat2", "ptrace", "fork", "vfork", "socket", "process_vm_writev" })
        {
            Assert.DoesNotContain(forbidden, calls);
        }
    }

    [Fact]
    public void The_filter_checks_the_architecture_first_and_kills_by_default()
    {
        var filter = Seal.BuildFilter(["read", "write", "futex"], 4242);
        // ld arch; jeq AUDIT_ARCH_X86_64; ret kill; ld nr; jge x32 bit; ret kill
        Assert.Equal((ushort)0x20, filter[0].Code);
        Assert.Equal(4u, filter[0].K);
        Assert.Equal(SystemCallTable.AuditArchX86_64, filter[1].K);
        Assert.Equal(Kill, filter[2].K);
        Assert.Equal((uint)SystemCallTable.X32Bit, filter[4].K);
        Assert.Equal(Kill, filter[^1].K);
        Assert.Equal((ushort)0x06, filter[^1].Code);
        // One jeq + allow per plain call, in number order (read 0, write 1, futex 202).
        var tests = filter.Where(i => i.Code == 0x15 && i.K < 1000).Select(i => i.K).ToList();
        Assert.Equal([0u, 1u, 202u], tests);
        Assert.Equal(3, filter.Count(i => i.Code == 0x06 && i.K == Allow));
    }

    [Fact]
    public void Argument_checks_refuse_exec_mappings_new_processes_and_other_processes()
    {
        var filter = Seal.BuildFilter(["mprotect", "clone", "clone3", "tgkill", "socket"], 4242);
        // mprotect: PROT_EXEC tested with jset on argument 3 (offset 32).
        Assert.Contains(filter, i => i.Code == 0x20 && i.K == 32);
        Assert.Contains(filter, i => i.Code == 0x45 && i.K == 0x4);
        // clone: CLONE_THREAD required.
        Assert.Contains(filter, i => i.Code == 0x45 && i.K == 0x10000);
        // clone3: ENOSYS.
        Assert.Contains(filter, i => i.Code == 0x06 && i.K == (0x00050000u | 38));
        // tgkill: only this process.
        Assert.Contains(filter, i => i.Code == 0x15 && i.K == 4242);
    }

    [Fact]
    public void An_unknown_name_is_refused_before_anything_is_installed()
    {
        var error = Assert.Throws<ArgumentException>(() => Seal.BuildFilter(["read", "no_such_call"], 1));
        Assert.Contains("no_such_call", error.Message);
    }
}
