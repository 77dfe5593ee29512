using System.Globalization;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Rbee.Hosting.Errors;

namespace Rbee.Hosting.Logs;

/// <summary>What a log request asks for: <c>?lines=N</c> (default 100, at most <see cref="LogFileTail.MaxLines"/>) and <c>?follow=true</c>.</summary>
public sealed record LogQuery(int Lines, bool Follow)
{
    public const int DefaultLines = 100;

    /// <summary>The query of <paramref name="request"/>, or the 400 that says which parameter is wrong.</summary>
    public static LogQuery? Parse(HttpRequest request, out IResult? error)
    {
        error = null;
        var lines = DefaultLines;
        if (request.Query.TryGetValue("lines", out var l))
        {
            if (!int.TryParse(l.ToString(), NumberStyles.None, CultureInfo.InvariantCulture, out lines) || lines > LogFileTail.MaxLines)
            {
                error = ApiErrors.BadRequest("invalid_lines", $"'lines' must be a whole number from 0 to {LogFileTail.MaxLines}", "lines");
                return null;
            }
        }
        var follow = false;
        if (request.Query.TryGetValue("follow", out var f) && !bool.TryParse(f.ToString(), out follow))
        {
            error = ApiErrors.BadRequest("invalid_follow", "'follow' must be true or false", "follow");
            return null;
        }
        return new LogQuery(lines, follow);
    }

    /// <summary>The query string that asks for this.</summary>
    public string ToQueryString() =>
        string.Create(CultureInfo.InvariantCulture, $"?lines={Lines}&follow={(Follow ? "true" : "false")}");
}

/// <summary>
/// The daemons' log endpoints (DESIGN.md "Logs"): a log file as <c>text/plain</c>, its last lines and then, following,
/// what is appended until the caller leaves or the daemon stops. The file's path is in <c>X-Rbee-Log-Path</c>.
/// </summary>
public static class LogResponses
{
    public const string PathHeader = Rbee.Contracts.Protocol.ProtocolConstants.LogPathHeader;

    public static async Task WriteAsync(HttpContext context, string path, LogQuery query)
    {
        var response = context.Response;
        response.ContentType = "text/plain; charset=utf-8";
        response.Headers.CacheControl = "no-store";
        response.Headers[PathHeader] = path;
        // Each appended chunk goes out as it is read, not when a buffer fills.
        context.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
        var lifetime = context.RequestServices.GetRequiredService<IHostApplicationLifetime>();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, lifetime.ApplicationStopping);
        await response.StartAsync(stop.Token).ConfigureAwait(false);
        try
        {
            await LogFileTail.CopyAsync(path, query.Lines, query.Follow, response.Body,
                context.RequestServices.GetRequiredService<TimeProvider>(), stop.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is OperationCanceledException or IOException && stop.IsCancellationRequested)
        {
            // The reader left or the daemon is stopping: the normal ends of a followed log.
        }
    }

    /// <summary>
    /// <c>GET /v1/logs</c>: this daemon's own log, the file its standard output goes to; 404 naming where it goes
    /// instead when that is not a file.
    /// </summary>
    public static async Task OwnLogAsync(HttpContext context, string program)
    {
        if (LogQuery.Parse(context.Request, out var error) is not { } query)
        {
            await error!.ExecuteAsync(context).ConfigureAwait(false);
            return;
        }
        if (LogFileTail.OwnOutputFile(out var what) is not { } path)
        {
            await ApiErrors.NotFound("log_not_a_file",
                $"{program} writes its log to {what}, not to a file: read it where it runs (the terminal, or journalctl for a service)").ExecuteAsync(context).ConfigureAwait(false);
            return;
        }
        await WriteAsync(context, path, query).ConfigureAwait(false);
    }
}
