using System.Runtime.InteropServices;

namespace ConntrackModel.Replay.Host;

/// <summary>The libc calls .NET does not wrap: moving a thread into a network namespace, sending a signal, getsockname.</summary>
internal static partial class Native
{
    /// <summary>CLONE_NEWNET (include/uapi/linux/sched.h).</summary>
    public const int CloneNewNet = 0x40000000;

    public const int SigInt = 2;

    public const int SigKill = 9;

    /// <summary>setns(2): moves the calling thread (only it) into the namespace referred to by <paramref name="fd"/>.</summary>
    [LibraryImport("libc", SetLastError = true)]
    public static partial int setns(int fd, int nstype);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int kill(int pid, int sig);

    /// <summary>getsockname(2) into a struct sockaddr_in buffer (port at bytes 2-3, address at 4-7, network order).</summary>
    [LibraryImport("libc", SetLastError = true)]
    public static unsafe partial int getsockname(int fd, byte* addr, ref int len);
}
