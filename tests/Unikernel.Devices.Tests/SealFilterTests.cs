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

    /// <summary>Runs a filter as the kernel would (the instructions BuildFilter uses) on one call: its return value.</summary>
    private static uint Evaluate(Seal.Instruction[] filter, string call, params ulong[] arguments)
    {
        var data = new byte[64];
        BitConverter.GetBytes(SystemCallTable.Number(call)).CopyTo(data, 0);
        BitConverter.GetBytes(SystemCallTable.AuditArchX86_64).CopyTo(data, 4);
        for (var i = 0; i < arguments.Length; i++)
        {
            BitConverter.GetBytes(arguments[i]).CopyTo(data, 16 + (8 * i));
        }
        uint a = 0;
        for (var pc = 0; pc < filter.Length; pc++)
        {
            var instruction = filter[pc];
            switch (instruction.Code)
            {
                case 0x20: a = BitConverter.ToUInt32(data, (int)instruction.K); break;
                case 0x15: pc += a == instruction.K ? instruction.JumpTrue : instruction.JumpFalse; break;
                case 0x35: pc += a >= instruction.K ? instruction.JumpTrue : instruction.JumpFalse; break;
                case 0x45: pc += (a & instruction.K) != 0 ? instruction.JumpTrue : instruction.JumpFalse; break;
                case 0x06: return instruction.K;
                default: throw new InvalidOperationException($"instruction {instruction} is not one the seal uses");
            }
        }
        throw new InvalidOperationException("the filter ran off its end");
    }

    [Fact]
    public void Read_and_write_are_allowed_only_on_the_descriptors_open_when_sealing()
    {
        var filter = Seal.BuildFilter(["read", "write", "writev", "futex"], 4242, [0, 1, 2, 5, 9], []);
        foreach (var fd in new ulong[] { 0, 1, 2, 5, 9 })
        {
            Assert.Equal(Allow, Evaluate(filter, "read", fd, 0, 16));
            Assert.Equal(Allow, Evaluate(filter, "write", fd, 0, 16));
            Assert.Equal(Allow, Evaluate(filter, "writev", fd, 0, 1));
        }
        foreach (var fd in new ulong[] { 3, 4, 6, 10, 1000, 0xffffffff })
        {
            Assert.Equal(Kill, Evaluate(filter, "read", fd, 0, 16));
            Assert.Equal(Kill, Evaluate(filter, "write", fd, 0, 16));
        }
        // The kernel reads the descriptor as an unsigned int: the upper half of the register is not part of it.
        Assert.Equal(Allow, Evaluate(filter, "write", 0x1_0000_0001, 0, 16));
        Assert.Equal(Allow, Evaluate(filter, "futex", 77));
        Assert.Equal(Kill, Evaluate(filter, "openat", 0));
    }

    [Fact]
    public void A_call_declared_on_new_descriptors_keeps_any_descriptor_and_no_list_means_no_check()
    {
        var declared = Seal.BuildFilter(["read", "write"], 1, [1, 2], ["read"]);
        Assert.Equal(Allow, Evaluate(declared, "read", 77));
        Assert.Equal(Kill, Evaluate(declared, "write", 77));
        var unchecked_ = Seal.BuildFilter(["read", "write"], 1);
        Assert.Equal(Allow, Evaluate(unchecked_, "write", 77));
        // From the uses: only a use with NewDescriptors lifts the check, for its call only.
        Assert.Equal(["recvfrom"], Seal.NewDescriptorCalls([new("runtime", "write", ""), new("stack", "recvfrom", "", true)]));
    }

    [Fact]
    public void Many_descriptors_are_allowed_as_a_range_up_to_the_highest()
    {
        var many = Enumerable.Range(0, Seal.MaxListedDescriptors + 10).Where(fd => fd != 7).ToArray();
        var filter = Seal.BuildFilter(["write"], 1, many, []);
        Assert.Equal(Allow, Evaluate(filter, "write", 0));
        Assert.Equal(Allow, Evaluate(filter, "write", (ulong)many[^1]));
        Assert.Equal(Kill, Evaluate(filter, "write", (ulong)many[^1] + 1));
        Assert.Equal(Kill, Evaluate(filter, "write", 0xffffffff));
    }

    [Fact]
    public void The_open_descriptors_are_this_process_s_with_standard_output_and_error()
    {
        using var file = File.OpenRead(typeof(SealFilterTests).Assembly.Location);
        var handle = (int)file.SafeFileHandle.DangerousGetHandle();
        var open = Seal.OpenDescriptors();
        Assert.Contains(1, open);
        Assert.Contains(2, open);
        Assert.Contains(handle, open);
        Assert.All(open, fd => Assert.True(fd >= 0));
    }

    [Fact]
    public void An_unknown_name_is_refused_before_anything_is_installed()
    {
        var error = Assert.Throws<ArgumentException>(() => Seal.BuildFilter(["read", "no_such_call"], 1));
        Assert.Contains("no_such_call", error.Message);
    }
}
