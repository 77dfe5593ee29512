using Rbee.Worker.Sampling;

namespace Rbee.Worker.Tests.Sampling;

public sealed class StopStringMatcherTests
{
    [Fact]
    public void FindsStopInsideText()
    {
        var m = new StopStringMatcher(["END"]);
        Assert.Equal(6, m.Scan("hello END more", 0, out var safe));
        Assert.Equal(6, safe);
    }

    [Fact]
    public void StopSplitAcrossTokens_IsHeldBackThenMatched()
    {
        var m = new StopStringMatcher(["\n\nUser:"]);
        var text = "Hi there\n";
        Assert.Equal(-1, m.Scan(text, 0, out var safe));
        Assert.Equal("Hi there", text[..safe]);          // "\n" might start the stop string
        text += "\nUs";
        Assert.Equal(-1, m.Scan(text, safe, out safe));
        Assert.Equal("Hi there", text[..safe]);
        text += "er: x";
        Assert.Equal(8, m.Scan(text, safe, out safe));
        Assert.Equal(8, safe);
    }

    [Fact]
    public void HeldBackText_IsReleasedWhenItTurnsOutNotToBeAStop()
    {
        var m = new StopStringMatcher(["STOP"]);
        var text = "a ST";
        m.Scan(text, 0, out var safe);
        Assert.Equal("a ", text[..safe]);
        text += "ART";
        Assert.Equal(-1, m.Scan(text, safe, out safe));
        Assert.Equal(text.Length, safe);
    }

    [Fact]
    public void EarliestOfSeveralStopsWins()
    {
        var m = new StopStringMatcher(["xyz", "b"]);
        Assert.Equal(1, m.Scan("abc xyz", 0, out _));
    }

    [Fact]
    public void NoStops_EverythingIsSafe()
    {
        var m = new StopStringMatcher([]);
        Assert.True(m.IsEmpty);
        Assert.Equal(-1, m.Scan("anything", 3, out var safe));
        Assert.Equal(8, safe);
    }
}
