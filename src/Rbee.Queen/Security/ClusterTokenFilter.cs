using System.Net;
using System.Net.NetworkInformation;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http;
using Rbee.Contracts.Wire;
using Rbee.Queen.Http;

namespace Rbee.Queen.Security;

/// <summary>
/// Guards the queen's protected endpoints (DESIGN.md "Security": <c>/v1/hive/ready</c>, <c>/v1/jobs*</c>,
/// <c>/v1/shutdown</c>, <c>/v1/cluster</c>, <c>/v1/heartbeats/stream</c>): with a cluster token, the bearer must
/// match it (compared in constant time); with none configured, only callers from the machine's own addresses.
/// </summary>
public sealed class ClusterTokenFilter(ClusterToken token) : IEndpointFilter
{
    private readonly byte[]? _expected = token.Value is null ? null : Encoding.UTF8.GetBytes(token.Value);

    public async ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        var http = context.HttpContext;
        if (_expected is null)
        {
            if (!LocalAddresses.IsLocal(http.Connection.RemoteIpAddress))
                return ErrorResults.Error(StatusCodes.Status403Forbidden,
                    "no cluster token is configured, so only local callers are accepted", ErrorTypes.Permission, "not_local");
            return await next(context);
        }
        var header = http.Request.Headers.Authorization.ToString();
        const string prefix = "Bearer ";
        if (!header.StartsWith(prefix, StringComparison.OrdinalIgnoreCase) ||
            !CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(header[prefix.Length..].Trim()), _expected))
        {
            http.Response.Headers.WWWAuthenticate = "Bearer";
            return ErrorResults.Error(StatusCodes.Status401Unauthorized, "missing or wrong cluster token",
                ErrorTypes.Authentication, "invalid_token");
        }
        return await next(context);
    }
}

/// <summary>The machine's own addresses (any interface, not only loopback), refreshed when interfaces change.</summary>
public static class LocalAddresses
{
    private static volatile HashSet<IPAddress> _addresses = Load();

    static LocalAddresses()
    {
        NetworkChange.NetworkAddressChanged += (_, _) => _addresses = Load();
    }

    public static bool IsLocal(IPAddress? address)
    {
        if (address is null) return false;
        if (address.IsIPv4MappedToIPv6) address = address.MapToIPv4();
        return IPAddress.IsLoopback(address) || _addresses.Contains(address);
    }

    private static HashSet<IPAddress> Load()
    {
        var set = new HashSet<IPAddress>();
        try
        {
            foreach (var nic in NetworkInterface.GetAllNetworkInterfaces())
                foreach (var a in nic.GetIPProperties().UnicastAddresses) set.Add(a.Address);
        }
        catch (NetworkInformationException)
        {
            // Loopback is still accepted by IsLocal.
        }
        return set;
    }
}
