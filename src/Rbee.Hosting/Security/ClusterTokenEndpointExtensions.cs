using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace Rbee.Hosting.Security;

/// <summary>Endpoint metadata: this endpoint is protected by the cluster token (DESIGN.md "Security").</summary>
public sealed class RequireClusterTokenMetadata;

public static class ClusterTokenEndpointExtensions
{
    /// <summary>
    /// Protects an endpoint (or a group) with the cluster-token rule of DESIGN.md "Security" (see
    /// <see cref="ClusterTokenAuthorizer"/>): 401 without the token when one is configured, 403 for a remote caller
    /// when none is. Enforced by <see cref="UseClusterTokenAuth"/> before the body is read or bound, so a refused
    /// request changes nothing and gets 401/403 even when its body is malformed.
    /// </summary>
    public static TBuilder RequireClusterToken<TBuilder>(this TBuilder builder) where TBuilder : IEndpointConventionBuilder
    {
        builder.WithMetadata(new RequireClusterTokenMetadata());
        // Defence in depth: a daemon that forgot UseClusterTokenAuth must not serve a protected route handler openly.
        builder.AddEndpointFilter(async (ctx, next) =>
        {
            if (ctx.HttpContext.Items.ContainsKey(CheckedKey)) return await next(ctx);
            return ctx.HttpContext.RequestServices.GetRequiredService<ClusterTokenAuthorizer>().Check(ctx.HttpContext) ?? await next(ctx);
        });
        return builder;
    }

    private static readonly object CheckedKey = new();

    /// <summary>Enforces <see cref="RequireClusterToken{TBuilder}"/>; add after routing (WebApplication routes first).</summary>
    public static IApplicationBuilder UseClusterTokenAuth(this IApplicationBuilder app) =>
        app.Use(async (context, next) =>
        {
            if (context.GetEndpoint()?.Metadata.GetMetadata<RequireClusterTokenMetadata>() is not null)
            {
                var refusal = context.RequestServices.GetRequiredService<ClusterTokenAuthorizer>().Check(context);
                context.Items[CheckedKey] = true;
                if (refusal is not null)
                {
                    await refusal.ExecuteAsync(context);
                    return;
                }
            }
            await next(context);
        });
}
