using Rbee.Contracts.Wire;
using Rbee.Hive.Devices;
using Rbee.Hive.Identity;

namespace Rbee.Hive.Capabilities;

/// <summary>Assembles <c>GET /capabilities</c> (DESIGN.md "Wire contract") from identity, devices, monitoring and worker types.</summary>
public sealed class CapabilitiesBuilder(HiveIdentity identity, DeviceInventory devices, IMonitoringProbe monitoring, IWorkerTypeCatalog workerTypes)
{
    public async Task<Contracts.Wire.Capabilities> BuildAsync(CancellationToken ct) => new(
        identity.HiveId,
        identity.HiveUrl,
        identity.InstanceId,
        identity.Version,
        identity.Protocol,
        monitoring.Describe(),
        await devices.GetAsync(ct),
        workerTypes.Describe());
}
