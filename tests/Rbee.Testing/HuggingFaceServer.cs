using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Rbee.Testing;

/// <summary>
/// A server that answers like Hugging Face, on loopback (Kestrel, in the test's process), for download tests:
/// <list type="bullet">
/// <item><c>GET /api/models/{org}/{repo}/tree/{rev}</c>: the repository's files;</item>
/// <item><c>HEAD|GET /{org}/{repo}/resolve/{rev}/{path}</c>: for an LFS file, a 302 to the "CDN" carrying
/// <c>X-Linked-ETag</c> (the sha256), <c>X-Linked-Size</c> and <c>ETag</c>, as huggingface.co does; the CDN is the same
/// server under the host name <c>localhost</c> (the endpoint is <c>127.0.0.1</c>), so a token that follows the redirect
/// is seen there;</item>
/// <item><c>/cdn/{sha}</c>: the bytes, with <c>Range</c> (206 and <c>Content-Range</c>), <c>ETag</c>, <c>Accept-Ranges</c>.</item>
/// </list>
/// Faults on demand: cut the next transfers after N bytes, serve wrong bytes, answer a status, limit the rate. It counts
/// every body byte it sends and records every request.
/// </summary>
public sealed class HuggingFaceServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ConcurrentDictionary<string, HostedFile> _files = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<int> _statuses = new();
    private readonly ConcurrentQueue<long> _cuts = new();
    private readonly ConcurrentQueue<RequestRecord> _requests = new();
    private long _bytesSent;

    private HuggingFaceServer(WebApplication app, int port)
    {
        _app = app;
        Port = port;
    }

    public int Port { get; }

    /// <summary>What a hive gets as <c>HF_ENDPOINT</c>.</summary>
    public Uri Endpoint => new($"http://127.0.0.1:{Port}");

    /// <summary>Body bytes sent so far, over every request.</summary>
    public long BytesSent => Interlocked.Read(ref _bytesSent);

    public IReadOnlyList<RequestRecord> Requests => _requests.ToArray();

    /// <summary>Body bytes per second of every transfer; null for as fast as the socket goes.</summary>
    public long? BytesPerSecond { get; set; }

    /// <summary>When set, resolve and API requests without <c>Authorization: Bearer {token}</c> get 401.</summary>
    public string? RequiredToken { get; set; }

    /// <summary>Serve the bytes of every transfer with one byte flipped (the announced digest stays the true one).</summary>
    public bool CorruptBytes { get; set; }

    /// <summary>Hold every transfer's response (headers included) until this is set; null releases at once.</summary>
    public TaskCompletionSource? HoldTransfers { get; set; }

    /// <summary>Answer a ranged GET with the whole file (200), as a server without range support does.</summary>
    public bool IgnoreRange { get; set; }

    /// <summary>Completes when the first transfer of file bytes (a GET of the CDN) begins.</summary>
    public Task FirstTransfer => _firstTransfer.Task;

    private readonly TaskCompletionSource _firstTransfer = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public static async Task<HuggingFaceServer> StartAsync()
    {
        var port = FreePort.Next();
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(k => k.ListenLocalhost(port));
        var app = builder.Build();
        var server = new HuggingFaceServer(app, port);
        app.Run(server.HandleAsync);
        await app.StartAsync().ConfigureAwait(false);
        return server;
    }

    /// <summary>Puts <paramref name="bytes"/> at <c>{repo}/{path}</c> of revision <paramref name="revision"/>; replaces what was
    /// there (a new digest and ETag: the source changed). Returns its sha256.</summary>
    public string AddFile(string repo, string path, byte[] bytes, string revision = "main", bool lfs = true)
    {
        var sha = Convert.ToHexStringLower(SHA256.HashData(bytes));
        _files[$"{repo}/{revision}/{path}"] = new HostedFile(repo, revision, path, bytes, sha, lfs);
        return sha;
    }

    /// <summary>The next <paramref name="count"/> transfers stop after <paramref name="bytes"/> body bytes and close the connection.</summary>
    public void CutNextTransfers(long bytes, int count = 1)
    {
        for (var i = 0; i < count; i++) _cuts.Enqueue(bytes);
    }

    /// <summary>The next requests (of any kind) answer these statuses, one each, in order.</summary>
    public void AnswerNext(params int[] statuses)
    {
        foreach (var s in statuses) _statuses.Enqueue(s);
    }

    private async Task HandleAsync(HttpContext ctx)
    {
        var request = ctx.Request;
        _requests.Enqueue(new RequestRecord(request.Method, request.Host.Host, request.Path.Value ?? "", request.Headers.Range.ToString(),
            request.Headers.Authorization.ToString()));
        if (_statuses.TryDequeue(out var status))
        {
            ctx.Response.StatusCode = status;
            await ctx.Response.WriteAsync($"{{\"error\":\"status {status} on request\"}}").ConfigureAwait(false);
            return;
        }
        var segments = (request.Path.Value ?? "").Trim('/').Split('/');
        if (segments.Length >= 2 && segments[0] == "cdn")
        {
            var file = _files.Values.FirstOrDefault(f => f.Sha256 == segments[1]);
            if (file is null) { ctx.Response.StatusCode = 404; return; }
            await ServeBytesAsync(ctx, file).ConfigureAwait(false);
            return;
        }
        if (RequiredToken is { } token && request.Headers.Authorization.ToString() != "Bearer " + token)
        {
            ctx.Response.StatusCode = 401;
            return;
        }
        // /api/models/{org}/{repo}/tree/{rev}
        if (segments.Length >= 6 && segments[0] == "api" && segments[1] == "models" && segments[4] == "tree")
        {
            var repo = $"{segments[2]}/{segments[3]}";
            var files = _files.Values.Where(f => f.Repo == repo && f.Revision == segments[5]).ToList();
            if (files.Count == 0) { ctx.Response.StatusCode = 404; return; }
            ctx.Response.ContentType = "application/json";
            var list = files.Select(f => new Dictionary<string, object> { ["type"] = "file", ["path"] = f.Path, ["size"] = f.Bytes.Length }).ToList();
            await ctx.Response.WriteAsync(JsonSerializer.Serialize(list)).ConfigureAwait(false);
            return;
        }
        // /{org}/{repo}/resolve/{rev}/{path...}
        if (segments.Length >= 5 && segments[2] == "resolve")
        {
            var key = $"{segments[0]}/{segments[1]}/{segments[3]}/{string.Join('/', segments[4..].Select(Uri.UnescapeDataString))}";
            if (!_files.TryGetValue(key, out var file)) { ctx.Response.StatusCode = 404; return; }
            if (!file.Lfs)
            {
                await ServeBytesAsync(ctx, file).ConfigureAwait(false);
                return;
            }
            var headers = ctx.Response.Headers;
            headers["X-Linked-ETag"] = $"\"{file.Sha256}\"";
            headers["X-Linked-Size"] = file.Bytes.Length.ToString(System.Globalization.CultureInfo.InvariantCulture);
            headers.ETag = $"\"{file.Sha256}\"";
            headers.Location = $"http://localhost:{Port}/cdn/{file.Sha256}?file={Uri.EscapeDataString(file.Path)}";
            ctx.Response.StatusCode = 302;
            return;
        }
        ctx.Response.StatusCode = 404;
    }

    private async Task ServeBytesAsync(HttpContext ctx, HostedFile file)
    {
        var bytes = file.Bytes;
        long start = 0, end = bytes.Length - 1;
        var response = ctx.Response;
        response.Headers.AcceptRanges = "bytes";
        response.Headers.ETag = $"\"cdn-{file.Sha256[..16]}\"";
        var range = IgnoreRange ? "" : ctx.Request.Headers.Range.ToString();
        if (range.StartsWith("bytes=", StringComparison.Ordinal))
        {
            var parts = range[6..].Split('-');
            start = long.Parse(parts[0], System.Globalization.CultureInfo.InvariantCulture);
            if (parts.Length > 1 && parts[1].Length > 0) end = Math.Min(end, long.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture));
            if (start >= bytes.Length)
            {
                response.StatusCode = 416;
                response.Headers.ContentRange = $"bytes */{bytes.Length}";
                return;
            }
            response.StatusCode = 206;
            response.Headers.ContentRange = $"bytes {start}-{end}/{bytes.Length}";
        }
        var length = end - start + 1;
        response.ContentLength = length;
        if (HttpMethods.IsHead(ctx.Request.Method)) return;

        long? cut = _cuts.TryDequeue(out var c) ? c : null;
        _firstTransfer.TrySetResult();
        if (HoldTransfers is { } hold) await hold.Task.WaitAsync(ctx.RequestAborted).ConfigureAwait(false);
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        long sent = 0;
        const int Chunk = 16 * 1024;
        var buffer = new byte[Chunk];
        while (sent < length)
        {
            var n = (int)Math.Min(Chunk, length - sent);
            if (cut is { } limit) n = (int)Math.Min(n, limit - sent);
            if (n <= 0) break;
            Array.Copy(bytes, start + sent, buffer, 0, n);
            if (CorruptBytes)
            {
                var flip = bytes.Length / 2 - (start + sent);
                if (flip >= 0 && flip < n) buffer[flip] ^= 0xFF;
            }
            try { await response.Body.WriteAsync(buffer.AsMemory(0, n), ctx.RequestAborted).ConfigureAwait(false); }
            catch (Exception e) when (e is IOException or OperationCanceledException) { return; }
            sent += n;
            Interlocked.Add(ref _bytesSent, n);
            if (BytesPerSecond is { } rate)
            {
                var due = TimeSpan.FromSeconds(sent / (double)rate) - System.Diagnostics.Stopwatch.GetElapsedTime(started);
                if (due > TimeSpan.Zero)
                {
                    try { await Task.Delay(due, ctx.RequestAborted).ConfigureAwait(false); }
                    catch (OperationCanceledException) { return; }
                }
            }
        }
        // A cut ends the response short of its Content-Length: Kestrel sends what was written, then closes the
        // connection, so the client sees a transfer that ends early, as after a network cut. (Aborting instead would
        // drop bytes still buffered, and the count above would overstate what the client got.)
    }

    public async ValueTask DisposeAsync()
    {
        HoldTransfers?.TrySetResult();
        await _app.StopAsync().ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false);
    }

    private sealed record HostedFile(string Repo, string Revision, string Path, byte[] Bytes, string Sha256, bool Lfs);
}

/// <summary>One request the <see cref="HuggingFaceServer"/> saw.</summary>
public sealed record RequestRecord(string Method, string Host, string Path, string Range, string Authorization);

/// <summary>Small helpers for tests that build on <see cref="HuggingFaceServer"/>.</summary>
public static class HuggingFaceServerExtensions
{
    /// <summary>The ranged GETs it answered for file bytes (resumes).</summary>
    public static int RangedTransfers(this HuggingFaceServer server) =>
        server.Requests.Count(r => r.Method == "GET" && r.Path.StartsWith("/cdn/", StringComparison.Ordinal) && r.Range.Length > 0);
}
