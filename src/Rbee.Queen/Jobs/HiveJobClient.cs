using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Rbee.Contracts.Wire;
using Rbee.Hosting.Jobs;
using Rbee.Platform.Http;
using Rbee.Platform.Sse;
using Rbee.Queen.Cluster;

namespace Rbee.Queen.Jobs;

/// <summary>
/// Runs a job on a hive from the queen (DESIGN.md "Jobs"): posts it to the hive's <c>/v1/jobs</c> and follows its stream
/// to the final line, handing narration and data events to the caller. Used by the queen's forwarded jobs and by the
/// scheduler's cold starts, so both read a hive's job stream the same way.
/// </summary>
public sealed class HiveJobClient(ClusterHttp hives)
{
    /// <summary>Posts <paramref name="body"/> to the hive; returns the job's stream URL or throws <see cref="JobFailedException"/>.</summary>
    public async Task<Uri> PostAsync(HiveEntry hive, string body, TimeSpan timeout, CancellationToken ct)
    {
        using var request = hives.Request(HttpMethod.Post, new Uri(hive.HiveUrl, "/v1/jobs"));
        request.Content = new StringContent(body, Encoding.UTF8, "application/json");
        using var bound = CancellationTokenSource.CreateLinkedTokenSource(ct);
        bound.CancelAfter(timeout);
        HttpResponseMessage response;
        try { response = await hives.Client.SendAsync(request, bound.Token).ConfigureAwait(false); }
        catch (Exception e) when (e is HttpRequestException || (e is OperationCanceledException && !ct.IsCancellationRequested))
        {
            throw new JobFailedException($"hive {hive.HiveId} at {hive.HiveUrl} did not take the job: {e.Message}");
        }
        using (response)
        {
            var text = await response.Content.ReadAsStringAsync(ct).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode)
                throw new JobFailedException($"hive {hive.HiveId} refused the job ({(int)response.StatusCode}): {ErrorMessage(text)}");
            try
            {
                using var doc = JsonDocument.Parse(text);
                var sse = doc.RootElement.GetProperty("sse_url").GetString()!;
                return new Uri(hive.HiveUrl, sse);
            }
            catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
            {
                throw new JobFailedException($"hive {hive.HiveId} answered the job with no sse_url: {text}");
            }
        }
    }

    /// <summary>
    /// Follows the hive's job stream to its final line: <paramref name="narration"/> gets each text line,
    /// <paramref name="data"/> each <c>event: data</c> JSON. Returns the port of the last worker event (<see cref="WorkerJobEvent"/>: spawn, stop);
    /// throws <see cref="JobFailedException"/> on the hive's <c>[ERROR]</c> or <c>[CANCELLED]</c>.
    /// </summary>
    public async Task<int?> RelayAsync(string hiveId, Uri sse, Action<string> narration, Action<string> data, CancellationToken ct)
    {
        try
        {
            using var request = hives.Request(HttpMethod.Get, sse);
            request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/event-stream"));
            using var response = await hives.Client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode) throw new JobFailedException($"hive {hiveId} job stream answered {(int)response.StatusCode}");
            using var reader = new SseEventReader(await response.Content.ReadAsStreamAsync(ct).ConfigureAwait(false));
            int? port = null;
            while (await reader.NextAsync(ct).ConfigureAwait(false) is { } e)
            {
                var text = e.Data;
                if (e.Event == "data")
                {
                    data(text);
                    port = PortOf(text) ?? port;
                    continue;
                }
                if (text == JobStreamMarkers.Done) return port;
                if (text == JobStreamMarkers.Cancelled) throw new JobFailedException($"the job was cancelled on hive {hiveId}");
                if (text.StartsWith(JobStreamMarkers.Error, StringComparison.Ordinal))
                    throw new JobFailedException($"hive {hiveId}: {text[JobStreamMarkers.Error.Length..].Trim()}");
                narration(text);
            }
        }
        catch (Exception e) when (e is HttpRequestException or IOException && !ct.IsCancellationRequested)
        {
            // A hive that resets or vanishes mid-job is a failed job like any other, for every caller.
            throw new JobFailedException($"lost hive {hiveId}'s job stream: {e.Message}");
        }
        throw new JobFailedException($"hive {hiveId} closed the job stream without a final line");
    }

    /// <summary>Cancels the hive's job behind <paramref name="sse"/> (<c>DELETE /v1/jobs/{id}</c>); best effort.</summary>
    public async Task CancelAsync(Uri sse, TimeSpan timeout)
    {
        // ".../v1/jobs/{id}/stream" → DELETE ".../v1/jobs/{id}"
        var path = sse.AbsolutePath;
        var jobPath = path.EndsWith("/stream", StringComparison.Ordinal) ? path[..^"/stream".Length] : path;
        try
        {
            using var request = hives.Request(HttpMethod.Delete, new Uri(sse, jobPath));
            using var cts = new CancellationTokenSource(timeout);
            using var _ = await hives.Client.SendAsync(request, cts.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is HttpRequestException or OperationCanceledException)
        {
            // The hive is gone or slow: its own job ends with its load timeout or its stop.
        }
    }

    /// <summary>The <c>error.message</c> of an OpenAI-shaped body, else the body.</summary>
    public static string ErrorMessage(string body)
    {
        try
        {
            using var doc = JsonDocument.Parse(body);
            return doc.RootElement.GetProperty("error").GetProperty("message").GetString() ?? body;
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            return body;
        }
    }

    /// <summary>The port of a worker event (spawned, ready, stopped); null for any other data line, or one that is not JSON.</summary>
    private static int? PortOf(string json)
    {
        try
        {
            return JobEvents.TryRead(json, out var e) && e is WorkerJobEvent worker ? worker.Port : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
