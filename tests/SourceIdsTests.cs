using ConntrackModel.Model.Conntrack;

namespace ConntrackModel.Tests;

/// <summary>The bysource bucket keeps its ids in insertion order whichever of them is removed, inline or not.</summary>
public class SourceIdsTests
{
    private static long[] Ids(SourceIds s)
    {
        var list = new List<long>();
        foreach (var id in s) list.Add(id);
        return [.. list];
    }

    [Fact]
    public void AddAndRemove_KeepTheOrder_AndEqualityFollowsTheContents()
    {
        var s = default(SourceIds);
        Assert.True(s.IsEmpty);
        Assert.Empty(Ids(s));
        s = s.Add(3).Add(5).Add(9);
        Assert.Equal([3L, 5, 9], Ids(s));
        Assert.True(s.Contains(5) && !s.Contains(4));
        Assert.Equal([5L, 9], Ids(s.Remove(3)));
        Assert.Equal([3L, 9], Ids(s.Remove(5)));
        Assert.Equal([3L, 5], Ids(s.Remove(9)));
        Assert.Equal(s, s.Remove(4));
        Assert.True(s.Remove(3).Remove(5).Remove(9).IsEmpty);
        Assert.Equal(default, s.Remove(3).Remove(5).Remove(9));
        Assert.Equal(default(SourceIds).Add(5).Add(9), s.Remove(3));
        Assert.NotEqual(default(SourceIds).Add(9).Add(5), s.Remove(3));
        Assert.Equal(default(SourceIds).Add(7), default(SourceIds).Add(3).Add(7).Remove(3));
    }
}
