using Rbee.Contracts.Protocol;
using Rbee.Contracts.Wire;

namespace Rbee.Hive.Identity;

/// <summary>
/// Who this hive process is (DESIGN.md "Discovery and telemetry" 4): its configured <c>hive_id</c>, an
/// <c>instance_id</c> new at every start (so the queen tells a restart from a duplicate), and the URL it advertises.
/// </summary>
public sealed class HiveIdentity(string hiveId, string hiveUrl)
{
    public string HiveId { get; } = hiveId;

    public string InstanceId { get; } = Guid.NewGuid().ToString("N");

    public string HiveUrl { get; } = hiveUrl;

    public string Version => ProtocolConstants.Version;

    public int Protocol => ProtocolConstants.ProtocolVersion;

    public HiveReady ToReady() => new(HiveId, HiveUrl, InstanceId, Version, Protocol);
}
