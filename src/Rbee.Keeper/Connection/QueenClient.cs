using System.Net;
using System.Text;
using System.Text.Json;
using Rbee.Contracts.Json;
using Rbee.Contracts.Wire;
using Rbee.Platform.Http;
using Rbee.Platform.Paths;
using Rbee.Platform.Sse;

namespace Rbee.Keeper.Connection;

/// <summary>How a job ended: one of <see cref="JobStreamMarkers"/>, with the message of an <c>[ERROR]</c>.</summary>
public sealed record JobOutcome(string Marker, string? Error)
{
    public bool Succeeded => Marker == JobStreamMarkers.Done;
}

/// <summary>
/// Where the control calls go: the queen, or with <c>--hive-url</c> one hive directly (no queen: seed 000's queenless
/// use). Both serve the same <c>/v1/jobs</c>; a hive's jobs take no <c>hive_id</c>.
/// </summary>
public sealed record ControlEndpoint(Uri Url, bool IsHive = false);

/// <summary>
/// The CLI's calls to the queen's control plane (<c>/v1/cluster</c>, <c>/v1/jobs</c>), or a hive's jobs with
/// <c>--hive-url</c>, with the cluster token. Every failure becomes a <see cref="CliFailure"/> whose one line says what
/// to do next.
/// </summary>
public sealed class QueenClient(Uri baseUrl, string? token, bool isHive = false) : IDisposable
{
    private readonly ClusterHttp _http = KeeperHttp.Create(token);

    /// <summary>A control call that is not a stream answers within this, or the daemon is taken as not answering.</summary>
    public static readonly TimeSpan CallTimeout = TimeSpan.FromSeconds(10);

    public Uri BaseUrl { get; } = baseUrl;

    /// <summary>Talking to one hive (<c>--hive-url</c>), not to the queen.</summary>
    public bool IsHive { get; } = isHive;

    public static QueenClient Create(Uri baseUrl) => new(baseUrl, ClusterTokenStore.Read());

    public static QueenClient Create(ControlEndpoint endpoint) => new(endpoint.Url, ClusterTokenStore.Read(), endpoint.IsHive);

    /// <summary>The hive's id from its <c>/capabilities</c> (with <c>--hive-url</c>).</summary>
    public async Task<string> HiveIdAsync(CancellationToken ct) =>
        JsonSerializer.Deserialize(await GetStringAsync("/capabilities", ct), RbeeJsonContext.Default.Capabilities)?.HiveId
        ?? throw new CliFailure($"{CliFailure.Display(BaseUrl)} answered /capabilities without a hive id");

    private CliFailure Unreachable() => IsHive
        ? new CliFailure($"hive not reachable at {CliFailure.Display(BaseUrl)}: start it with `rbee up` (or check --hive-url)")
        : CliFailure.QueenUnreachable(BaseUrl);

    public async Task<ClusterView> ClusterAsync(CancellationToken ct)
    {
        var body = await GetStringAsync("/v1/cluster", ct);
        return JsonSerializer.Deserialize(body, RbeeJsonContext.Default.ClusterView)
            ?? throw new CliFailure($"{CliFailure.Display(BaseUrl)} answered something that is not a cluster view");
    }

