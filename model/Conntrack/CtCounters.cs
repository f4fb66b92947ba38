namespace ConntrackModel.Model.Conntrack;

/// <summary>The <c>conntrack -S</c> counters the model maintains (<c>NF_CT_STAT_INC</c> sites it mirrors).</summary>
public readonly record struct CtCounters(long Found, long Invalid, long Insert, long InsertFailed, long Drop, long EarlyDrop)
{
    public static CtCounters Zero { get; } = new(0, 0, 0, 0, 0, 0);

    /// <summary>Two namespaces' counters added up.</summary>
    public static CtCounters operator +(CtCounters a, CtCounters b) =>
        new(a.Found + b.Found, a.Invalid + b.Invalid, a.Insert + b.Insert, a.InsertFailed + b.InsertFailed, a.Drop + b.Drop, a.EarlyDrop + b.EarlyDrop);

    public static CtCounters Add(CtCounters a, CtCounters b) => a + b;
}
