using System;
using System.Collections.Generic;
using System.Globalization;
using System.Runtime.InteropServices;
using Unikernel.Devices;

namespace Unikernel.Devices
{
    /// <summary>
    /// The system calls a device implementation (or a job) makes once the appliance has started, with why. The
    /// generator unions them over the devices a configuration wires, adds the runtime's own (<see cref="Runtime.Seal"/>),
    /// and a sealed image (<c>-p:UnikernelSeal=true</c>) allows exactly those after start: any other call kills it.
    /// Calls made only while constructing or starting the device (open, ioctl, bind, ...) do not belong here.
    /// </summary>
    [AttributeUsage(AttributeTargets.Class, AllowMultiple = true, Inherited = false)]
    public sealed class SystemCallsAttribute(params string[] calls) : Attribute
    {
        /// <summary>Names as in x86-64 Linux's system call table (recvmmsg, epoll_wait, ...).</summary>
        public IReadOnlyList<string> Calls { get; } = calls;

        /// <summary>Why the implementation needs them (shown in the list next to the image).</summary>
        public string? Reason { get; init; }
    }
}

namespace Unikernel.Runtime
{
    /// <summary>One entry of an image's allow-list: which device (or "runtime") needs which call, and why.</summary>
    public sealed record SystemCallUse(string Device, string Call, string Reason);

    /// <summary>
    /// Seals a started appliance: a classic-BPF seccomp filter, built here from the image's allow-list (no libseccomp),
    /// that kills the whole process on any other call, on a foreign architecture or ABI, and on the argument checks of
    /// <see cref="SealRules"/> (no PROT_EXEC, threads but no processes, ...). Installed with
    /// <c>SECCOMP_FILTER_FLAG_TSYNC</c> (every runtime thread) after <c>PR_SET_NO_NEW_PRIVS</c>; where the kernel has it,
    /// <c>PR_SET_MDWE</c> also refuses writable+executable memory. The process is made non-dumpable (no core file, no
    /// ptrace attach by an unprivileged user). Calls the NativeAOT runtime makes on its own after start are declared
    /// here, once.
    /// </summary>
    [SystemCalls("futex", "sched_yield", "clock_nanosleep", "restart_syscall", Reason = "threads wait and wake: locks, the thread pool, timers (glibc's nanosleep is clock_nanosleep; the kernel restarts a sleep a signal interrupted)")]
    [SystemCalls("clock_gettime", "gettid", "getpid", Reason = "time and thread identity (the vDSO answers most clock_gettime calls)")]
    [SystemCalls("mmap", "munmap", "madvise", "mprotect", "brk", Reason = "the GC commits, decommits and resets memory; thread stacks and their guard pages; glibc's malloc")]
    [SystemCalls("clone", "clone3", "set_robust_list", "rseq", "rt_sigprocmask", "prctl", "sched_getaffinity", Reason = "the thread pool starts threads (glibc's pthread_create)")]
    [SystemCalls("exit", "exit_group", Reason = "a thread ends; the appliance exits")]
    [SystemCalls("rt_sigreturn", "tgkill", Reason = "signals: the GC suspends threads with a signal; SIGINT/SIGTERM handling")]
    [SystemCalls("read", "write", Reason = "standard output and error (the log); the runtime's signal pipe")]
    [SystemCalls("membarrier", Reason = "the GC's FlushProcessWriteBuffers on suspension")]
    [SystemCalls("getrusage", Reason = "the thread pool measures CPU use")]
    [SystemCalls("rt_sigaction", "close", Reason = "at exit: SIGINT/SIGTERM handlers restored, devices closed")]
    public static class Seal
    {
        /// <summary>The exit code when sealing fails (the kernel refuses the filter): the appliance never runs unsealed.</summary>
        public const int FailedExitCode = 71;

        /// <summary>True once this process's filter is installed.</summary>
        public static bool IsSealed { get; private set; }

