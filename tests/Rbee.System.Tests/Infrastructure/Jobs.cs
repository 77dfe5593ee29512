using System.Text;
using System.Text.Json;
using Rbee.Testing;

namespace Rbee.SystemTests.Infrastructure;

/// <summary>Jobs as a client runs them (DESIGN.md "Jobs"): POST /v1/jobs, then its stream to the terminal line.</summary>
public static class Jobs
{
    /// <summary>Posts a job to <paramref name="baseUrl"/> (queen or hive) and reads its stream to the terminal line:
    /// (every line's payload, the terminal payload).</summary>
    public static async Task<(List<string> Lines, string Terminal)> RunAsync(string baseUrl, string json, TimeSpan budget)
    {
        using var post = await Http.Client.PostAsync($"{baseUrl}/v1/jobs", new StringContent(json, Encoding.UTF8, "application/json"));
        var body = await post.Content.ReadAsStringAsync();
        Assert.True(post.StatusCode == System.Net.HttpStatusCode.Accepted, $"POST /v1/jobs {json}: {(int)post.StatusCode} {body}");
        var sse = JsonDocument.Parse(body).RootElement.GetProperty("sse_url").GetString()!;
        using var cts = new CancellationTokenSource(budget);
        using var response = await Http.Client.GetAsync(baseUrl + sse, HttpCompletionOption.ResponseHeadersRead, cts.Token);
        var lines = new List<string>();
        await foreach (var e in SseReader.ReadAsync(await response.Content.ReadAsStreamAsync(cts.Token), cts.Token))
        {
            lines.Add(e.Data);
            if (e.Data == "[DONE]" || e.Data == "[CANCELLED]" || e.Data.StartsWith("[ERROR]", StringComparison.Ordinal)) return (lines, e.Data);
        }
        throw new InvalidOperationException($"job stream closed without a terminal line: {string.Join(" | ", lines)}");
    }
}
