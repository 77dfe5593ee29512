using System.Net;
using System.Text;
using System.Threading.Channels;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Rbee.Testing;

namespace Rbee.Queen.Tests.Telemetry;

/// <summary>
/// A hive's HTTP surface in process (real Kestrel on a free loopback port), scripted by the test: the telemetry stream
/// sends exactly the frames the test pushes, and <c>/v1/catalog</c> answers what the test says, counting requests.
/// </summary>
internal sealed class FakeHive : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly Channel<string> _frames = Channel.CreateUnbounded<string>();
    private readonly Channel<string> _catalogRequests = Channel.CreateUnbounded<string>();
    private readonly Channel<bool> _streamsOpened = Channel.CreateUnbounded<bool>();
    private readonly Channel<bool> _streamsEnded = Channel.CreateUnbounded<bool>();

    /// <summary>What <c>GET /v1/catalog</c> answers: status and JSON body.</summary>
    public Func<(int Status, string Body)> Catalog { get; set; } = () => (404, "");

    public Uri Url { get; }

    private FakeHive(WebApplication app, Uri url)
    {
        _app = app;
        Url = url;
    }

    public static async Task<FakeHive> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        var port = FreePort.Next();
        builder.WebHost.UseKestrel(o => o.Listen(IPAddress.Loopback, port));
        var app = builder.Build();
        var hive = new FakeHive(app, new Uri($"http://127.0.0.1:{port}"));
        app.MapGet("/capabilities", () => Results.NotFound());
        app.MapGet("/v1/catalog", (HttpContext ctx) =>
        {
            hive._catalogRequests.Writer.TryWrite(ctx.Request.Headers.Authorization.ToString());
            var (status, body) = hive.Catalog();
            return Results.Text(body, "application/json", Encoding.UTF8, status);
        });
        app.MapGet("/v1/heartbeats/stream", hive.StreamAsync);
        await app.StartAsync();
        return hive;
    }

    private async Task StreamAsync(HttpContext ctx)
    {
        ctx.Response.ContentType = "text/event-stream";
        await ctx.Response.StartAsync();
        await ctx.Response.Body.FlushAsync();
        _streamsOpened.Writer.TryWrite(true);
        try
        {
            await foreach (var json in _frames.Reader.ReadAllAsync(ctx.RequestAborted))
            {
                await ctx.Response.WriteAsync($"event: telemetry\ndata: {json}\n\n", ctx.RequestAborted);
                await ctx.Response.Body.FlushAsync(ctx.RequestAborted);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or IOException)
        {
        }
        finally
        {
            _streamsEnded.Writer.TryWrite(ctx.RequestAborted.IsCancellationRequested);
        }
    }

    /// <summary>Sends a frame on the open stream (or the next one to open).</summary>
    public void Send(string frameJson) => _frames.Writer.TryWrite(frameJson);

    public Task StreamOpenedAsync(string phase) => Next(_streamsOpened, phase, "the queen to open the telemetry stream");

    /// <summary>True when the stream ended because the queen dropped the connection.</summary>
    public Task<bool> StreamEndedAsync(string phase) => Next(_streamsEnded, phase, "the telemetry stream to end");

    /// <summary>The Authorization header of the next catalog request.</summary>
    public Task<string> CatalogRequestedAsync(string phase) => Next(_catalogRequests, phase, "a GET /v1/catalog");

    public int CatalogRequestsPending => _catalogRequests.Reader.Count;

    private static async Task<T> Next<T>(Channel<T> channel, string phase, string expected)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        try
        {
            return await channel.Reader.ReadAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"phase {phase}: expected {expected} within 10 s; none came");
        }
    }

    public async ValueTask DisposeAsync()
    {
        _frames.Writer.TryComplete();
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
