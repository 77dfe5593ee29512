// llm-worker-rbee: the built-in inference worker (DESIGN.md "Workers under the hive", issue 5 "Serving").
// It listens first, so /health can say "loading" while the model is read, then loads the model, then writes the
// ready file. Exit codes: 0 after a graceful stop (SIGTERM), 1 when the model cannot be loaded or the port cannot
// be bound, 2 for bad flags or configuration (one line, like the daemons: DaemonMain).
using System.Diagnostics;
using System.Net;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Prometheus;
using Rbee.Platform.Configuration;
using Rbee.Worker.Serving;

return await DaemonMain.RunAsync(WorkerConfiguration.Spec, args, RunAsync);

static async Task<int> RunAsync(string[] args)
{
    var options = WorkerConfiguration.Read(args);
    if (!File.Exists(options.ModelPath))
    {
        Console.Error.WriteLine($"llm-worker-rbee: model file not found: {options.ModelPath}");
        return 1;
    }

    IPAddress? bindAddress = null;
    if (options.Host != "localhost" && !IPAddress.TryParse(options.Host, out bindAddress))
    {
        try
        {
            bindAddress = Dns.GetHostAddresses(options.Host).FirstOrDefault()
                ?? throw new System.Net.Sockets.SocketException((int)System.Net.Sockets.SocketError.HostNotFound);
        }
        catch (System.Net.Sockets.SocketException ex)
        {
            throw new StartupException($"--host {options.Host} cannot be resolved: {ex.Message}");
        }
    }

    var builder = WebApplication.CreateSlimBuilder();
    builder.Logging.ClearProviders();
    builder.Logging.AddSimpleConsole(c => { c.SingleLine = true; c.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ "; c.UseUtcTimestamp = true; });
    builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
    builder.Services.Configure<HostOptions>(h => h.ShutdownTimeout = options.ShutdownTimeout);
    // As the daemons (RbeeHost.Listen): descriptors raised to the hard limit, half of them for connections by default,
    // idle connections closed after the time-outs; a streamed answer is a response in progress and never times out.
    var maxConnections = options.Connections.EffectiveMaxConnections(Rbee.Platform.Processes.DescriptorLimit.RaiseSoftToHard());
    builder.WebHost.ConfigureKestrel(k =>
    {
        k.Limits.MaxRequestBodySize = options.MaxRequestBodyBytes;
        k.Limits.MaxConcurrentConnections = maxConnections;
        k.Limits.KeepAliveTimeout = options.Connections.KeepAliveTimeout;
        k.Limits.RequestHeadersTimeout = options.Connections.RequestHeadersTimeout;
        k.AddServerHeader = false;
        if (bindAddress is null) k.ListenLocalhost(options.Port);
        else k.Listen(bindAddress, options.Port);
    });
    var state = new WorkerState(options);
    var metrics = new WorkerMetrics();
    builder.Services.AddSingleton(state);
    builder.Services.AddSingleton(metrics);
    builder.Services.AddSingleton<InferenceEndpoints>();

    var app = builder.Build();
    var log = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Rbee.Worker");
    // A worker a hive started has a key (RBEE_WORKER_API_KEY, DESIGN.md "Security") and serves its OpenAI endpoints only
    // to callers presenting it (the queen); one started by hand has none and stays open, as llama-server does.
    if (Environment.GetEnvironmentVariable(Rbee.Platform.Security.WorkerApiKey.EnvironmentVariable) is { Length: > 0 } apiKey)
        app.Use(async (ctx, next) =>
        {
            if (ctx.Request.Path.StartsWithSegments("/v1") && !Rbee.Platform.Security.WorkerApiKey.IsPresentedIn(ctx.Request.Headers.Authorization.ToString(), apiKey))
            {
                ctx.Response.StatusCode = StatusCodes.Status401Unauthorized;
                ctx.Response.ContentType = "application/json";
                await ctx.Response.WriteAsync("{\"error\":{\"message\":\"this worker serves only its hive's queen: send its worker key as a bearer, or call the queen\",\"type\":\"authentication_error\",\"param\":null,\"code\":\"invalid_api_key\"}}");
                return;
            }
            await next(ctx);
        });
    InferenceEndpoints.Map(app);
    app.MapMetrics("/metrics", metrics.Registry);
    app.Lifetime.ApplicationStopping.Register(() => WorkerLog.Stopping(log));

    try
    {
        await app.StartAsync();
    }
    catch (Exception ex) when (ex is IOException or System.Net.Sockets.SocketException)
    {
        Console.Error.WriteLine($"llm-worker-rbee: cannot listen on {options.Host}:{options.Port}: {ex.Message}");
        return 1;
    }
    var port = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses
        .Select(a => new Uri(a.Replace("*", "localhost", StringComparison.Ordinal)).Port).First();

    WorkerLog.LoadingModel(log, options.ModelPath, options.ModelId);
    var loadClock = Stopwatch.StartNew();
    LoadedWorker loaded;
    try
    {
        // Loading is CPU and IO work; off the thread pool's request threads so /health keeps answering.
        loaded = await Task.Factory.StartNew(() => LoadedWorker.Create(GgufServedModel.Load(options, log), options, metrics),
            app.Lifetime.ApplicationStopping, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        // Before the ready file: the first request after it must not pay for the JIT and the page-in (issue 13).
        var warmClock = Stopwatch.StartNew();
        await Task.Factory.StartNew(() => loaded.WarmUp(options.WarmUpRounds), app.Lifetime.ApplicationStopping, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        WorkerLog.WarmedUp(log, warmClock.Elapsed.TotalMilliseconds);
    }
    catch (Exception ex) when (ex is not OperationCanceledException)
    {
        WorkerLog.ModelLoadFailed(log, options.ModelPath, ex.Message);
        Console.Error.WriteLine($"llm-worker-rbee: cannot load model {options.ModelPath}: {ex.Message}");
        await app.StopAsync();
        return 1;
    }
    catch (OperationCanceledException)
    {
        await app.StopAsync();
        return 0;
    }
    metrics.Watch(loaded.Pool);
    state.Ready(loaded);
    WorkerLog.ModelLoaded(log, loadClock.Elapsed.TotalMilliseconds, loaded.ContextSize, loaded.Model.TrainedContextLength,
        loaded.Model.VocabSize, loaded.Pool.Total, loaded.Model.ChatFormat);

    if (options.WarmUpRounds > 0)
    {
        // The request path too (routing, JSON, tokenizer, SSE), through the worker's own port, before anyone is told
        // it is ready; then the slots are emptied again.
        await WarmUpHttpAsync(bindAddress, port, app.Lifetime.ApplicationStopping);
        loaded.EmptySlots();
    }

    if (options.ReadyFile is { } readyFile)
    {
        ReadyFile.Write(readyFile, new ReadyEvent("ready", options.WorkerId, port, options.ModelPath, Environment.ProcessId));
        WorkerLog.Ready(log, port, readyFile);
    }
    else
    {
        WorkerLog.Ready(log, port, "(none)");
    }

    await app.WaitForShutdownAsync();
    loaded.Dispose();
    return 0;
}

// One plain and one streamed completion sent to the worker itself; failures are ignored (a warm-up, not a check).
static async Task WarmUpHttpAsync(IPAddress? bindAddress, int port, CancellationToken ct)
{
    var target = bindAddress is null || bindAddress.Equals(IPAddress.Any) ? IPAddress.Loopback
        : bindAddress.Equals(IPAddress.IPv6Any) ? IPAddress.IPv6Loopback : bindAddress;
    using var http = new HttpClient { BaseAddress = new Uri($"http://{new IPEndPoint(target, port)}"), Timeout = TimeSpan.FromMinutes(5) };
    if (Environment.GetEnvironmentVariable(Rbee.Platform.Security.WorkerApiKey.EnvironmentVariable) is { Length: > 0 } key)
        http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", key);
    foreach (var stream in new[] { "false", "true" })
    {
        try
        {
            using var body = new StringContent($$"""{"prompt":"Hello","max_tokens":2,"temperature":0,"stream":{{stream}}}""",
                System.Text.Encoding.UTF8, "application/json");
            using var response = await http.PostAsync("/v1/completions", body, ct);
            await response.Content.ReadAsByteArrayAsync(ct);
        }
        catch (HttpRequestException)
        {
        }
    }
}
