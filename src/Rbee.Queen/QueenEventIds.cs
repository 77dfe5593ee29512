namespace Rbee.Queen;

/// <summary>Every log event id of queen-rbee in one table (STYLE.md §4). Stable: never renumber.</summary>
internal static class QueenEventIds
{
    public const int Started = 1;
    public const int HiveOnline = 10;
    public const int HiveDegraded = 11;
    public const int HiveOffline = 12;
    public const int ReadyConflict = 13;
    public const int HiveIncompatible = 14;
    public const int ReadyAccepted = 15;
    public const int ClusterFull = 16;
    public const int HiveForgotten = 17;
    public const int ReadyUnconfirmed = 18;
    public const int SubscriptionFailed = 20;
    public const int SubscriptionOpened = 21;
    public const int CatalogFetched = 22;
    public const int CatalogFetchFailed = 23;
    public const int CatalogMissing = 24;
    public const int SshConfigRead = 30;
    public const int SshConfigWarning = 31;
    public const int HiveFound = 33;
    public const int HiveSilent = 34;
    public const int ShutdownRequested = 40;
    public const int HiveShutdownFailed = 41;
    public const int QueueFull = 50;
    public const int WaitedTooLong = 51;
    public const int ColdStartFailed = 52;
    public const int ColdStartBegun = 53;
    public const int ColdStartAttemptFailed = 54;
    public const int WorkerEjected = 55;
    public const int WorkerRestored = 56;
    public const int IdleWorkerStopped = 57;
    public const int IdleStopFailed = 58;
    public const int RequestCompleted = 60;
    public const int RequestFailed = 61;
    public const int ApiOpenness = 62;
    public const int ApiRefused = 63;
    public const int PullStarted = 70;
    public const int PullFinished = 71;
    public const int PullFailed = 72;
    public const int HiveRestarting = 80;
    public const int HiveRestarted = 81;
    public const int HiveRestartFailed = 82;
    public const int ManagedHiveNotRemembered = 83;
    public const int UnreachableWorkerRequestsEnded = 90;
    public const int OfflineHiveWorkerAnswers = 91;
}
