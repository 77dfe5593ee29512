using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Options;
using Rbee.Queen.Configuration;

namespace Rbee.Queen.Discovery;

/// <summary>
/// The URL the queen gives a hive in <c>queen_url</c> (DESIGN.md "Discovery and telemetry" 2): the configured
/// <c>--advertise-url</c>, else the local address of the route toward that hive, learned by connecting a UDP
/// socket (no packet is sent) — the address the hive sees us from, never a guessed loopback.
/// </summary>
public sealed class QueenAddress(IOptions<QueenOptions> options, IServer server)
{
    public async Task<Uri> ForHiveAsync(string hiveHost, int hivePort, CancellationToken ct)
    {
        if (options.Value.AdvertiseUrl is { Length: > 0 } advertised) return new Uri(advertised);
        var target = IPAddress.TryParse(hiveHost, out var ip) ? ip : (await Dns.GetHostAddressesAsync(hiveHost, ct))
            .OrderBy(a => a.AddressFamily == AddressFamily.InterNetwork ? 0 : 1).First();
        using var socket = new Socket(target.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        socket.Connect(target, hivePort);
        var local = ((IPEndPoint)socket.LocalEndPoint!).Address;
        var host = local.AddressFamily == AddressFamily.InterNetworkV6 ? $"[{local}]" : local.ToString();
        return new Uri($"http://{host}:{ListeningPort()}");
    }

    private int ListeningPort()
    {
        if (options.Value.Port != 0) return options.Value.Port;
        var address = server.Features.Get<IServerAddressesFeature>()?.Addresses.FirstOrDefault();
        return address is not null && Uri.TryCreate(address, UriKind.Absolute, out var u) ? u.Port : options.Value.Port;
    }
}
