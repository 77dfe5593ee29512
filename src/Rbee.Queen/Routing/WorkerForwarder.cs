using System.Net;
using System.Net.Http.Headers;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Primitives;

namespace Rbee.Queen.Routing;

/// <summary>
/// The queen's one connection pool toward workers (DESIGN.md "Scheduling and routing"): a single
/// <see cref="SocketsHttpHandler"/> behind an <see cref="HttpMessageInvoker"/> (no <c>HttpClient</c> buffering, no
/// per-request client, no proxy: workers are on the home network). It returns as soon as a worker's response headers
/// arrive; the body is read by the caller as the worker writes it. Why not YARP's <c>IHttpForwarder</c>: the queen must
/// decide per attempt whether a failure is retried (nothing has reached the client yet) or ends the stream with an error
/// frame, and it may already have answered 200 and sent SSE comments while the request waited; YARP owns the response
/// from the first byte and turns every failure into a 502 of its own. This is also trimming- and AOT-safe.
/// </summary>
public sealed class WorkerForwarder : IWorkerProbe, IDisposable
{
    // Hop-by-hop headers (RFC 9110 §7.6.1) and what the queen sets itself; everything else travels as the client sent it.
    private static readonly HashSet<string> NotForwarded = new(StringComparer.OrdinalIgnoreCase)
    {
        "Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate", "Proxy-Authorization", "TE", "Trailer",
        "Transfer-Encoding", "Upgrade", "Host", "Content-Length", "Expect",
        // The client's API key is the queen's business; a worker never sees it.
        "Authorization", "X-Request-Id",
    };

    private static readonly HashSet<string> NotReturned = new(StringComparer.OrdinalIgnoreCase)
    {
        "Connection", "Keep-Alive", "Proxy-Connection", "TE", "Trailer", "Transfer-Encoding", "Upgrade", "Server", "Date",
    };

    private readonly HttpMessageInvoker _invoker;
    private readonly string? _clusterToken;

    /// <param name="clusterToken">The cluster token, from which each worker's key is derived; null sends no key (tests).</param>
    public WorkerForwarder(TimeSpan connectTimeout, string? clusterToken = null)
    {
        _clusterToken = clusterToken;
        _invoker = new HttpMessageInvoker(new SocketsHttpHandler
        {
            UseProxy = false,
            AllowAutoRedirect = false,
            AutomaticDecompression = DecompressionMethods.None,
            UseCookies = false,
            ConnectTimeout = connectTimeout,
            // Keep connections to a busy worker warm; drop idle ones before a worker's own keep-alive would.
            PooledConnectionIdleTimeout = TimeSpan.FromSeconds(60),
            PooledConnectionLifetime = Timeout.InfiniteTimeSpan,
            MaxConnectionsPerServer = int.MaxValue,
            // No W3C trace headers are injected into requests the client did not send.
            ActivityHeadersPropagator = null,
            EnableMultipleHttp2Connections = true,
        }, disposeHandler: true);
    }

    /// <summary>Sends the client's request to <paramref name="workerUrl"/>; returns with the worker's response headers.</summary>
    /// <param name="workerKey">The worker's key (<see cref="Rbee.Platform.Security.WorkerApiKey"/>), sent as its bearer; the
    /// client's own <c>Authorization</c> never is.</param>
    public Task<HttpResponseMessage> SendAsync(string workerUrl, HttpRequest client, ReadOnlyMemory<byte> body, string requestId,
        CancellationToken ct, string? workerKey = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, workerUrl + client.Path.Value + client.QueryString.Value)
        {
            Content = new ReadOnlyMemoryContent(body),
            Version = HttpVersion.Version11,
            VersionPolicy = HttpVersionPolicy.RequestVersionOrLower,
        };
        // Headers the client's Connection header names are hop-by-hop too (RFC 9110 §7.6.1).
        var connection = client.Headers.Connection;
        foreach (var (name, values) in client.Headers)
        {
            if (NotForwarded.Contains(name) || (connection.Count > 0 && NamedIn(connection, name))) continue;
            if (!request.Headers.TryAddWithoutValidation(name, (IEnumerable<string?>)values))
                request.Content.Headers.TryAddWithoutValidation(name, (IEnumerable<string?>)values);
        }
        request.Headers.TryAddWithoutValidation("X-Request-Id", requestId);
        if (workerKey is not null) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", workerKey);
        return _invoker.SendAsync(request, ct);
    }

    /// <summary>The key of the leased worker (DESIGN.md "Security": the queen sends it when it forwards).</summary>
    public string? KeyOf(Rbee.Queen.Scheduling.WorkerLease lease) =>
        _clusterToken is null ? null : Rbee.Platform.Security.WorkerApiKey.Derive(_clusterToken, lease.HiveId, lease.Key.Port);

    private static bool NamedIn(Microsoft.Extensions.Primitives.StringValues connection, string header)
    {
        foreach (var value in connection)
            foreach (var token in (value ?? "").Split(','))
                if (token.Trim().Equals(header, StringComparison.OrdinalIgnoreCase)) return true;
        return false;
    }

    /// <summary>Sends a body the queen built itself (the <c>infer</c> job) to <paramref name="path"/> of a worker.</summary>
    public Task<HttpResponseMessage> SendAsync(string workerUrl, string path, ReadOnlyMemory<byte> json, string requestId, CancellationToken ct,
        string? workerKey = null)
    {
        var content = new ReadOnlyMemoryContent(json);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        var request = new HttpRequestMessage(HttpMethod.Post, workerUrl + path) { Content = content };
        request.Headers.Accept.ParseAdd("text/event-stream");
        request.Headers.TryAddWithoutValidation("X-Request-Id", requestId);
        if (workerKey is not null) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", workerKey);
        return _invoker.SendAsync(request, ct);
    }

    /// <summary>True when the worker's <c>/health</c> answers 2xx within <paramref name="timeout"/>.</summary>
    public async Task<bool> ProbeHealthAsync(string workerUrl, TimeSpan timeout, CancellationToken ct)
    {
        using var bound = CancellationTokenSource.CreateLinkedTokenSource(ct);
        bound.CancelAfter(timeout);
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, workerUrl + "/health");
            using var response = await _invoker.SendAsync(request, bound.Token).ConfigureAwait(false);
            return response.IsSuccessStatusCode;
        }
        catch (Exception e) when (e is HttpRequestException or IOException or OperationCanceledException && !ct.IsCancellationRequested)
        {
            return false;
        }
    }

    /// <summary>Copies the worker's status and end-to-end headers onto the client's response (before its first byte).</summary>
    public static void CopyResponseHead(HttpResponseMessage upstream, HttpResponse response)
    {
        response.StatusCode = (int)upstream.StatusCode;
        Copy(upstream.Headers, response);
        Copy(upstream.Content.Headers, response);
    }

    private static void Copy(HttpHeaders headers, HttpResponse response)
    {
        foreach (var (name, values) in headers.NonValidated)
        {
            if (NotReturned.Contains(name)) continue;
            response.Headers[name] = values.Count == 1 ? new StringValues(values.ToString()) : new StringValues(values.ToArray());
        }
    }

    public void Dispose() => _invoker.Dispose();
}
