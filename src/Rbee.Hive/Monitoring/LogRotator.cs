namespace Rbee.Hive.Monitoring;

/// <summary>
/// Keeps a worker's log bounded (DESIGN.md "Workers under the hive", Spawn): a log larger than the limit is copied to
/// <c>.1</c> and truncated. The worker keeps its descriptor (opened O_APPEND by the shim), so its next write lands at the
/// new end of the same file; no signal or reopen is needed.
/// </summary>
public static class LogRotator
{
    /// <summary>Rotated: the size it had; not rotated: null. An IO problem is thrown for the caller to log.</summary>
    public static long? RotateIfLarger(string logPath, long maxBytes)
    {
        var info = new FileInfo(logPath);
        if (!info.Exists || info.Length <= maxBytes) return null;
        File.Copy(logPath, logPath + ".1", overwrite: true);
        using (var fs = new FileStream(logPath, FileMode.Open, FileAccess.Write, FileShare.ReadWrite)) fs.SetLength(0);
        return info.Length;
    }
}
