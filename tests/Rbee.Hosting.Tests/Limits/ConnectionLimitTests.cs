using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Rbee.Platform.Configuration;
using Rbee.Platform.Processes;

namespace Rbee.Hosting.Tests.Limits;

/// <summary>Issue 12 §2 on the queen's and hive's shared host (<see cref="RbeeHost.Listen"/>): section <c>Limits</c>.
/// Alone in its collection: with every unit-test assembly running at once on two cores, a Kestrel sharing its thread
/// pool with the other tests of this assembly was seen to take more than 10 s to accept and close a connection.</summary>
[Collection(ConnectionLimitCollection.Name)]
public sealed class ConnectionLimitTests
{
    // How long a refusal may take to arrive on a loaded machine; the assertion is that it comes, not how fast.
    private static readonly TimeSpan Generous = TimeSpan.FromSeconds(30);

    [Theory]
    [InlineData("Limits:MaxConnections", "0", "Limits:MaxConnections must be at least 1")]
    [InlineData("Limits:KeepAliveTimeout", "00:00:00", "Limits:KeepAliveTimeout must be positive")]
    [InlineData("Limits:RequestHeadersTimeout", "-00:00:01", "Limits:RequestHeadersTimeout must be positive")]
    [InlineData("Limits:MaxConnections", "many", "Limits")]
    public void ABadLimit_StopsStartUpWithOneLineNamingIt(string key, string value, string expected)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Configuration.AddInMemoryCollection([KeyValuePair.Create(key, (string?)value)]);
        var e = Assert.Throws<StartupException>(() => RbeeHost.Listen(builder, "127.0.0.1", Rbee.Testing.FreePort.Next()));
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Defaults_AreHalfTheDescriptors_5sForHeaders_10sIdle()
    {
        var builder = WebApplication.CreateSlimBuilder();
        var limits = RbeeHost.Listen(builder, "127.0.0.1", Rbee.Testing.FreePort.Next());
        Assert.Equal((null, TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(10)), (limits.MaxConnections, limits.RequestHeadersTimeout, limits.KeepAliveTimeout));
        Assert.Equal(DescriptorLimit.Soft!.Value / 2, limits.EffectiveMaxConnections(DescriptorLimit.Soft));
    }

    [Fact]
    public void AtStart_TheSoftDescriptorLimitIsRaisedToTheHardOne()
    {
        // The test host's own limit: whatever it was, afterwards soft == hard (or it stays unchanged where refused).
        var raised = DescriptorLimit.RaiseSoftToHard();
        Assert.NotNull(raised);
        Assert.Equal(raised, DescriptorLimit.Soft);
    }

    [Fact]
    public async Task AtTheLimit_ANewConnectionIsClosedAtOnce_AndServedAgainWhenAnIdleOneLeaves()
    {
        await using var host = await PipelineHost.StartAsync(null, app => app.MapGet("/health", () => "ok"), settings: new Dictionary<string, string?>
        {
            ["Limits:MaxConnections"] = "2",
            // Idle connections are never closed for being idle here, so a close can only be the limit's.
            ["Limits:KeepAliveTimeout"] = "00:10:00",
            ["Limits:RequestHeadersTimeout"] = "00:10:00",
        });
        var endpoint = new IPEndPoint(IPAddress.Loopback, host.Port);
        using var a = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        using var b = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await a.ConnectAsync(endpoint);
        await b.ConnectAsync(endpoint);

        // The third is accepted and closed at once; nothing else closes a connection in this host.
        using var c = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await c.ConnectAsync(endpoint);
        var read = c.ReceiveAsync(new byte[1], SocketFlags.None);
        Assert.Equal(0, await read.WaitAsync(Generous));

        // An idle one leaves: a new client is served.
        a.Close();
        using var fresh = new HttpClient(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.Zero });
        string? answer = null;
        for (var i = 0; i < 50 && answer is null; i++)
        {
            // The server learns of the close asynchronously: a refusal until then is the limit doing its work.
            try { answer = await fresh.GetStringAsync($"http://127.0.0.1:{host.Port}/health"); }
            catch (HttpRequestException) { await Task.Delay(100); }
        }
        Assert.Equal("ok", answer);
    }

    [Fact]
    public async Task RefusedConnections_AreLoggedOncePerInterval_WithTheirCount_NotOncePerConnection()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Configuration.AddInMemoryCollection([KeyValuePair.Create("Limits:MaxConnections", (string?)"1"),
            KeyValuePair.Create("Limits:KeepAliveTimeout", (string?)"00:10:00"), KeyValuePair.Create("Limits:RequestHeadersTimeout", (string?)"00:10:00")]);
        Rbee.Hosting.Logging.RbeeLogging.Configure(builder.Logging, builder.Configuration);
        var lines = new LineCollector();
        builder.Logging.AddProvider(lines);
        var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider();
        builder.Services.AddSingleton<TimeProvider>(time);
        var token = new Rbee.Hosting.Security.ClusterTokenOptions();
        Assert.Null(token.Resolve(_ => null));
        RbeeHost.AddHostingServices(builder.Services, token);
        var port = Rbee.Testing.FreePort.Next();
        RbeeHost.Listen(builder, "127.0.0.1", port);
        await using var app = builder.Build();
        await app.StartAsync();

        var endpoint = new IPEndPoint(IPAddress.Loopback, port);
        using var held = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await held.ConnectAsync(endpoint);
        for (var i = 0; i < 3; i++)
        {
            using var refused = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            await refused.ConnectAsync(endpoint);
            Assert.Equal(0, await refused.ReceiveAsync(new byte[1], SocketFlags.None).WaitAsync(Generous));
        }
        time.Advance(Rbee.Hosting.Connections.RefusedConnectionsLog.Interval);
        var deadline = DateTime.UtcNow + Generous;
        while (!lines.Snapshot().Any(l => l.Contains("3 connections refused", StringComparison.Ordinal)) && DateTime.UtcNow < deadline)
            await Task.Delay(20);
        var all = lines.Snapshot();
        Assert.Single(all, l => l.Contains("connections refused", StringComparison.Ordinal));
        Assert.Contains(all, l => l.Contains("3 connections refused in the last 10 s: 1 open already (Limits:MaxConnections)", StringComparison.Ordinal));
        Assert.DoesNotContain(all, l => l.Contains("maximum number of concurrent connections", StringComparison.Ordinal));
        await app.StopAsync();
    }

    /// <summary>Every formatted log line, after the daemons' filters.</summary>
    private sealed class LineCollector : ILoggerProvider, ILogger
    {
        private readonly List<string> _lines = [];

        public string[] Snapshot() { lock (_lines) return [.. _lines]; }

        public ILogger CreateLogger(string categoryName) => this;

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            lock (_lines) _lines.Add(formatter(state, exception));
        }

        public void Dispose() { }
    }
}

[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ConnectionLimitCollection
{
    public const string Name = "Connection limits";
}
