namespace Unikernel.Runtime;

/// <summary>The argument checks a sealed image's filter makes for some calls (the others are allowed or killed by number).</summary>
internal enum SealRuleKind
{
    /// <summary>Allowed with any arguments.</summary>
    None,

    /// <summary>mmap, mprotect: refused (killed) when the protection (argument 3) has PROT_EXEC.</summary>
    NoExec,

    /// <summary>clone: only threads (CLONE_THREAD in the flags); a new process is killed.</summary>
    ThreadsOnly,

    /// <summary>clone3: answered ENOSYS (its flags are in memory, out of the filter's reach), so glibc falls back to clone.</summary>
    Enosys,

    /// <summary>socket: only AF_INET and AF_INET6 (no AF_PACKET, AF_NETLINK, AF_UNIX, ...).</summary>
    InetOnly,

    /// <summary>tgkill: only to threads of this process (the runtime's thread suspension).</summary>
    OwnProcess,

    /// <summary>prctl: only PR_SET_NAME and PR_GET_NAME (thread names).</summary>
    ThreadName,

    /// <summary>
    /// read, write, readv, writev, pread64, pwrite64: only on the descriptors open when the image was sealed, unless a
    /// device declares the call with NewDescriptors (it uses descriptors it opens after start).
    /// </summary>
    OpenDescriptors,
}

/// <summary>
/// Which calls of the allow-list get argument checks, and how they read in the list next to the image. Shared by the
/// runtime (Seal builds the filter from it) and the generator (the list's text), so the two never disagree.
/// </summary>
internal static class SealRules
{
    public static SealRuleKind Kind(string call)
    {
        switch (call)
        {
            case "mmap":
            case "mprotect":
                return SealRuleKind.NoExec;
            case "clone":
                return SealRuleKind.ThreadsOnly;
            case "clone3":
                return SealRuleKind.Enosys;
            case "socket":
                return SealRuleKind.InetOnly;
            case "tgkill":
                return SealRuleKind.OwnProcess;
            case "prctl":
                return SealRuleKind.ThreadName;
            case "read":
            case "write":
            case "readv":
            case "writev":
            case "pread64":
            case "pwrite64":
                return SealRuleKind.OpenDescriptors;
            default:
                return SealRuleKind.None;
        }
    }

    /// <summary>
    /// The check in words, or "" when the call is allowed with any arguments; <paramref name="newDescriptors"/>: a device
    /// makes the call on descriptors it opens after start, so it has no descriptor check.
    /// </summary>
    public static string Describe(string call, bool newDescriptors = false)
    {
        switch (Kind(call))
        {
            case SealRuleKind.OpenDescriptors:
                return newDescriptors ? "" : "only on the descriptors open when sealed";
            case SealRuleKind.NoExec:
                return "not with PROT_EXEC";
            case SealRuleKind.ThreadsOnly:
                return "threads only (CLONE_THREAD): no new process";
            case SealRuleKind.Enosys:
                return "answered ENOSYS, so that glibc uses clone, whose flags are checked";
            case SealRuleKind.InetOnly:
                return "AF_INET and AF_INET6 only";
            case SealRuleKind.OwnProcess:
                return "this process's threads only";
            case SealRuleKind.ThreadName:
                return "PR_SET_NAME and PR_GET_NAME only";
            default:
                return "";
        }
    }
}
