using System.Net.Http.Headers;
using Rbee.Hosting.Security;

namespace Rbee.Hosting.Http;

/// <summary>
/// A daemon's one HTTP client toward the other daemons (queen → hives: probes, subscriptions, jobs, shutdown;
/// hive → queen: ready): one pooled <see cref="SocketsHttpHandler"/>, no per-request clients, and the cluster token
/// as bearer on every request when one is configured (DESIGN.md "Security"). Long-lived SSE streams need an infinite
/// client time-out; every call bounds itself with its own cancellation.
/// </summary>
public sealed class ClusterHttp : IDisposable
{
    private readonly string? _token;

    public ClusterHttp(ClusterTokenOptions token)
    {
        _token = token.Token;
        Client = new HttpClient(new SocketsHttpHandler
        {
            // Recycle connections so a daemon that moved behind a DNS name is found again.
            PooledConnectionLifetime = TimeSpan.FromMinutes(1),
            PooledConnectionIdleTimeout = TimeSpan.FromMinutes(1),
            ConnectTimeout = TimeSpan.FromSeconds(5),
            MaxConnectionsPerServer = 64,
            // Daemons talk across the home network directly; an HTTP_PROXY meant for the internet must not carry them.
            UseProxy = false,
            AllowAutoRedirect = false,
        })
        {
            Timeout = Timeout.InfiniteTimeSpan,
        };
    }

    public HttpClient Client { get; }

    /// <summary>A request carrying the cluster token as bearer when one is configured.</summary>
    public HttpRequestMessage Request(HttpMethod method, Uri uri)
    {
        var request = new HttpRequestMessage(method, uri);
        if (_token is not null) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", _token);
        return request;
    }

    public void Dispose() => Client.Dispose();
}
