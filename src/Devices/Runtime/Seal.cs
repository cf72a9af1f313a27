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

        /// <summary>
        /// The implementation makes these calls on descriptors it opens after start (sockets it creates or accepts, say).
        /// The seal restricts <c>read</c>, <c>write</c> and their cousins to the descriptors open when it is installed; a
        /// call declared here with <c>NewDescriptors = true</c> keeps any descriptor instead.
        /// </summary>
        public bool NewDescriptors { get; init; }
    }
}

namespace Unikernel.Runtime
{
    /// <summary>
    /// One entry of an image's allow-list: which device (or "runtime") needs which call, and why;
    /// <paramref name="NewDescriptors"/>: also on descriptors it opens after start (<see cref="SystemCallsAttribute.NewDescriptors"/>).
    /// </summary>
    public sealed record SystemCallUse(string Device, string Call, string Reason, bool NewDescriptors = false);

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
    [SystemCalls("read", "write", Reason = "standard output and error (the log); the runtime's signal pipe and random seed (all open before sealing)")]
    [SystemCalls("membarrier", Reason = "the GC's FlushProcessWriteBuffers on suspension")]
    [SystemCalls("getrusage", Reason = "the thread pool measures CPU use")]
    [SystemCalls("poll", Reason = "the job loop sleeps until its next timer or until another thread posts work (its eventfd is open before sealing)")]
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
        private const int F_GETFD = 1;

        /// <summary>Up to this many descriptors open when sealing are listed one by one; beyond, the filter allows any up to the highest.</summary>
        public const int MaxListedDescriptors = 64;
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

        /// <summary>The calls of <paramref name="uses"/> that some use makes on descriptors opened after start (no descriptor check).</summary>
        public static string[] NewDescriptorCalls(SystemCallUse[] uses)
        {
            ArgumentNullException.ThrowIfNull(uses);
            var set = new SortedSet<string>(StringComparer.Ordinal);
            foreach (var use in uses)
            {
                if (use.NewDescriptors)
                {
                    set.Add(use.Call);
                }
            }
            return [.. set];
        }

        /// <summary>Like <see cref="BuildFilter(IReadOnlyCollection{string}, int, IReadOnlyCollection{int}?, IReadOnlyCollection{string}?)"/> without descriptor checks.</summary>
        public static Instruction[] BuildFilter(IReadOnlyCollection<string> calls, int processId) => BuildFilter(calls, processId, null, null);

        /// <summary>
        /// The filter for <paramref name="calls"/>: architecture check, x32 refused, then one test per call (with its
        /// argument check), and kill for everything else. <paramref name="processId"/> is what tgkill may target.
        /// <paramref name="descriptors"/> (the descriptors open when sealing; null: no check) are the only ones
        /// read, write and their cousins may use, except the calls of <paramref name="anyDescriptor"/> (declared with
        /// <see cref="SystemCallsAttribute.NewDescriptors"/>). Up to <see cref="MaxListedDescriptors"/> are listed one by
        /// one; more are allowed as a range up to the highest. Throws <see cref="ArgumentException"/> for a name x86-64
        /// has no call for.
        /// </summary>
        public static Instruction[] BuildFilter(IReadOnlyCollection<string> calls, int processId, IReadOnlyCollection<int>? descriptors, IReadOnlyCollection<string>? anyDescriptor)
        {
            ArgumentNullException.ThrowIfNull(calls);
            var fds = descriptors is null ? null : new SortedSet<int>(descriptors);
            var any = new HashSet<string>(anyDescriptor ?? [], StringComparer.Ordinal);
            if (fds is not null && fds.Count > 0 && fds.Min < 0)
            {
                throw new ArgumentException("a descriptor is negative", nameof(descriptors));
            }
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
                var kind = SealRules.Kind(call);
                var body = kind == SealRuleKind.OpenDescriptors
                    ? DescriptorBody(fds is null || any.Contains(call) ? null : fds)
                    : Body(kind, (uint)processId);
                // if (nr == number) { body } else skip it; every body ends in a return, so A (nr) is intact after a skip.
                f.Add(new(BPF_JMP_JEQ_K, 0, (byte)body.Length, (uint)number));
                f.AddRange(body);
            }
            f.Add(new(BPF_RET_K, 0, 0, SECCOMP_RET_KILL_PROCESS));
            return [.. f];
        }

        /// <summary>
        /// read, write, ...: argument 1 (the descriptor; the kernel reads it as an unsigned int, so its low 32 bits are
        /// all of it) must be one of <paramref name="descriptors"/>, or at most the highest of them when there are many;
        /// null: any descriptor.
        /// </summary>
        private static Instruction[] DescriptorBody(SortedSet<int>? descriptors)
        {
            if (descriptors is null)
            {
                return [new(BPF_RET_K, 0, 0, SECCOMP_RET_ALLOW)];
            }
            var body = new List<Instruction> { new(BPF_LD_W_ABS, 0, 0, OffsetArgument(0)) };
            if (descriptors.Count <= MaxListedDescriptors)
            {
                // jeq fd_i: jump over the remaining tests and the kill to the allow.
                var remaining = descriptors.Count;
                foreach (var fd in descriptors)
                {
                    remaining--;
                    body.Add(new(BPF_JMP_JEQ_K, (byte)(remaining + 1), 0, (uint)fd));
                }
            }
            else
            {
                // fd >= highest + 1 (unsigned: a negative descriptor too): kill.
                body.Add(new(BPF_JMP_JGE_K, 0, 1, (uint)descriptors.Max + 1));
            }
            body.Add(new(BPF_RET_K, 0, 0, SECCOMP_RET_KILL_PROCESS));
            body.Add(new(BPF_RET_K, 0, 0, SECCOMP_RET_ALLOW));
            return [.. body];
        }

        /// <summary>
        /// The descriptors this process has open (from /proc/self/fd, else by asking fcntl about the first 4096), plus
        /// standard output and error (the log writes there even when they are closed, and gets EBADF).
        /// </summary>
        public static int[] OpenDescriptors()
        {
            var found = new SortedSet<int> { 1, 2 };
            var listed = false;
            try
            {
                foreach (var entry in System.IO.Directory.EnumerateFileSystemEntries("/proc/self/fd"))
                {
                    if (int.TryParse(System.IO.Path.GetFileName(entry), NumberStyles.None, CultureInfo.InvariantCulture, out var fd))
                    {
                        found.Add(fd);
                    }
                }
                listed = true;
            }
            catch (Exception exception) when (exception is System.IO.IOException or UnauthorizedAccessException)
            {
                // no /proc (a VM's init mounts it; a chroot may not have it)
            }
            if (!listed)
            {
                for (var fd = 0; fd < 4096; fd++)
                {
                    found.Add(fd);
                }
            }
            // The directory listing's own descriptor is closed by now (and a probe's number may be free): keep the open ones.
            found.RemoveWhere(fd => fd is not (1 or 2) && Interop.Fcntl(fd, F_GETFD) == -1);
            return [.. found];
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
            SealRuleKind.Enosys => [new(BPF_RET_K, 0, 0, SECCOMP_RET_ERRNO | Interop.ENOSYS)],
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
            // First what opens descriptors lazily, then the descriptors: read and write are allowed on those only.
            WarmUp();
            Instruction[] filter;
            try
            {
                filter = BuildFilter(Calls(uses), Environment.ProcessId, OpenDescriptors(), NewDescriptorCalls(uses));
            }
            catch (ArgumentException exception)
            {
                return exception.Message;
            }
            if (filter.Length > ushort.MaxValue)
            {
                return $"the filter has {filter.Length} instructions, more than a seccomp program holds";
            }
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
