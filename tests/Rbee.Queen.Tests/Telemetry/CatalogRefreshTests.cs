using Rbee.Queen.Telemetry;

namespace Rbee.Queen.Tests.Telemetry;

/// <summary>When the queen asks a hive for its model catalog: decisions only, no server.</summary>
public sealed class CatalogRefreshTests
{
    private readonly CatalogRefresh _refresh = new();

    [Fact]
    public void OnSubscribe_AsksOnce_NotAgainWhileInFlight()
    {
        Assert.True(_refresh.TryBeginOnSubscribe(heldVersion: null));
        Assert.True(_refresh.InFlight);
        Assert.False(_refresh.TryBeginOnSubscribe(null));
        Assert.False(_refresh.TryBeginOnFrame(announced: 3, heldVersion: null));
        _refresh.Completed(CatalogFetchOutcome.Fetched);
        Assert.False(_refresh.InFlight);
    }

    [Fact]
    public void Frame_AsksOnlyWhenItsVersionDiffersFromTheOneHeld()
    {
        Assert.False(_refresh.TryBeginOnFrame(announced: 3, heldVersion: 3));
        Assert.True(_refresh.TryBeginOnFrame(announced: 4, heldVersion: 3));
        _refresh.Completed(CatalogFetchOutcome.Fetched);
        Assert.False(_refresh.TryBeginOnFrame(announced: 4, heldVersion: 4));
    }

    [Fact]
    public void FrameWithoutAVersion_NeverAsks()
    {
        Assert.False(_refresh.TryBeginOnFrame(announced: null, heldVersion: null));
        Assert.False(_refresh.TryBeginOnFrame(announced: null, heldVersion: 2));
    }

    [Fact]
    public void OneFetchAtATime_FramesDuringItDoNotStartAnother()
    {
        Assert.True(_refresh.TryBeginOnFrame(5, null));
        Assert.False(_refresh.TryBeginOnFrame(5, null));
        Assert.False(_refresh.TryBeginOnFrame(6, null));
        _refresh.Completed(CatalogFetchOutcome.Fetched);
        // The fetch may have returned 5 while the hive is at 6 already: the next frame asks again.
        Assert.True(_refresh.TryBeginOnFrame(6, 5));
    }

    [Fact]
    public void FailedFetch_IsRetriedAtTheNextFrameThatStillDiffers()
    {
        Assert.True(_refresh.TryBeginOnFrame(5, null));
        _refresh.Completed(CatalogFetchOutcome.Failed);
        Assert.True(_refresh.TryBeginOnFrame(5, null));
        _refresh.Completed(CatalogFetchOutcome.Failed);
        Assert.False(_refresh.TryBeginOnFrame(4, 4));
    }

    [Fact]
    public void NotFound_IsNotAskedAgain_UntilTheAnnouncedVersionChanges()
    {
        Assert.True(_refresh.TryBeginOnFrame(5, null));
        _refresh.Completed(CatalogFetchOutcome.NotFound);
        Assert.False(_refresh.TryBeginOnFrame(5, null));
        Assert.False(_refresh.TryBeginOnFrame(5, null));
        Assert.False(_refresh.TryBeginOnSubscribe(null));
        Assert.True(_refresh.TryBeginOnFrame(6, null));
        _refresh.Completed(CatalogFetchOutcome.Fetched);
        Assert.False(_refresh.TryBeginOnFrame(6, 6));
    }

    [Fact]
    public void OlderHive_404OnSubscribe_WithoutVersionsInItsFrames_IsAskedOnce()
    {
        Assert.True(_refresh.TryBeginOnSubscribe(null));
        _refresh.Completed(CatalogFetchOutcome.NotFound);
        for (var i = 0; i < 3; i++) Assert.False(_refresh.TryBeginOnFrame(null, null));
        // A reconnect of the same instance does not ask again either.
        Assert.False(_refresh.TryBeginOnSubscribe(null));
    }

    [Fact]
    public void Resubscribe_SkipsTheFetch_WhenTheCatalogHeldIsTheOneLastAnnounced()
    {
        Assert.True(_refresh.TryBeginOnFrame(2, null));
        _refresh.Completed(CatalogFetchOutcome.Fetched);
        Assert.False(_refresh.TryBeginOnFrame(2, 2));
        Assert.False(_refresh.TryBeginOnSubscribe(heldVersion: 2));
        Assert.True(_refresh.TryBeginOnSubscribe(heldVersion: 1));
    }
}
