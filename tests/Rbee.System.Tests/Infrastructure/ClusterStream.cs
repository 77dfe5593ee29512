using System.Text.Json;
using System.Threading.Channels;
using Rbee.Testing;

namespace Rbee.SystemTests.Infrastructure;

/// <summary>
/// The queen's aggregate stream, read in the background from the moment it is opened, so a test arms its wait
/// before it triggers what it waits for (STYLE.md §8) and awaits events instead of polling.
/// </summary>
public sealed class ClusterStream : IAsyncDisposable
{
    private readonly Channel<SseEvent> _events = Channel.CreateUnbounded<SseEvent>();
    private readonly CancellationTokenSource _stop = new();
    private readonly List<SseEvent> _seen = [];
    private readonly DaemonProcess _queen;
    private Task? _pump;

    private ClusterStream(DaemonProcess queen) => _queen = queen;

    /// <param name="client">The client to reach the queen with (one that connects inside a network namespace); the
    /// shared loopback client when null.</param>
    public static async Task<ClusterStream> OpenAsync(string url, string? token, DaemonProcess queen, HttpClient? client = null)
    {
        var stream = new ClusterStream(queen);
        var request = Http.Request(HttpMethod.Get, url, token);
        var response = await (client ?? Http.Client).SendAsync(request, HttpCompletionOption.ResponseHeadersRead, stream._stop.Token);
        response.EnsureSuccessStatusCode();
        var body = await response.Content.ReadAsStreamAsync(stream._stop.Token);
        stream._pump = Task.Run(async () =>
        {
            try
            {
                await foreach (var e in SseReader.ReadAsync(body, stream._stop.Token)) stream._events.Writer.TryWrite(e);
            }
            catch (Exception ex) when (ex is OperationCanceledException or IOException or HttpRequestException)
            {
            }
            finally
            {
                stream._events.Writer.TryComplete();
                response.Dispose();
                request.Dispose();
            }
        });
        return stream;
    }

    /// <summary>Awaits the next event matching <paramref name="match"/>; fails naming the phase, what was expected and what was seen.</summary>
    public async Task<JsonElement> WaitForAsync(string phase, string expected, TimeSpan budget, Func<string, JsonElement, bool> match)
    {
        using var cts = new CancellationTokenSource(budget);
        try
        {
            while (await _events.Reader.WaitToReadAsync(cts.Token))
            {
                while (_events.Reader.TryRead(out var e))
                {
                    _seen.Add(e);
                    var data = TryParse(e.Data);
                    if (data is { } d && match(e.Event, d)) return d;
                }
            }
            throw new InvalidOperationException($"phase {phase}: the queen's stream ended before {expected}; seen: {Seen()}\n{_queen.LogTail()}");
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"phase {phase}: expected {expected} within {budget.TotalSeconds} s; seen: {Seen()}\nqueen log:\n{_queen.LogTail()}");
        }
    }

    /// <summary>Awaits <c>hive_state</c> with <paramref name="newState"/> for <paramref name="hiveId"/>.</summary>
    public Task<JsonElement> WaitForStateAsync(string phase, string hiveId, string newState, TimeSpan budget) =>
        WaitForAsync(phase, $"hive {hiveId} {newState}", budget, (name, d) =>
            name == "hive_state" && d.GetProperty("hive_id").GetString() == hiveId && d.GetProperty("new_state").GetString() == newState);

    /// <summary>Awaits <paramref name="count"/> telemetry frames of <paramref name="hiveId"/>.</summary>
    public async Task WaitForFramesAsync(string phase, string hiveId, int count, TimeSpan budget)
    {
        for (var i = 0; i < count; i++)
            await WaitForAsync(phase, $"telemetry frame {i + 1} of {count} from {hiveId}", budget, (name, d) =>
                name == "telemetry" && d.GetProperty("hive_id").GetString() == hiveId);
    }

    private string Seen() => string.Join(", ", _seen.TakeLast(12).Select(e =>
        e.Event == "telemetry" ? "telemetry" : $"{e.Event} {e.Data[..Math.Min(e.Data.Length, 160)]}"));

    private static JsonElement? TryParse(string data)
    {
        try
        {
            return JsonDocument.Parse(data).RootElement.Clone();
        }
        catch (JsonException)
        {
            return null;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        if (_pump is not null) await _pump;
        _stop.Dispose();
    }
}
