namespace Rbee.Queen.Telemetry;

/// <summary>How one <c>GET /v1/catalog</c> ended.</summary>
public enum CatalogFetchOutcome
{
    /// <summary>The hive answered with its catalog.</summary>
    Fetched,
    /// <summary>404: a hive from before catalogs; not asked again until the version it announces changes.</summary>
    NotFound,
    /// <summary>Anything else (no answer, 5xx, bad JSON): asked again at the next frame whose version still differs.</summary>
    Failed,
}

/// <summary>
/// Decides when the queen fetches one hive instance's model catalog (DESIGN.md "Scheduling and routing"; the catalog's
/// <c>version</c> rides on every telemetry frame as <c>models_version</c>): on subscribe, and whenever an applied frame
/// announces a version other than the one held. One fetch at a time; a failed one is retried by the next frame that still
/// differs; a hive that answered 404 is not asked again until it announces another version. Pure decisions on values the
/// caller passes in, so it is tested without a server. Thread-safe: frames and fetch completions come from different tasks.
/// </summary>
public sealed class CatalogRefresh
{
    private readonly Lock _gate = new();
    private bool _inFlight;
    // The version announced when the running fetch began: what a 404 is pinned to.
    private long? _askedAt;
    private bool _notFound;
    private long? _notFoundAt;
    // The latest models_version seen in a frame of this instance (null: none yet, or a hive without a catalog).
    private long? _announced;

    public bool InFlight
    {
        get { lock (_gate) return _inFlight; }
    }

    /// <summary>
    /// On (re)subscribe: true, and a fetch is then in flight, unless one already is, the catalog held is the version last
    /// announced, or the hive answered 404 at that version.
    /// </summary>
    public bool TryBeginOnSubscribe(long? heldVersion)
    {
        lock (_gate)
        {
            if (_inFlight || (_notFound && _notFoundAt == _announced) || (heldVersion is not null && heldVersion == _announced)) return false;
            return Begin();
        }
    }

    /// <summary>
    /// On an applied frame announcing <paramref name="announced"/>: true, and a fetch is then in flight, when it names a
    /// version other than <paramref name="heldVersion"/>, no fetch is running, and the hive did not answer 404 at it.
    /// A frame without a version (a hive without a catalog) never asks.
    /// </summary>
    public bool TryBeginOnFrame(long? announced, long? heldVersion)
    {
        lock (_gate)
        {
            _announced = announced;
            if (_inFlight || announced is null || announced == heldVersion || (_notFound && _notFoundAt == announced)) return false;
            return Begin();
        }
    }

    /// <summary>The fetch begun by a <c>TryBegin…</c> that returned true has ended.</summary>
    public void Completed(CatalogFetchOutcome outcome)
    {
        lock (_gate)
        {
            _inFlight = false;
            switch (outcome)
            {
                case CatalogFetchOutcome.Fetched:
                    _notFound = false;
                    break;
                case CatalogFetchOutcome.NotFound:
                    _notFound = true;
                    _notFoundAt = _askedAt;
                    break;
            }
        }
    }

    private bool Begin()
    {
        _inFlight = true;
        _askedAt = _announced;
        return true;
    }
}
