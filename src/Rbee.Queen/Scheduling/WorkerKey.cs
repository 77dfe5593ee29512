using System.Globalization;

namespace Rbee.Queen.Scheduling;

/// <summary>
/// One worker process as the scheduler counts it: hive, port and pid, so a worker that restarted on the same port (a
/// new pid) starts with a clean record instead of inheriting its predecessor's failures.
/// </summary>
public readonly record struct WorkerKey(string HiveId, int Port, int Pid)
{
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{HiveId}:{Port} (pid {Pid})");
}
