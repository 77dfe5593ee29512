using Rbee.Contracts.Wire;

namespace Rbee.Hive.Workers;

/// <summary>
/// The seam between worker monitoring (Workers/, Monitoring/) and telemetry (Telemetry/): the current set of workers
/// as the OS shows them, and a signal when it changes (spawned, ready, exited) so telemetry sends a frame at once
/// (DESIGN.md "Discovery and telemetry" 3).
/// </summary>
public interface IWorkerView
{
    /// <summary>The workers now, one <see cref="ProcessStats"/> each, as of the last enumeration.</summary>
    IReadOnlyList<ProcessStats> Current { get; }

    /// <summary>Raised after <see cref="Current"/> changed in a way a queen must hear about at once.</summary>
    event Action? Changed;
}
