using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Rbee.Testing;

namespace Rbee.SystemTests.Infrastructure;

/// <summary>Jobs as a client runs them (DESIGN.md "Jobs"): POST /v1/jobs, then its stream to the terminal line.</summary>
public static class Jobs
{
    /// <summary>One line of a job stream: when it arrived (from the POST), its SSE event name (<c>message</c> for
    /// narration and terminal lines, <c>data</c> for structured events) and its payload.</summary>
    public sealed record Line(TimeSpan At, string Event, string Data);

    /// <summary>Posts a job to <paramref name="baseUrl"/> (queen or hive) and reads its stream to the terminal line:
    /// (every line's payload, the terminal payload).</summary>
    public static async Task<(List<string> Lines, string Terminal)> RunAsync(string baseUrl, string json, TimeSpan budget)
    {
        var (lines, terminal) = await RunTimedAsync(baseUrl, json, budget);
        return ([.. lines.Select(l => l.Data)], terminal);
    }

    /// <summary>As <see cref="RunAsync"/>, with each line's arrival time and event name.</summary>
    /// <param name="user">Sent as <c>X-Rbee-User</c>, the name the CLI claims (the queen's audit log records it).</param>
    public static async Task<(List<Line> Lines, string Terminal)> RunTimedAsync(string baseUrl, string json, TimeSpan budget, string? token = null,
        string? user = null)
    {
        var clock = Stopwatch.StartNew();
        using var postRequest = Http.Request(HttpMethod.Post, $"{baseUrl}/v1/jobs", token);
        if (user is not null) postRequest.Headers.TryAddWithoutValidation(Rbee.Contracts.Protocol.ClaimedUser.Header, user);
        postRequest.Content = new StringContent(json, Encoding.UTF8, "application/json");
        using var post = await Http.Client.SendAsync(postRequest);
        var body = await post.Content.ReadAsStringAsync();
        Assert.True(post.StatusCode == System.Net.HttpStatusCode.Accepted, $"POST /v1/jobs {json}: {(int)post.StatusCode} {body}");
        var sse = JsonDocument.Parse(body).RootElement.GetProperty("sse_url").GetString()!;
        using var cts = new CancellationTokenSource(budget);
        using var streamRequest = Http.Request(HttpMethod.Get, baseUrl + sse, token);
        using var response = await Http.Client.SendAsync(streamRequest, HttpCompletionOption.ResponseHeadersRead, cts.Token);
        var lines = new List<Line>();
        await foreach (var e in SseReader.ReadAsync(await response.Content.ReadAsStreamAsync(cts.Token), cts.Token))
        {
            lines.Add(new Line(clock.Elapsed, e.Event, e.Data));
            if (e.Data == "[DONE]" || e.Data == "[CANCELLED]" || e.Data.StartsWith("[ERROR]", StringComparison.Ordinal)) return (lines, e.Data);
        }
        throw new InvalidOperationException($"job stream closed without a terminal line: {string.Join(" | ", lines.Select(l => l.Data))}");
    }
}
