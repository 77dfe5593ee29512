using System.Collections.Concurrent;
using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Rbee.Hosting.Jobs;
using Rbee.Testing;

namespace Rbee.Queen.Tests.Jobs;

/// <summary>
/// A hive's job surface in process: real Kestrel on a free loopback port serving the real <c>/v1/jobs</c> endpoints
/// (<see cref="JobEndpoints"/>: the same 202, stream and final lines a hive writes), whose operations are the test's
/// script. Every posted body is kept; a script sees the hive job's cancellation (<c>DELETE /v1/jobs/{id}</c>) on its token.
/// </summary>
internal sealed class StubHive : IAsyncDisposable
{
    private readonly WebApplication _app;

    private StubHive(WebApplication app, Uri url, Script script)
    {
        _app = app;
        Url = url;
        Operations = new ScriptedOperations(script, this);
    }

    /// <summary>What the hive does with a job: the work to run, or a refusal (<see cref="JobPlan.Invalid"/>).</summary>
    public delegate JobPlan Script(string operation, JsonElement request);

    public Uri Url { get; }

    /// <summary>Bodies of <c>POST /v1/jobs</c> in the order they came.</summary>
    public ConcurrentQueue<JsonElement> Posted { get; } = new();

    /// <summary>Completed when a job of this hive ends cancelled (the queen's DELETE).</summary>
    public TaskCompletionSource Cancelled { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private ScriptedOperations Operations { get; }

    public static async Task<StubHive> StartAsync(Script script)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        var port = FreePort.Next();
        builder.WebHost.UseKestrel(o => o.Listen(IPAddress.Loopback, port));
        builder.Services.AddJobs();
        StubHive? hive = null;
        builder.Services.AddSingleton<IJobOperations>(_ => hive!.Operations);
        var app = builder.Build();
        hive = new StubHive(app, new Uri($"http://127.0.0.1:{port}"), script);
        app.MapJobs();
        await app.StartAsync();
        return hive;
    }

    /// <summary>A script step that runs until the hive job is cancelled.</summary>
    public static Task UntilCancelledAsync(CancellationToken ct) => Task.Delay(Timeout.Infinite, ct);

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    private sealed class ScriptedOperations(Script script, StubHive hive) : IJobOperations
    {
        public JobPlan Plan(string operation, JsonElement request)
        {
            hive.Posted.Enqueue(request.Clone());
            var plan = script(operation, request);
            if (plan.Work is not { } work) return plan;
            return JobPlan.Run(async (job, ct) =>
            {
                try
                {
                    await work(job, ct);
                }
                finally
                {
                    if (ct.IsCancellationRequested) hive.Cancelled.TrySetResult();
                }
            });
        }
    }
}
