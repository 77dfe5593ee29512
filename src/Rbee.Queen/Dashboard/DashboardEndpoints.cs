using System.Collections.Frozen;
using System.Security.Cryptography;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Net.Http.Headers;
using Rbee.Hosting.Errors;

namespace Rbee.Queen.Dashboard;

/// <summary>
/// The web dashboard (issue 11): a page and its few static files, embedded in queen-rbee so it works offline and ships as
/// one binary. The files are read once from the assembly's manifest resources (no reflection, AOT-clean) and served as
/// bytes. They are open, like <c>/health</c>: they hold no cluster data; the page asks for the token and sends it with
/// every call to the guarded endpoints (the stream, the jobs).
/// </summary>
public static class DashboardEndpoints
{
    /// <summary>Where the assets live under the queen's root; <c>/</c> is <c>index.html</c>.</summary>
    public const string Prefix = "/dashboard/";

    private const string ResourcePrefix = "dashboard/";

    private static readonly FrozenDictionary<string, string> ContentTypes = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        [".html"] = "text/html; charset=utf-8",
        [".js"] = "text/javascript; charset=utf-8",
        [".css"] = "text/css; charset=utf-8",
        [".svg"] = "image/svg+xml",
    }.ToFrozenDictionary();

    // The page talks only to its own origin and runs only its own script and style: a token typed into it cannot be sent
    // elsewhere by injected markup.
    private const string ContentSecurityPolicy =
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

    private static readonly Lazy<FrozenDictionary<string, Asset>> Assets = new(Load);

    public static IEndpointRouteBuilder MapDashboard(this IEndpointRouteBuilder app)
    {
        app.MapGet("/", (HttpContext context) => Serve(context, "index.html"));
        app.MapGet(Prefix + "{**file}", (HttpContext context, string? file) => Serve(context, file ?? ""));
        return app;
    }

    /// <summary>The names of the embedded files (<c>index.html</c>, <c>app.js</c>…).</summary>
    public static IEnumerable<string> FileNames => Assets.Value.Keys;

    private static IResult Serve(HttpContext context, string file)
    {
        if (!Assets.Value.TryGetValue(file, out var asset))
            return ApiErrors.NotFound("not_found", $"no dashboard file '{file}'");
        var headers = context.Response.Headers;
        // Revalidated on every load (cheap: a 304 on the ETag), so a queen upgraded in place never serves a stale page.
        headers.CacheControl = "no-cache";
        headers.ETag = asset.ETag;
        headers.XContentTypeOptions = "nosniff";
        headers["Referrer-Policy"] = "no-referrer";
        if (asset.ContentType.StartsWith("text/html", StringComparison.Ordinal))
        {
            headers.ContentSecurityPolicy = ContentSecurityPolicy;
            headers.XFrameOptions = "DENY";
        }
        var ifNoneMatch = context.Request.Headers.IfNoneMatch;
        if (ifNoneMatch.Count > 0 && EntityTagHeaderValue.TryParseList(ifNoneMatch, out var tags)
            && tags.Any(t => t.Equals(EntityTagHeaderValue.Any) || t.Tag == asset.ETag))
            return Results.StatusCode(StatusCodes.Status304NotModified);
        return Results.Bytes(asset.Bytes, asset.ContentType);
    }

    private static FrozenDictionary<string, Asset> Load()
    {
        var assembly = typeof(DashboardEndpoints).Assembly;
        var assets = new Dictionary<string, Asset>(StringComparer.Ordinal);
        foreach (var name in assembly.GetManifestResourceNames())
        {
            if (!name.StartsWith(ResourcePrefix, StringComparison.Ordinal)) continue;
            var file = name[ResourcePrefix.Length..];
            if (!ContentTypes.TryGetValue(Path.GetExtension(file), out var type)) continue;
            using var stream = assembly.GetManifestResourceStream(name)!;
            using var copy = new MemoryStream();
            stream.CopyTo(copy);
            var bytes = copy.ToArray();
            var etag = "\"" + Convert.ToHexStringLower(SHA256.HashData(bytes).AsSpan(0, 8)) + "\"";
            assets[file] = new Asset(bytes, type, etag);
        }
        return assets.ToFrozenDictionary(StringComparer.Ordinal);
    }

    private sealed record Asset(byte[] Bytes, string ContentType, string ETag);
}
