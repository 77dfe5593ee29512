using Microsoft.AspNetCore.Http;
using Rbee.Hive.Discovery;
using Rbee.Hosting.Errors;
using Rbee.Hosting.Security;
using Rbee.Platform.Configuration;

namespace Rbee.Hive.Capabilities;

/// <summary>
/// <c>GET /capabilities[?queen_url=]</c> and <c>/v1/capabilities</c> (DESIGN.md "Discovery and telemetry" 2).
/// Without <c>queen_url</c> it is open. With it, the caller must pass the cluster-token rule and name an absolute
/// http(s) URL; only then does the hive start its ready sequence toward that queen. A refused or malformed request
/// changes nothing.
/// </summary>
public static class CapabilitiesEndpoint
{
    public const string QueenUrlParameter = "queen_url";

    public static async Task<IResult> HandleAsync(HttpContext context, CapabilitiesBuilder capabilities,
        ClusterTokenAuthorizer authorizer, ReadySequence readySequence)
    {
        if (context.Request.Query.TryGetValue(QueenUrlParameter, out var values))
        {
            if (authorizer.Check(context) is { } refusal) return refusal;
            if (values.Count != 1) return ApiErrors.BadRequest("invalid_queen_url", "give queen_url once", QueenUrlParameter);
            if (!DaemonUrl.TryParse(values[0], out var queenUrl))
                return ApiErrors.BadRequest("invalid_queen_url", "queen_url must be an absolute http(s) URL, e.g. http://10.0.0.2:7833", QueenUrlParameter);
            readySequence.Trigger(queenUrl, "asked by /capabilities?queen_url=", queenAsked: true);
        }
        return Results.Json(await capabilities.BuildAsync(context.RequestAborted), Contracts.Json.RbeeJsonContext.Default.Capabilities);
    }
}
