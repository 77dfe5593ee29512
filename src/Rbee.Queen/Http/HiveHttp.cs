using System.Net.Http.Headers;
using Rbee.Hosting.Security;

namespace Rbee.Queen.Http;

/// <summary>
/// The queen's one HTTP client toward hives: one pooled <see cref="SocketsHttpHandler"/> for probes,
/// subscriptions and shutdown calls (no per-request clients). Long-lived SSE streams need an infinite client
/// time-out; every call bounds itself with its own cancellation.
/// </summary>
public sealed class HiveHttp : IDisposable
{
    private readonly string? _token;

    public HiveHttp(ClusterTokenOptions token)
    {
        _token = token.Token;
        Client = new HttpClient(new SocketsHttpHandler
        {
            // Recycle connections so a hive that moved behind a DNS name is found again.
            PooledConnectionLifetime = TimeSpan.FromMinutes(5),
            PooledConnectionIdleTimeout = TimeSpan.FromMinutes(1),
            ConnectTimeout = TimeSpan.FromSeconds(5),
            MaxConnectionsPerServer = 64,
            UseProxy = false,
            AllowAutoRedirect = false,
        })
        {
            Timeout = Timeout.InfiniteTimeSpan,
        };
    }

    public HttpClient Client { get; }

    /// <summary>A request carrying the cluster token as bearer when one is configured (DESIGN.md "Security").</summary>
    public HttpRequestMessage Request(HttpMethod method, Uri uri)
    {
        var request = new HttpRequestMessage(method, uri);
        if (_token is not null) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", _token);
        return request;
    }

    public void Dispose() => Client.Dispose();
}

