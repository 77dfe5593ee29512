using System.Text.RegularExpressions;
using Rbee.Contracts.Protocol;
using Rbee.Hosting;
using Rbee.Platform.Configuration;
using Rbee.Platform.Paths;

namespace Rbee.Hive;

/// <summary>
/// rbee-hive's settings (section <c>Hive</c>; env <c>RBEE_Hive__Port</c>; flags <c>--port</c>, <c>--queen-url</c>...).
/// Defaults are the protocol's (DESIGN.md "The parts", "Discovery and telemetry" 1 and 4).
/// </summary>
public sealed partial class HiveOptions
{
    public const string SectionName = "Hive";

    /// <summary>The hive's own id (DESIGN.md "Discovery and telemetry" 4): default the machine's host name.</summary>
    public string HiveId { get; set; } = Environment.MachineName;

    public int Port { get; set; } = ProtocolConstants.HivePort;

    /// <summary>Address the hive listens on and gives its workers as <c>--host</c>: an IP, <c>*</c> (any, dual stack) or <c>localhost</c>.</summary>
    public string BindAddress { get; set; } = "0.0.0.0";

    /// <summary>The URL the queen reaches this hive at. Unset: derived (see <see cref="Identity.HiveUrlResolver"/>).</summary>
    public string? AdvertiseUrl { get; set; }

    /// <summary>Where the ready sequence goes first (<c>--queen-url</c>, env <c>RBEE_QUEEN_URL</c>).</summary>
    public string QueenUrl { get; set; } = ProtocolConstants.DefaultQueenUrl;

    /// <summary>Name of this hive's cgroup v2 tree under the mount; distinct per hive when several share a machine.</summary>
    public string CgroupRoot { get; set; } = "rbee.slice";

    public string ModelsDir { get; set; } = RbeePaths.DefaultModelsDirectory;

    /// <summary>Machine-wide runtime directory (port locks shared by every hive of the machine): <see cref="RbeePaths.DefaultRunDirectory"/>.</summary>
    public string RunDir { get; set; } = RbeePaths.DefaultRunDirectory;

    /// <summary>This hive's own state (worker logs); default <see cref="RbeePaths.HiveStateDirectory"/>, <c>~/.local/state/rbee/&lt;hive id&gt;</c>.</summary>
    public string? StateDir { get; set; }

    /// <summary>Stop the hive's workers when the hive stops (DESIGN.md "Workers under the hive": default yes; no = restart mode).</summary>
    public bool StopWorkersOnExit { get; set; } = true;

    public long MaxRequestBodyBytes { get; set; } = new ServerLimits().MaxRequestBodyBytes;

    public string ResolvedStateDir => StateDir is null ? RbeePaths.HiveStateDirectory(HiveId) : RbeePaths.ExpandHome(StateDir);

    public string ResolvedModelsDir => RbeePaths.ExpandHome(ModelsDir);

    public string ResolvedRunDir => RbeePaths.ExpandHome(RunDir);

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")]
    private static partial Regex HiveIdPattern();

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")]
    private static partial Regex CgroupNamePattern();

    /// <summary>The first problem, as one line naming the setting, or null.</summary>
    public string? Validate()
    {
        if (string.IsNullOrWhiteSpace(HiveId) || !HiveIdPattern().IsMatch(HiveId))
            return $"Hive:HiveId '{HiveId}' must be 1-63 letters, digits, '.', '_' or '-' (--hive-id)";
        if (Port is < 1 or > 65535) return $"Hive:Port {Port} must be 1-65535 (--port)";
        if (!RbeeHost.IsValidBindAddress(BindAddress)) return $"Hive:BindAddress '{BindAddress}' must be an IP address, '*' or 'localhost' (--bind)";
        if (AdvertiseUrl is not null && !DaemonUrl.IsValid(AdvertiseUrl)) return $"Hive:AdvertiseUrl '{AdvertiseUrl}' must be an absolute http(s) URL (--advertise-url)";
        if (!DaemonUrl.IsValid(QueenUrl)) return $"Hive:QueenUrl '{QueenUrl}' must be an absolute http(s) URL (--queen-url, RBEE_QUEEN_URL)";
        if (!CgroupNamePattern().IsMatch(CgroupRoot ?? "")) return $"Hive:CgroupRoot '{CgroupRoot}' must be one directory name (letters, digits, '.', '_', '-')";
        if (string.IsNullOrWhiteSpace(ModelsDir)) return "Hive:ModelsDir must not be empty";
        if (string.IsNullOrWhiteSpace(RunDir)) return "Hive:RunDir must not be empty";
        if (MaxRequestBodyBytes < 1024) return "Hive:MaxRequestBodyBytes must be at least 1024";
        return null;
    }
}