    public async Task<string> GetStringAsync(string path, CancellationToken ct)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(CallTimeout);
        try
        {
            using var request = _http.Request(HttpMethod.Get, new Uri(BaseUrl, path));
            using var response = await _http.Client.SendAsync(request, timeout.Token);
            var body = await response.Content.ReadAsStringAsync(timeout.Token);
            if (!response.IsSuccessStatusCode) throw Refused(response.StatusCode, body);
            return body;
        }
        catch (Exception e) when (e is HttpRequestException or OperationCanceledException && !ct.IsCancellationRequested)
        {
            throw Unreachable();
        }
    }

    /// <summary>
    /// Posts a job and follows its stream to its final line: narration to <paramref name="onNarration"/>, each
    /// <c>event: data</c> JSON to <paramref name="onData"/>. Cancelling <paramref name="ct"/> cancels the job on the
    /// daemon too (<c>DELETE /v1/jobs/{id}</c>), so a Ctrl-C leaves nothing running.
    /// </summary>
    public async Task<JobOutcome> RunJobAsync(string body, Action<string> onNarration, Action<string> onData, CancellationToken ct)
    {
        JobAccepted accepted;
        using (var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct))
        {
            timeout.CancelAfter(CallTimeout);
            try
            {
                using var request = _http.Request(HttpMethod.Post, new Uri(BaseUrl, "/v1/jobs"));
                request.Content = new StringContent(body, Encoding.UTF8, "application/json");
                using var response = await _http.Client.SendAsync(request, timeout.Token);
                var text = await response.Content.ReadAsStringAsync(timeout.Token);
                if (!response.IsSuccessStatusCode) throw Refused(response.StatusCode, text);
                accepted = JsonSerializer.Deserialize(text, RbeeJsonContext.Default.JobAccepted)
                    ?? throw new CliFailure($"{CliFailure.Display(BaseUrl)} accepted the job without a job id");
            }
            catch (Exception e) when (e is HttpRequestException or OperationCanceledException && !ct.IsCancellationRequested)
            {
                throw Unreachable();
            }
        }

        try
        {
            using var request = _http.Request(HttpMethod.Get, new Uri(BaseUrl, accepted.SseUrl));
            using var response = await _http.Client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct);
            if (!response.IsSuccessStatusCode) throw Refused(response.StatusCode, await response.Content.ReadAsStringAsync(ct));
            using var reader = new SseEventReader(await response.Content.ReadAsStreamAsync(ct));
            while (await reader.NextAsync(ct) is { } e)
            {
                if (e.Event == "data")
                {
                    onData(e.Data);
                    continue;
                }
                if (e.Data == JobStreamMarkers.Done || e.Data == JobStreamMarkers.Cancelled) return new JobOutcome(e.Data, null);
                if (e.Data.StartsWith(JobStreamMarkers.Error, StringComparison.Ordinal))
                    return new JobOutcome(JobStreamMarkers.Error, e.Data[JobStreamMarkers.Error.Length..].Trim());
                onNarration(e.Data);
            }
            throw new CliFailure($"the job stream of {accepted.JobId} closed before its end; the daemon at {CliFailure.Display(BaseUrl)} may have stopped");
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            await CancelJobAsync(accepted.JobId);
            throw;
        }
        catch (HttpRequestException)
        {
            throw new CliFailure($"lost the daemon at {CliFailure.Display(BaseUrl)} during job {accepted.JobId}: check it with `rbee status`");
        }
    }

    /// <summary>An open SSE stream of the daemon (the queen's aggregate stream); disposing it closes the connection.</summary>
    public sealed class EventStream(HttpResponseMessage response, SseEventReader reader) : IDisposable
    {
        public SseEventReader Reader { get; } = reader;

        public void Dispose()
        {
            Reader.Dispose();
            response.Dispose();
        }
    }

    /// <summary>Opens an SSE stream of the daemon (headers read; the connect is bounded by the client's connect time-out).</summary>
    public async Task<EventStream> OpenStreamAsync(string path, CancellationToken ct)
    {
        var response = await OpenAsync(path, ct);
        try
        {
            return new EventStream(response, new SseEventReader(await response.Content.ReadAsStreamAsync(ct)));
        }
        catch
        {
            response.Dispose();
            throw;
        }
    }

    /// <summary>
    /// A GET whose body is read as it comes (a log, a stream): returns once a 2xx answer's headers are in; a refusal is
    /// the daemon's one line. The connect is bounded by the client's connect time-out, the body by nothing.
    /// </summary>
    public async Task<HttpResponseMessage> OpenAsync(string path, CancellationToken ct)
    {
        HttpResponseMessage? response = null;
        try
        {
            using var request = _http.Request(HttpMethod.Get, new Uri(BaseUrl, path));
            response = await _http.Client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct);
            if (!response.IsSuccessStatusCode) throw Refused(response.StatusCode, await response.Content.ReadAsStringAsync(ct));
            var ok = response;
            response = null;
            return ok;
        }
        catch (HttpRequestException)
        {
            throw Unreachable();
        }
        finally
        {
            response?.Dispose();
        }
    }

    private async Task CancelJobAsync(string jobId)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
        try
        {
            using var request = _http.Request(HttpMethod.Delete, new Uri(BaseUrl, $"/v1/jobs/{Uri.EscapeDataString(jobId)}"));
            using var _ = await _http.Client.SendAsync(request, timeout.Token);
        }
        catch (Exception e) when (e is HttpRequestException or OperationCanceledException)
        {
            // Best effort: the person pressed Ctrl-C and is leaving either way.
        }
    }

    /// <summary>A non-2xx answer as one line: the daemon's own message (OpenAI's error shape), and for 401 what to check.</summary>
    public CliFailure Refused(HttpStatusCode status, string body)
    {
        var message = ErrorMessage(body) ?? $"status {(int)status}";
        if (status == HttpStatusCode.Unauthorized)
            return new CliFailure($"{CliFailure.Display(BaseUrl)} refused the cluster token ({message}): the daemons' token is the file ~/.config/rbee/token of the user they run as (this user's is {RbeePaths.TokenFile}; a hive run as root has root's, which only root may read), or set RBEE_CLUSTER_TOKEN to it");
        return new CliFailure(message);
    }

    /// <summary>The <c>error.message</c> of OpenAI's error shape, else null.</summary>
    public static string? ErrorMessage(string body) => ReadError(body)?.Message;

    public static ErrorBody? ReadError(string body)
    {
        try
        {
            return JsonSerializer.Deserialize(body, RbeeJsonContext.Default.ErrorResponse)?.Error;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    public void Dispose() => _http.Dispose();
}
