namespace Rbee.Hive;

/// <summary>
/// Event ids of the hive's own log lines, one table so ids stay stable and unique (STYLE.md §4). Ranges per
/// capability: 2xx discovery, 3xx telemetry, 4xx shutdown, 5xx models; the workers capability numbers its own from 4000.
/// </summary>
internal static class HiveEventIds
{
    public const int ReadyStarted = 200;
    public const int ReadyAccepted = 201;
    public const int ReadyFirstTryFailed = 202;
    public const int ReadyTryFailed = 203;
    public const int ReadyGaveUp = 204;
    public const int ReadyConflict = 205;
    public const int ReadyReplaced = 206;
    public const int ReadyNoSubscription = 207;
    public const int ReadyNeverSubscribed = 208;
    public const int ReadyCrashed = 209;

    public const int TelemetryFrameFailed = 300;
    public const int TelemetrySubscriptionOpened = 310;
    public const int TelemetrySubscriptionClosed = 311;

    public const int ShutdownRequested = 400;
    public const int RestartSignal = 401;

    public const int ModelsChanged = 500;
    public const int ModelFileInvalid = 501;
    public const int ModelFileIncomplete = 502;
    public const int ModelFileStillIncomplete = 503;
    public const int ModelIdDuplicate = 504;
    public const int ModelSourceUnreadable = 505;
    public const int ModelScanFailed = 506;
    public const int ModelsDirectoryNotCreated = 507;
    public const int ModelStoreEntrySkipped = 508;

    public const int ModelDownloadStarted = 520;
    public const int ModelDownloadFinished = 521;
    public const int ModelDownloadFailed = 522;
    public const int ModelDownloadCancelled = 523;
    public const int ModelDeleted = 524;
}
