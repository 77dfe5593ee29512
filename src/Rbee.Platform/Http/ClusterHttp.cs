using System.Net.Http.Headers;

namespace Rbee.Platform.Http;

/// <summary>
/// A program's one HTTP client toward the daemons (queen → hives: probes, subscriptions, jobs, shutdown; hive → queen:
/// ready; the CLI → queen and hive): one pooled <see cref="SocketsHttpHandler"/>, no per-request clients, and the cluster
/// token as bearer on every request when there is one (DESIGN.md "Security"). Long-lived SSE streams need an infinite
/// client time-out; every call bounds itself with its own cancellation.
/// </summary>
public sealed class ClusterHttp : IDisposable
{
    /// <summary>How long a daemon waits for a TCP connection to another daemon.</summary>
    public static readonly TimeSpan DefaultConnectTimeout = TimeSpan.FromSeconds(5);

    private readonly string? _token;

    /// <param name="token">The cluster token, or null when none is configured.</param>
    /// <param name="connectTimeout">Default <see cref="DefaultConnectTimeout"/>; the CLI, talking to its own machine, waits less.</param>
    public ClusterHttp(string? token, TimeSpan? connectTimeout = null)
    {
        _token = token;
        Client = new HttpClient(new SocketsHttpHandler
        {
            // Recycle connections so a daemon that moved behind a DNS name is found again.
            PooledConnectionLifetime = TimeSpan.FromMinutes(1),
            PooledConnectionIdleTimeout = TimeSpan.FromMinutes(1),
            ConnectTimeout = connectTimeout ?? DefaultConnectTimeout,
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

    /// <summary>True when <c>GET {baseUrl}/health</c> answers 2xx within <paramref name="timeout"/>.</summary>
    public async Task<bool> IsHealthyAsync(Uri baseUrl, TimeSpan timeout, CancellationToken ct)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        cts.CancelAfter(timeout);
        try
        {
            using var request = Request(HttpMethod.Get, new Uri(baseUrl, "/health"));
            using var response = await Client.SendAsync(request, cts.Token).ConfigureAwait(false);
            return response.IsSuccessStatusCode;
        }
        catch (Exception e) when (e is HttpRequestException or OperationCanceledException && !ct.IsCancellationRequested)
        {
            return false;
        }
    }

    public void Dispose() => Client.Dispose();
}
