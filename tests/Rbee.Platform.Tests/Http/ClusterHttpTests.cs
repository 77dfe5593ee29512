using System.Net;
using System.Net.Sockets;
using Rbee.Platform.Http;

namespace Rbee.Platform.Tests.Http;

public sealed class ClusterHttpTests
{
    [Fact]
    public void Requests_CarryTheTokenAsBearer_OnlyWhenThereIsOne()
    {
        using var withToken = new ClusterHttp("cluster-secret");
        using var request = withToken.Request(HttpMethod.Get, new Uri("http://10.0.0.5:7835/v1/jobs"));
        Assert.Equal("Bearer cluster-secret", request.Headers.Authorization?.ToString());

        using var without = new ClusterHttp(null);
        using var bare = without.Request(HttpMethod.Get, new Uri("http://10.0.0.5:7835/health"));
        Assert.Null(bare.Headers.Authorization);
        Assert.Equal(Timeout.InfiniteTimeSpan, without.Client.Timeout);
    }

    [Fact]
    public async Task IsHealthy_IsFalse_WhenNothingListens()
    {
        // A port that was free a moment ago: bound and released at once, so nothing answers on it.
        int port;
        using (var probe = new TcpListener(IPAddress.Loopback, 0))
        {
            probe.Start();
            port = ((IPEndPoint)probe.LocalEndpoint).Port;
        }
        using var http = new ClusterHttp(null, TimeSpan.FromSeconds(1));
        Assert.False(await http.IsHealthyAsync(new Uri($"http://127.0.0.1:{port}"), TimeSpan.FromSeconds(2), CancellationToken.None));
    }

    [Fact]
    public async Task IsHealthy_IsTrue_ForA2xxHealth_AndSendsTheToken()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        var served = Task.Run(async () =>
        {
            using var client = await listener.AcceptTcpClientAsync();
            await using var stream = client.GetStream();
            var buffer = new byte[4096];
            var request = "";
            while (!request.Contains("\r\n\r\n", StringComparison.Ordinal))
            {
                var n = await stream.ReadAsync(buffer);
                if (n == 0) break;
                request += System.Text.Encoding.ASCII.GetString(buffer, 0, n);
            }
            await stream.WriteAsync("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"u8.ToArray());
            return request;
        });

        using var http = new ClusterHttp("t0k");
        Assert.True(await http.IsHealthyAsync(new Uri($"http://127.0.0.1:{port}"), TimeSpan.FromSeconds(10), CancellationToken.None));
        var seen = await served.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.StartsWith("GET /health HTTP/1.1", seen);
        Assert.Contains("Authorization: Bearer t0k", seen);
    }
}
