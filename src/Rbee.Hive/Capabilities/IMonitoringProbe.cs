using Rbee.Contracts.Wire;

namespace Rbee.Hive.Capabilities;

/// <summary>How the hive watches workers, for <c>monitoring</c> in capabilities: registered by the workers capability
/// (<c>AddHiveWorkers</c>), whose monitor has found (or failed to find) the writable cgroup v2 tree.</summary>
public interface IMonitoringProbe
{
    MonitoringInfo Describe();
}
