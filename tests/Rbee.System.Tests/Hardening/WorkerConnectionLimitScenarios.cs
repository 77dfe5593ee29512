using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Rbee.SystemTests.Infrastructure;
using Rbee.Testing;

namespace Rbee.SystemTests.Hardening;

/// <summary>Issue 12 §2 for llm-worker-rbee, which configures its own Kestrel: the same limits, as flags.</summary>
[Trait("Category", "System")]
[Collection("System")]
public sealed class WorkerConnectionLimitScenarios
{
    private const int MaxConnections = 4;
    private static readonly TimeSpan KeepAlive = TimeSpan.FromSeconds(3);

    [Fact]
    public async Task AWorkerAtItsMaxConnections_ClosesANewConnectionAtOnce_AndServesAgainOnceIdleOnesTimeOut()
    {
        await using var worker = await WorkerNode.StartAsync(RepoPaths.Model("aidreams260K.gguf"), null,
            "--max-connections", MaxConnections.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--keep-alive-timeout-ms", ((int)KeepAlive.TotalMilliseconds).ToString(System.Globalization.CultureInfo.InvariantCulture));
        var endpoint = new IPEndPoint(IPAddress.Loopback, worker.Port);
        var idle = new List<Socket>();
        try
        {
            for (var i = 0; i < MaxConnections; i++)
            {
                var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                idle.Add(s);
                await s.ConnectAsync(endpoint);
            }
            using var over = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            await over.ConnectAsync(endpoint);
            var clock = Stopwatch.StartNew();
            Assert.Equal(0, await over.ReceiveAsync(new byte[1], SocketFlags.None).WaitAsync(KeepAlive * 3));
            Assert.True(clock.Elapsed < KeepAlive, $"the connection over the limit was closed only after {clock.Elapsed.TotalSeconds:0.0} s, not at once");

            var budget = KeepAlive + TimeSpan.FromSeconds(2) * ScaledTimers.Headroom;
            await Eventually.HoldsAsync("after the idle time-out", $"a new client's /health answered 200 within {budget.TotalSeconds} s", budget, async () =>
            {
                using var fresh = new HttpClient(new SocketsHttpHandler { UseProxy = false }) { Timeout = TimeSpan.FromSeconds(2) };
                try
                {
                    using var r = await fresh.GetAsync(new Uri(worker.BaseUri, "health"));
                    return (r.StatusCode == HttpStatusCode.OK, $"HTTP {(int)r.StatusCode}");
                }
                catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
                {
                    return (false, e.Message);
                }
            }, () => worker.Process.LogTail());
            Assert.Equal(0, await idle[0].ReceiveAsync(new byte[1], SocketFlags.None).WaitAsync(budget)); // the idle one was closed
        }
        finally
        {
            foreach (var s in idle) s.Dispose();
        }
    }
}
