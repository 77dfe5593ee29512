using System.Net;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Rbee.Contracts.Protocol;
using Rbee.Contracts.Wire;
using Rbee.Platform.Http;
using Rbee.Queen.Cluster;
using Rbee.Queen.Configuration;

namespace Rbee.Queen.Discovery;

/// <summary>A hive to probe: one per (host name, hive port) of the SSH config.</summary>
public sealed record DiscoveryTarget(string Alias, string HostName, int HivePort)
{
    public static IReadOnlyList<DiscoveryTarget> From(SshConfig config, IReadOnlyDictionary<string, int> hivePorts) =>
        config.Hosts
            .Select(h => new DiscoveryTarget(h.Alias, h.HostName,
                hivePorts.TryGetValue(h.Alias, out var p) ? p : ProtocolConstants.HivePort))
            .DistinctBy(t => (t.HostName.ToLowerInvariant(), t.HivePort))
            .ToList();
}

/// <summary>
/// The queen's side of discovery (DESIGN.md "Discovery and telemetry" 2): after the settle delay, reads the SSH
/// config and sends <c>GET /capabilities?queen_url=</c> to every host in parallel; silent hosts are probed again
/// with backoff (5 s doubling to 60 s); the config is re-read when it (or an included file) changes. A host whose
/// hive is live at the queen is not probed. One log line when a hive is found, one when it goes silent.
/// </summary>
public sealed partial class SshConfigDiscovery(
    IOptions<QueenOptions> options,
    ClusterRegistry registry,
    ClusterHttp http,
    QueenAddress address,
    TimeProvider time,
    ILogger<SshConfigDiscovery> logger) : BackgroundService
{
    private readonly Dictionary<DiscoveryTarget, CancellationTokenSource> _probes = [];
    private readonly SemaphoreSlim _changed = new(0, 1);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var o = options.Value;
        try
        {
            await Task.Delay(o.SettleDelay, time, stoppingToken);
            var path = o.ResolvedSshConfigPath;
            using var watchers = new WatcherSet(() => { try { _changed.Release(); } catch (SemaphoreFullException) { } });
            while (!stoppingToken.IsCancellationRequested)
            {
                var config = File.Exists(path) ? SshConfigParser.ReadFile(path) : SshConfig.Empty;
                foreach (var w in config.Warnings) Log.ConfigWarning(logger, w.File, w.Line, w.Message);
                var targets = DiscoveryTarget.From(config, o.HivePorts);
                Log.ConfigRead(logger, path, targets.Count);
                Reconcile(targets, stoppingToken);
                watchers.Watch([path, .. config.Files]);
                await _changed.WaitAsync(stoppingToken);
                // Editors write in several steps; read once they are done.
                await Task.Delay(o.SshConfigDebounce, time, stoppingToken);
                while (_changed.CurrentCount > 0) await _changed.WaitAsync(stoppingToken);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        finally
        {
            foreach (var cts in _probes.Values) cts.Cancel();
        }
    }

    private void Reconcile(IReadOnlyList<DiscoveryTarget> targets, CancellationToken stoppingToken)
    {
        // A hive the SSH config names is never forgotten while offline: it is expected back.
        var named = targets.ToList();
        registry.KeepOffline(e => named.Any(t => t.Alias == e.HiveId
            || (e.HiveUrl.Port == t.HivePort && string.Equals(e.HiveUrl.Host, t.HostName, StringComparison.OrdinalIgnoreCase))));
        foreach (var gone in _probes.Keys.Except(targets).ToList())
        {
            _probes[gone].Cancel();
            _probes.Remove(gone);
        }
        foreach (var target in targets.Where(t => !_probes.ContainsKey(t)))
        {
            var cts = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
            _probes[target] = cts;
            _ = Task.Run(() => ProbeLoopAsync(target, cts.Token), CancellationToken.None);
        }
    }

    private async Task ProbeLoopAsync(DiscoveryTarget target, CancellationToken ct)
    {
        var o = options.Value;
        var backoff = new Backoff(o.ProbeBackoffInitial, o.ProbeBackoffMax);
        var failures = 0;
        bool? answering = null;
        try
        {
            while (!ct.IsCancellationRequested)
            {
                if (IsLiveAtQueen(target))
                {
                    failures = 0;
                    await Task.Delay(o.ProbeBackoffInitial, time, ct);
                    continue;
                }
                var error = await ProbeAsync(target, ct);
                if (error is null)
                {
                    if (answering != true) Log.HiveFound(logger, target.Alias, target.HostName, target.HivePort);
                    answering = true;
                    failures = 0;
                    await Task.Delay(o.ProbeBackoffInitial, time, ct);
                }
                else
                {
                    if (answering != false) Log.HiveSilent(logger, target.Alias, target.HostName, target.HivePort, error);
                    answering = false;
                    await Task.Delay(backoff.Delay(failures++), time, ct);
                }
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
    }

    /// <summary>One probe; null when the hive answered 2xx, else why not.</summary>
    private async Task<string?> ProbeAsync(DiscoveryTarget target, CancellationToken ct)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(options.Value.ProbeTimeout);
        try
        {
            var queenUrl = await address.ForHiveAsync(target.HostName, target.HivePort, timeout.Token);
            var host = IPAddress.TryParse(target.HostName, out var ip) && ip.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6
                ? $"[{target.HostName}]" : target.HostName;
            var uri = new Uri($"http://{host}:{target.HivePort}/capabilities?queen_url={Uri.EscapeDataString(queenUrl.ToString().TrimEnd('/'))}");
            using var request = http.Request(HttpMethod.Get, uri);
            using var response = await http.Client.SendAsync(request, timeout.Token);
            return response.IsSuccessStatusCode ? null : $"answered {(int)response.StatusCode}";
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            return "no answer in time";
        }
        catch (Exception e) when (e is HttpRequestException or System.Net.Sockets.SocketException or UriFormatException or ArgumentException)
        {
            return e.Message;
        }
    }

    private bool IsLiveAtQueen(DiscoveryTarget target)
    {
        foreach (var e in registry.Current.Hives.Values)
        {
            if (e.HiveUrl.Port != target.HivePort || e.State is not (HiveState.Online or HiveState.Degraded)) continue;
            if (string.Equals(e.HiveUrl.Host, target.HostName, StringComparison.OrdinalIgnoreCase)) return true;
            if (IsLoopbackName(e.HiveUrl.Host) && IsLoopbackName(target.HostName)) return true;
        }
        return false;
    }

    private static bool IsLoopbackName(string host) =>
        host.Equals("localhost", StringComparison.OrdinalIgnoreCase) ||
        (IPAddress.TryParse(host.Trim('[', ']'), out var ip) && IPAddress.IsLoopback(ip));

    public override void Dispose()
    {
        foreach (var cts in _probes.Values) cts.Dispose();
        _changed.Dispose();
        base.Dispose();
    }

    /// <summary>One FileSystemWatcher per directory holding a watched file (the config and its includes).</summary>
    private sealed class WatcherSet(Action changed) : IDisposable
    {
        private readonly Dictionary<string, FileSystemWatcher> _watchers = new(StringComparer.Ordinal);
        private HashSet<string> _files = new(StringComparer.Ordinal);

        public void Watch(IEnumerable<string> files)
        {
            _files = files.Select(Path.GetFullPath).ToHashSet(StringComparer.Ordinal);
            foreach (var dir in _files.Select(Path.GetDirectoryName).OfType<string>().Distinct())
            {
                if (_watchers.ContainsKey(dir) || !Directory.Exists(dir)) continue;
                var w = new FileSystemWatcher(dir) { IncludeSubdirectories = false, NotifyFilter =
                    NotifyFilters.FileName | NotifyFilters.LastWrite | NotifyFilters.Size | NotifyFilters.CreationTime };
                w.Changed += OnEvent;
                w.Created += OnEvent;
                w.Deleted += OnEvent;
                w.Renamed += (s, e) => { if (Relevant(e.OldFullPath) || Relevant(e.FullPath)) changed(); };
                w.EnableRaisingEvents = true;
                _watchers[dir] = w;
            }
        }

        // An Include glob may gain a new file; any file in a watched directory may matter, so the rule is loose:
        // a known file, or any file next to one (re-reading is cheap).
        private bool Relevant(string path) => _files.Contains(path) || _watchers.ContainsKey(Path.GetDirectoryName(path) ?? "");

        private void OnEvent(object sender, FileSystemEventArgs e)
        {
            if (Relevant(e.FullPath)) changed();
        }

        public void Dispose()
        {
            foreach (var w in _watchers.Values) w.Dispose();
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = QueenEventIds.SshConfigRead, Level = LogLevel.Information, Message = "ssh config {Path}: {Count} hive hosts")]
        public static partial void ConfigRead(ILogger logger, string path, int count);

        [LoggerMessage(EventId = QueenEventIds.SshConfigWarning, Level = LogLevel.Warning, Message = "ssh config {File}:{Line}: {Problem}")]
        public static partial void ConfigWarning(ILogger logger, string file, int line, string problem);

        [LoggerMessage(EventId = QueenEventIds.HiveFound, Level = LogLevel.Information, Message = "hive found at {Alias} ({HostName}:{HivePort})")]
        public static partial void HiveFound(ILogger logger, string alias, string hostName, int hivePort);

        [LoggerMessage(EventId = QueenEventIds.HiveSilent, Level = LogLevel.Information, Message = "hive at {Alias} ({HostName}:{HivePort}) silent: {Reason}; probing with backoff")]
        public static partial void HiveSilent(ILogger logger, string alias, string hostName, int hivePort, string reason);
    }
}
