using System.Net;
using System.Net.Sockets;

namespace Rbee.Hive.Identity;

/// <summary>
/// The <c>hive_url</c> the queen will call back (DESIGN.md "Discovery and telemetry" 5, "Security"): the configured
/// advertise URL; else a specific bind address; else, with a cluster token, the machine's first non-loopback address
/// (a remote queen must reach it); with no token, loopback (only local callers are served anyway).
/// </summary>
public static class HiveUrlResolver
{
    public static string Resolve(HiveOptions options, bool tokenConfigured, Func<IPAddress?> firstNonLoopback)
    {
        if (!string.IsNullOrWhiteSpace(options.AdvertiseUrl)) return options.AdvertiseUrl.TrimEnd('/');
        if (IPAddress.TryParse(options.BindAddress.Trim('[', ']'), out var bound) && !IsAny(bound))
            return Format(bound, options.Port);
        if (options.BindAddress == "localhost" || !tokenConfigured) return Format(IPAddress.Loopback, options.Port);
        return Format(firstNonLoopback() ?? IPAddress.Loopback, options.Port);
    }

    private static bool IsAny(IPAddress a) => a.Equals(IPAddress.Any) || a.Equals(IPAddress.IPv6Any);

    private static string Format(IPAddress address, int port) =>
        address.AddressFamily == AddressFamily.InterNetworkV6 ? $"http://[{address}]:{port}" : $"http://{address}:{port}";
}