        /// <summary>The feature switch a sealed build sets (<c>-p:UnikernelSeal=true</c>; Unikernel.props).</summary>
        public const string FeatureSwitch = "Unikernel.Seal.IsSupported";

        /// <summary>
        /// False in an image built unsealed: the appliance build sets <see cref="FeatureSwitch"/> to the value of
        /// <c>UnikernelSeal</c> as a trimming feature switch, so an unsealed NativeAOT image links none of the
        /// sealing code (the filter builder, the system call table, the sorted collections: about 150 KB, issue 17).
        /// True when the switch is not set at all (a program that does not use the appliance build).
        /// </summary>
        [System.Diagnostics.CodeAnalysis.FeatureSwitchDefinition(FeatureSwitch)]
        public static bool IsSupported => !AppContext.TryGetSwitch(FeatureSwitch, out var enabled) || enabled;

        // <linux/seccomp.h>, <linux/filter.h>, <linux/prctl.h>, <linux/sched.h>
        private const int SECCOMP_SET_MODE_FILTER = 1;
        private const int SECCOMP_FILTER_FLAG_TSYNC = 1;
        private const uint SECCOMP_RET_KILL_PROCESS = 0x80000000;
        private const uint SECCOMP_RET_ERRNO = 0x00050000;
        private const uint SECCOMP_RET_ALLOW = 0x7fff0000;
        private const int ENOSYS = 38;
        private const int PR_SET_DUMPABLE = 4;
        private const int M_ARENA_MAX = -8;
        private const int PR_SET_NAME = 15;
        private const int PR_GET_NAME = 16;
        private const int PR_SET_NO_NEW_PRIVS = 38;
        private const int PR_SET_MDWE = 65;
        private const int PR_MDWE_REFUSE_EXEC_GAIN = 1;
        private const uint PROT_EXEC = 0x4;
        private const uint CLONE_THREAD = 0x10000;
        private const uint AF_INET = 2;
        private const uint AF_INET6 = 10;

        private const ushort BPF_LD_W_ABS = 0x20;
        private const ushort BPF_JMP_JEQ_K = 0x15;
        private const ushort BPF_JMP_JGE_K = 0x35;
        private const ushort BPF_JMP_JSET_K = 0x45;
        private const ushort BPF_RET_K = 0x06;

        // struct seccomp_data: int nr; __u32 arch; __u64 instruction_pointer; __u64 args[6];
        private const uint OffsetNr = 0;
        private const uint OffsetArch = 4;

        private static uint OffsetArgument(int index) => 16 + (8 * (uint)index); // the low 32 bits (little endian)

        /// <summary>One classic-BPF instruction (<c>struct sock_filter</c>).</summary>
        [StructLayout(LayoutKind.Sequential)]
        public struct Instruction(ushort code, byte jumpTrue, byte jumpFalse, uint k)
        {
            public ushort Code = code;
            public byte JumpTrue = jumpTrue;
            public byte JumpFalse = jumpFalse;
            public uint K = k;

            public override readonly string ToString() => $"{{ 0x{Code:x2}, {JumpTrue}, {JumpFalse}, 0x{K:x8} }}";
        }

        [StructLayout(LayoutKind.Sequential)]
        private unsafe struct Program
        {
            public ushort Length;
            public Instruction* Filter;
        }

        /// <summary>The distinct calls of <paramref name="uses"/>, sorted.</summary>
        public static string[] Calls(SystemCallUse[] uses)
        {
            ArgumentNullException.ThrowIfNull(uses);
            var all = new string[uses.Length];
            for (var i = 0; i < uses.Length; i++)
            {
                all[i] = uses[i].Call;
            }
            Array.Sort(all, StringComparer.Ordinal);
            var distinct = new List<string>(all.Length);
            foreach (var call in all)
            {
                if (distinct.Count == 0 || !string.Equals(distinct[^1], call, StringComparison.Ordinal))
                {
                    distinct.Add(call);
                }
            }
            return [.. distinct];
        }

