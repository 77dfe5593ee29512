using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Rbee.Platform.Sse;

namespace Rbee.Hosting.Sse;

/// <summary>
/// Opens a daemon's SSE response (<c>text/event-stream</c>, no buffering anywhere on the way) and hands back the
/// <see cref="SseWriter"/> that formats the events onto it.
/// </summary>
public static class SseResponse
{
    /// <summary>Sends the headers at once (so the client sees the stream open before the first event) and returns the writer.</summary>
    public static async Task<SseWriter> StartAsync(HttpResponse response, CancellationToken ct)
    {
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = "text/event-stream";
        response.Headers.CacheControl = "no-cache, no-store";
        response.Headers.Connection = "keep-alive";
        // Reverse proxies (nginx) buffer responses unless told not to.
        response.Headers["X-Accel-Buffering"] = "no";
        response.HttpContext.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
        await response.StartAsync(ct);
        await response.Body.FlushAsync(ct);
        return new SseWriter(response.Body);
    }
}
