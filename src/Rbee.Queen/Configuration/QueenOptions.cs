using Rbee.Contracts.Protocol;
using Rbee.Platform.Configuration;
using Rbee.Platform.Paths;

namespace Rbee.Queen.Configuration;

/// <summary>
/// The queen's tunables (STYLE.md §5). Bound from section <c>Queen</c> (appsettings, env <c>RBEE_Queen__…</c>,
/// flags such as <c>--port</c>); defaults are the protocol constants of DESIGN.md "Discovery and telemetry".
/// </summary>
public sealed class QueenOptions
{
    public const string SectionName = "Queen";

    /// <summary>HTTP port of the queen.</summary>
    public int Port { get; set; } = ProtocolConstants.QueenPort;

    /// <summary>Address to listen on. All interfaces by default, so hives on other machines reach the queen.</summary>
    public string Bind { get; set; } = "0.0.0.0";

    /// <summary>The URL the queen gives hives in <c>queen_url</c>; when unset, the local address of its socket to that hive.</summary>
    public string? AdvertiseUrl { get; set; }

    /// <summary>The queen's own state: the hives it manages over SSH, its audit log. Default <c>~/.local/state/rbee/queen</c>.</summary>
    public string? StateDir { get; set; }

    public string ResolvedStateDir => StateDir is { Length: > 0 } d ? RbeePaths.ExpandHome(d) : Path.Combine(RbeePaths.StateDirectory, "queen");

    /// <summary>The SSH config listing the hives (DESIGN.md "Discovery and telemetry" 2).</summary>
    public string SshConfigPath { get; set; } = "~/.ssh/config";

    /// <summary>Wait after start-up before the first SSH-config probe, so hives already running find us first.</summary>
    public TimeSpan SettleDelay { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>First wait before probing a silent host again; doubles up to <see cref="ProbeBackoffMax"/>.</summary>
    public TimeSpan ProbeBackoffInitial { get; set; } = TimeSpan.FromSeconds(5);

    public TimeSpan ProbeBackoffMax { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Time-out of one <c>/capabilities?queen_url=</c> probe.</summary>
    public TimeSpan ProbeTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Debounce of SSH config file changes (editors write a file in several steps).</summary>
    public TimeSpan SshConfigDebounce { get; set; } = TimeSpan.FromMilliseconds(300);

    /// <summary>Hive port per SSH alias when it is not 7835 (several hives on one machine), e.g. <c>Queen:HivePorts:local-hive=17835</c>.</summary>
    public Dictionary<string, int> HivePorts { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>First wait before re-subscribing to a hive whose stream closed; doubles up to <see cref="ResubscribeBackoffMax"/>.</summary>
    public TimeSpan ResubscribeBackoffInitial { get; set; } = TimeSpan.FromMilliseconds(500);

    public TimeSpan ResubscribeBackoffMax { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Time-out of <c>GET /capabilities</c> and of the stream's response headers when subscribing.</summary>
    public TimeSpan SubscribeTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How often liveness is evaluated; a fraction of the degraded threshold keeps detection prompt.</summary>
    public TimeSpan LivenessTick { get; set; } = TimeSpan.FromMilliseconds(100);

    /// <summary>Bound of one hive's <c>POST /v1/shutdown</c> during the queen's shutdown cascade.</summary>
    public TimeSpan HiveShutdownTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Run socket continuations where the socket event arrives instead of handing each to the thread pool: Kestrel's
    /// <c>UnsafePreferInlineScheduling</c> for the queen's listener, and the runtime's inline socket completions
    /// (<c>DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS</c>) for its connections to workers and hives. The queen's
    /// handlers never block, and a proxy pays every hop twice: on the 2-core VM this cut the queen's CPU per proxied
    /// request from about 0.6 ms to 0.1-0.2 ms (bench/Rbee.Bench.Proxy). Off only to compare.
    /// </summary>
    public bool InlineScheduling { get; set; } = true;

    /// <summary>Largest accepted request body, in bytes.</summary>
    public long MaxRequestBodyBytes { get; set; } = 64 * 1024;

    /// <summary>Returns the first problem with these values, or null when they are usable.</summary>
    public string? Validate()
    {
        if (Port is < 0 or > 65535) return "Queen:Port must be 0-65535";
        if (!Rbee.Hosting.RbeeHost.IsValidBindAddress(Bind)) return $"Queen:Bind '{Bind}' is not an IP address";
        if (AdvertiseUrl is { Length: > 0 } u && !DaemonUrl.IsValid(u))
            return $"Queen:AdvertiseUrl '{u}' must be an absolute http(s) URL";
        if (string.IsNullOrWhiteSpace(SshConfigPath)) return "Queen:SshConfigPath must not be empty";
        if (SettleDelay < TimeSpan.Zero) return "Queen:SettleDelay must not be negative";
        if (ProbeBackoffInitial <= TimeSpan.Zero || ProbeBackoffMax < ProbeBackoffInitial)
            return "Queen:ProbeBackoffInitial must be positive and not above Queen:ProbeBackoffMax";
        if (ProbeTimeout <= TimeSpan.Zero) return "Queen:ProbeTimeout must be positive";
        if (SshConfigDebounce < TimeSpan.Zero) return "Queen:SshConfigDebounce must not be negative";
        foreach (var (alias, port) in HivePorts)
            if (port is <= 0 or > 65535) return $"Queen:HivePorts:{alias} must be 1-65535";
        if (ResubscribeBackoffInitial <= TimeSpan.Zero || ResubscribeBackoffMax < ResubscribeBackoffInitial)
            return "Queen:ResubscribeBackoffInitial must be positive and not above Queen:ResubscribeBackoffMax";
        if (SubscribeTimeout <= TimeSpan.Zero) return "Queen:SubscribeTimeout must be positive";
        if (LivenessTick <= TimeSpan.Zero) return "Queen:LivenessTick must be positive";
        if (HiveShutdownTimeout <= TimeSpan.Zero) return "Queen:HiveShutdownTimeout must be positive";
        if (MaxRequestBodyBytes <= 0) return "Queen:MaxRequestBodyBytes must be positive";
        return null;
    }

    /// <summary><see cref="SshConfigPath"/> with <c>~</c> expanded to the user's home.</summary>
    public string ResolvedSshConfigPath => RbeePaths.ExpandHome(SshConfigPath);
}