        /// <summary>How many distinct calls <paramref name="uses"/> allows.</summary>
        public static int CallCount(SystemCallUse[] uses) => Calls(uses).Length;

        /// <summary>
        /// The filter for <paramref name="calls"/>: architecture check, x32 refused, then one test per call (with its
        /// argument check), and kill for everything else. <paramref name="processId"/> is what tgkill may target.
        /// Throws <see cref="ArgumentException"/> for a name x86-64 has no call for.
        /// </summary>
        public static Instruction[] BuildFilter(IReadOnlyCollection<string> calls, int processId)
        {
            ArgumentNullException.ThrowIfNull(calls);
            var numbers = new int[calls.Count];
            var names = new string[calls.Count];
            var count = 0;
            foreach (var call in calls)
            {
                var number = SystemCallTable.Number(call);
                if (number < 0)
                {
                    throw new ArgumentException($"'{call}' is not an x86-64 system call", nameof(calls));
                }
                numbers[count] = number;
                names[count++] = call;
            }
            Array.Sort(numbers, names, 0, count);
            var f = new List<Instruction>
            {
                new(BPF_LD_W_ABS, 0, 0, OffsetArch),
                new(BPF_JMP_JEQ_K, 1, 0, SystemCallTable.AuditArchX86_64),
                new(BPF_RET_K, 0, 0, SECCOMP_RET_KILL_PROCESS),
                new(BPF_LD_W_ABS, 0, 0, OffsetNr),
                new(BPF_JMP_JGE_K, 0, 1, SystemCallTable.X32Bit),
                new(BPF_RET_K, 0, 0, SECCOMP_RET_KILL_PROCESS),
            };
            for (var i = 0; i < count; i++)
            {
                var (number, call) = (numbers[i], names[i]);
                if (i > 0 && numbers[i - 1] == number)
                {
                    continue; // named twice
                }
                var body = Body(SealRules.Kind(call), (uint)processId);
                // if (nr == number) { body } else skip it; every body ends in a return, so A (nr) is intact after a skip.
                f.Add(new(BPF_JMP_JEQ_K, 0, (byte)body.Length, (uint)number));
                f.AddRange(body);
            }
            f.Add(new(BPF_RET_K, 0, 0, SECCOMP_RET_KILL_PROCESS));
            return [.. f];
        }

        private static Instruction[] Body(SealRuleKind kind, uint processId) => kind switch
        {
            SealRuleKind.NoExec =>
            [
                new(BPF_LD_W_ABS, 0, 0, OffsetArgument(2)),
                new(BPF_JMP_JSET_K, 0, 1, PROT_EXEC),
                new(BPF_RET_K, 0, 0, SECCOMP_RET_KILL_PROCESS),
                new(BPF_RET_K, 0, 0, SECCOMP_RET_ALLOW),
            ],
            SealRuleKind.ThreadsOnly =>
            [
                new(BPF_LD_W_ABS, 0, 0, OffsetArgument(0)),
                new(BPF_JMP_JSET_K, 1, 0, CLONE_THREAD),
                new(BPF_RET_K, 0, 0, SECCOMP_RET_KILL_PROCESS),
                new(BPF_RET_K, 0, 0, SECCOMP_RET_ALLOW),
            ],
            SealRuleKind.Enosys => [new(BPF_RET_K, 0, 0, SECCOMP_RET_ERRNO | ENOSYS)],
            SealRuleKind.InetOnly =>
            [
                new(BPF_LD_W_ABS, 0, 0, OffsetArgument(0)),
                new(BPF_JMP_JEQ_K, 2, 0, AF_INET),
                new(BPF_JMP_JEQ_K, 1, 0, AF_INET6),
                new(BPF_RET_K, 0, 0, SECCOMP_RET_KILL_PROCESS),
                new(BPF_RET_K, 0, 0, SECCOMP_RET_ALLOW),
            ],
            SealRuleKind.OwnProcess =>
            [
                new(BPF_LD_W_ABS, 0, 0, OffsetArgument(0)),
                new(BPF_JMP_JEQ_K, 1, 0, processId),
                new(BPF_RET_K, 0, 0, SECCOMP_RET_KILL_PROCESS),
                new(BPF_RET_K, 0, 0, SECCOMP_RET_ALLOW),
            ],
            SealRuleKind.ThreadName =>
            [
                new(BPF_LD_W_ABS, 0, 0, OffsetArgument(0)),
                new(BPF_JMP_JEQ_K, 2, 0, PR_SET_NAME),
                new(BPF_JMP_JEQ_K, 1, 0, PR_GET_NAME),
                new(BPF_RET_K, 0, 0, SECCOMP_RET_KILL_PROCESS),
                new(BPF_RET_K, 0, 0, SECCOMP_RET_ALLOW),
            ],
            _ => [new(BPF_RET_K, 0, 0, SECCOMP_RET_ALLOW)],
        };

