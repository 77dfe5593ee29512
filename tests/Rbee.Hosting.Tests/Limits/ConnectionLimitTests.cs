using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Rbee.Platform.Configuration;
using Rbee.Platform.Processes;

namespace Rbee.Hosting.Tests.Limits;

/// <summary>Issue 12 §2 on the queen's and hive's shared host (<see cref="RbeeHost.Listen"/>): section <c>Limits</c>.</summary>
public sealed class ConnectionLimitTests
{
    private static readonly TimeSpan Generous = TimeSpan.FromSeconds(10);

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
        });
        var endpoint = new IPEndPoint(IPAddress.Loopback, host.Port);
        using var a = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        using var b = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await a.ConnectAsync(endpoint);
        await b.ConnectAsync(endpoint);

        // The third is accepted and closed at once, long before the 10 s idle time-out would close anything.
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
}
