using System.Net.Http.Headers;

namespace Rbee.Keeper.Connection;

/// <summary>The keeper's HTTP client toward the queen and hives: one pooled handler, the cluster token as bearer.</summary>
public sealed class DaemonClient : IDisposable
{
    private readonly string? _token;

    public DaemonClient(string? token)
    {
        _token = token;
        Http = new HttpClient(new SocketsHttpHandler { ConnectTimeout = TimeSpan.FromSeconds(2), UseProxy = false })
        {
            Timeout = Timeout.InfiniteTimeSpan,
        };
    }

    public HttpClient Http { get; }

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
            using var response = await Http.SendAsync(request, cts.Token);
            return response.IsSuccessStatusCode;
        }
        catch (Exception e) when (e is HttpRequestException or OperationCanceledException && !ct.IsCancellationRequested)
        {
            return false;
        }
    }

    public void Dispose() => Http.Dispose();
}