        /// <summary>
        /// Installs the filter for <paramref name="uses"/> on every thread of this process. Returns null when sealed,
        /// otherwise why not (the caller exits with <see cref="FailedExitCode"/>: never a silent unsealed start).
        /// </summary>
        public static unsafe string? Install(SystemCallUse[] uses)
        {
            ArgumentNullException.ThrowIfNull(uses);
            if (!OperatingSystem.IsLinux() || RuntimeInformation.ProcessArchitecture != Architecture.X64)
            {
                return $"sealing needs Linux on x86-64, not {RuntimeInformation.OSDescription} on {RuntimeInformation.ProcessArchitecture}";
            }
            Instruction[] filter;
            try
            {
                filter = BuildFilter(Calls(uses), Environment.ProcessId);
            }
            catch (ArgumentException exception)
            {
                return exception.Message;
            }
            if (filter.Length > ushort.MaxValue)
            {
                return $"the filter has {filter.Length} instructions, more than a seccomp program holds";
            }
            WarmUp();
            if (Interop.Prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
            {
                return "prctl(PR_SET_NO_NEW_PRIVS) failed: " + Error();
            }
            Interop.Prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
            // glibc's malloc counts the CPUs (reading /sys/devices/system/cpu/online) the first time a new thread needs
            // an arena beyond the first few; with the limit set, it never has to.
            Interop.Mallopt(M_ARENA_MAX, 2 * Math.Max(1, Environment.ProcessorCount));
            // Linux 6.3 and later: no mapping may become writable and executable. Older kernels say EINVAL: the filter's
            // PROT_EXEC checks still hold.
            Interop.Prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, 0, 0, 0);
            fixed (Instruction* start = filter)
            {
                var program = new Program { Length = (ushort)filter.Length, Filter = start };
                var result = Interop.Syscall(SystemCallTable.Number("seccomp"), SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, (nint)(&program));
                if (result != 0)
                {
                    return result > 0
                        ? $"seccomp(SECCOMP_FILTER_FLAG_TSYNC) could not cover thread {result.ToString(CultureInfo.InvariantCulture)}"
                        : "seccomp(SECCOMP_SET_MODE_FILTER) failed (a kernel without CONFIG_SECCOMP_FILTER?): " + Error();
                }
            }
            IsSealed = true;
            return null;
        }

        /// <summary>
        /// What the runtime does once, lazily, with calls a sealed image does not allow, done now: the seed of HashCode,
        /// string hashing and Random.Shared comes from /dev/urandom, opened the first time (the descriptor stays open,
        /// later seeds are a read).
        /// </summary>
        private static void WarmUp()
        {
            GC.KeepAlive(HashCode.Combine(0));
            GC.KeepAlive(Random.Shared.Next());
        }

        private static string Error()
        {
            var errno = Marshal.GetLastPInvokeError();
            return $"{Marshal.GetPInvokeErrorMessage(errno)} (errno {errno.ToString(CultureInfo.InvariantCulture)})";
        }
    }
}
