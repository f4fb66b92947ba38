namespace ConntrackModel.Model.Conntrack;

/// <summary>
/// <c>tcp_conntracks[dir][index][state]</c> of net/netfilter/nf_conntrack_proto_tcp.c, transcribed row by row.
/// Columns: sNO sSS sSR sES sFW sCW sLA sTW sCL sS2.
/// </summary>
public static class TcpTransitionTable
{
    private const TcpCtState NO = TcpCtState.None, SS = TcpCtState.SynSent, SR = TcpCtState.SynRecv,
        ES = TcpCtState.Established, FW = TcpCtState.FinWait, CW = TcpCtState.CloseWait, LA = TcpCtState.LastAck,
        TW = TcpCtState.TimeWait, CL = TcpCtState.Close, S2 = TcpCtState.SynSent2, IV = TcpCtState.Max,
        IG = TcpCtState.Ignore;

    private static readonly TcpCtState[][][] Table =
    [
        // ORIGINAL
        [
            /* syn    */ [SS, SS, IG, IG, IG, IG, IG, SS, SS, S2],
            /* synack */ [IV, IV, SR, IV, IV, IV, IV, IV, IV, SR],
            /* fin    */ [IV, IV, FW, FW, LA, LA, LA, TW, CL, IV],
            /* ack    */ [ES, IV, ES, ES, CW, CW, TW, TW, CL, IV],
            /* rst    */ [IV, CL, CL, CL, CL, CL, CL, CL, CL, CL],
            /* none   */ [IV, IV, IV, IV, IV, IV, IV, IV, IV, IV],
        ],
        // REPLY
        [
            /* syn    */ [IV, S2, IV, IV, IV, IV, IV, SS, IV, S2],
            /* synack */ [IV, SR, IG, IG, IG, IG, IG, IG, IG, SR],
            /* fin    */ [IV, IV, FW, FW, LA, LA, LA, TW, CL, IV],
            /* ack    */ [IV, IG, SR, ES, CW, CW, TW, TW, CL, IG],
            /* rst    */ [IV, CL, CL, CL, CL, CL, CL, CL, CL, CL],
            /* none   */ [IV, IV, IV, IV, IV, IV, IV, IV, IV, IV],
        ],
    ];

    public static TcpCtState Next(CtDirection dir, TcpFlagClass index, TcpCtState state) =>
        Table[(int)dir][(int)index][(int)state];

    /// <summary>Every (direction, row, column) cell, for the generated specification and its test.</summary>
    public static IEnumerable<(CtDirection Dir, TcpFlagClass Index, TcpCtState From, TcpCtState To)> Cells()
    {
        foreach (var dir in new[] { CtDirection.Original, CtDirection.Reply })
            foreach (var index in Enum.GetValues<TcpFlagClass>())
                for (var s = TcpCtState.None; s <= TcpCtState.SynSent2; s++)
                    yield return (dir, index, s, Next(dir, index, s));
    }
}
