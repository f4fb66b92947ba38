using System.Collections.Immutable;
using ConntrackModel.Model.Addressing;
using ConntrackModel.Model.Collections;
using ConntrackModel.Model.Conntrack;
using ConntrackModel.Model.Kernel;
using ConntrackModel.Model.Sockets;

namespace ConntrackModel.Tests;

/// <summary>
/// The sizes the README's memory figures rest on: what one socket end, one conntrack entry and one connection cost in
/// every world that keeps them (measured as the bytes one construction allocates), and the packed form of what an end
/// has read, which must read back as it was written.
/// </summary>
public class FootprintTests
{
    private static readonly SockAddr A = new(IPv4Address.Loopback, 40000);

    /// <summary>Bytes allocated by <paramref name="make"/> on this thread (its first call warms it up).</summary>
    private static long Allocated(Func<object> make)
    {
        GC.KeepAlive(make());
        var before = GC.GetAllocatedBytesForCurrentThread();
        var o = make();
        var after = GC.GetAllocatedBytesForCurrentThread();
        GC.KeepAlive(o);
        return after - before;
    }

    [Fact]
    public void Records_HaveTheSizesTheReadmeStates()
    {
        var end = TcpEnd.Create("A", A, A, TcpState.Established, 1, false);
        Assert.Equal(112, Allocated(() => end with { Iss = 2 }));
        var entry = new CtEntry(1, new ConnTuple(A, A), new ConnTuple(A, A), CtStatus.None, TcpCtState.None, 0, TcpCtInfo.Empty);
        Assert.Equal(128, Allocated(() => entry with { Id = 2 }));
        Assert.Equal(48, Allocated(() => new Connection("A", ConnectResult.Established, A, A)));
    }

    /// <summary>A trie node is a 32-byte value in its parent's array (two maps, two arrays, the owner form), not an object.</summary>
    [Fact]
    public void TrieNodes_AreThirtyTwoByteValues()
    {
        Assert.Equal(32, PersistentDictionary<string, TcpEnd>.NodeBytes);
        Assert.Equal(32, PersistentDictionary<ConnTuple, CtRef>.NodeBytes);
        Assert.True(typeof(PersistentDictionary<long, CtEntry>).GetNestedType("Node", System.Reflection.BindingFlags.NonPublic)!.IsValueType);
    }

    [Fact]
    public void Received_OneLabel_IsKeptWithoutAnArray()
    {
        var end = TcpEnd.Create("A", A, A, TcpState.Established, 1, false);
        ImmutableArray<string> one = ["m1"];
        // The end alone: the label is the scenario's string, and no array is kept for it.
        Assert.Equal(112, Allocated(() => end with { Received = one }));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(3)]
    public void Received_ReadsBackAsWritten(int n)
    {
        var labels = Enumerable.Range(0, n).Select(i => "m" + i).ToImmutableArray();
        var end = TcpEnd.Create("A", A, A, TcpState.Established, 1, false) with { Received = labels };
        Assert.Equal(labels, end.Received.ToArray());
        Assert.Equal(n, end.ReceivedCount);
        Assert.Equal(labels.Add("x"), end.Received.Add("x").ToArray());
        // Errors and states packed into bytes read back too.
        var failed = end with { Error = Errno.ECONNRESET, SoftError = Errno.EHOSTUNREACH, State = TcpState.Closing };
        Assert.Equal((Errno.ECONNRESET, Errno.EHOSTUNREACH, TcpState.Closing), (failed.Error, failed.SoftError, failed.State));
        Assert.Null((failed with { Error = null }).Error);
    }
}
