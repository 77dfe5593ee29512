namespace Rbee.Hive.Workers;

/// <summary>
/// Event ids of the hive's worker logs (Workers/, Monitoring/), in one table (STYLE.md §4). The range 4000-4999 is the
/// workers'; the foundation's <c>HiveEventIds</c> use 200-499.
/// </summary>
internal static class WorkerEventIds
{
    public const int CgroupMode = 4001;
    public const int ProcessGroupMode = 4002;
    public const int StateChanged = 4003;
    public const int WorkerGone = 4004;
    public const int Adopted = 4005;
    public const int AdoptedPortLocked = 4006;
    public const int ScanFailed = 4007;
    public const int LogRotated = 4008;
    public const int LogRotateFailed = 4009;
    public const int DetachStepFailed = 4010;
    public const int DisposeTimedOut = 4011;

    public const int InotifyWatchFailed = 4101;
    public const int InotifyLoopFailed = 4102;
    public const int InotifyCallbackFailed = 4103;

    public const int Started = 4201;
    public const int LoadTimeout = 4202;
    public const int GraceExpired = 4203;
    public const int StopFailed = 4204;
    public const int StoppedAll = 4205;
    public const int Restarting = 4206;
    public const int RestartFailed = 4207;
    public const int RestartCancelled = 4208;

    public const int KeepingWorkers = 4301;
    public const int StopAllFailed = 4302;
}
