using System.Runtime.InteropServices;

namespace ConntrackModel.Replay.Host;

/// <summary>
/// The libc calls .NET does not wrap: moving a thread into a network namespace, sending a signal, getsockname; and the
/// plain socket calls and file limit the kernel benchmark makes without .NET's socket layer in between.
/// </summary>
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

    public const int AfInet = 2;

    public const int SockStream = 1;

    /// <summary>SOCK_CLOEXEC (include/linux/net.h, as O_CLOEXEC on x86 and arm64).</summary>
    public const int SockCloexec = 0x80000;

    /// <summary>RLIMIT_NOFILE (include/uapi/asm-generic/resource.h).</summary>
    public const int RlimitNofile = 7;

    /// <summary>struct rlimit on 64-bit Linux: soft and hard limit.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct Rlimit
    {
        public ulong Cur;
        public ulong Max;
    }

    [LibraryImport("libc", SetLastError = true)]
    public static partial int getrlimit(int resource, out Rlimit rlim);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int setrlimit(int resource, in Rlimit rlim);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int socket(int domain, int type, int protocol);

    /// <summary>bind(2), connect(2): <paramref name="addr"/> is a 16-byte struct sockaddr_in.</summary>
    [LibraryImport("libc", SetLastError = true)]
    public static unsafe partial int bind(int fd, byte* addr, int len);

    [LibraryImport("libc", SetLastError = true)]
    public static unsafe partial int connect(int fd, byte* addr, int len);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int listen(int fd, int backlog);

    /// <summary>SOL_SOCKET and SO_SNDTIMEO (include/uapi/asm-generic/socket.h: SO_SNDTIMEO_OLD, a struct timeval of two longs).</summary>
    public const int SolSocket = 1;

    public const int SoSndtimeo = 21;

    [LibraryImport("libc", SetLastError = true)]
    public static unsafe partial int setsockopt(int fd, int level, int name, void* value, int len);

    [LibraryImport("libc", SetLastError = true)]
    public static unsafe partial nint send(int fd, byte* buf, nuint len, int flags);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int close(int fd);

    /// <summary>getsockname(2) into a struct sockaddr_in buffer (port at bytes 2-3, address at 4-7, network order).</summary>
    [LibraryImport("libc", SetLastError = true)]
    public static unsafe partial int getsockname(int fd, byte* addr, ref int len);
}
