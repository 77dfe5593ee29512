using System.Net.Sockets;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Rbee.Contracts.Wire;
using Rbee.Platform.Remote;
using Rbee.Queen.Audit;
using Rbee.Queen.Cluster;
using Rbee.Queen.Configuration;

namespace Rbee.Queen.Remote;

/// <summary>
/// Brings a crashed managed hive back (issue 14, <c>--supervisor queen</c>): when a hive the queen manages and its
/// operator wants running is offline (its stream closed, its liveness ran out) and its port no longer answers, the
/// queen starts it again over SSH with the same start as <c>rbee hive start --host</c>, which refuses when one runs, so
/// never two. Tries back off 1, 2, 4 … 60 s and start over once the hive is online again; each is in the audit log.
/// A restarted queen also starts a wanted-running hive it has not heard from within <c>Protocol:OfflineAfter</c> of its own
/// start, at the URL an earlier queen saw it at (kept in <c>managed-hives.json</c>), so every start order converges.
/// The restarted hive re-adopts its workers (they outlive it in their cgroups).
/// </summary>
public sealed partial class HiveSupervisor(
    ManagedHives managed,
    ClusterRegistry registry,
    AuditLog audit,
    Rbee.Queen.Telemetry.QueenMetrics metrics,
    IOptions<QueenOptions> options,
    IOptions<Rbee.Contracts.Protocol.ProtocolOptions> protocol,
    TimeProvider time,
    ILogger<HiveSupervisor> logger) : BackgroundService
{
    public static readonly TimeSpan Tick = TimeSpan.FromMilliseconds(250);
    public static readonly TimeSpan FirstBackoff = TimeSpan.FromSeconds(1);
    public static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan PortCheck = TimeSpan.FromSeconds(1);

    private sealed class State
    {
        public TimeSpan Backoff = FirstBackoff;
        public DateTimeOffset NextTry = DateTimeOffset.MinValue;
        public Task? Running;
    }

    // Read by the timer's checks and by SettleAsync, which request threads call: under _gate.
    private readonly Lock _gate = new();
    private readonly Dictionary<string, State> _states = new(StringComparer.Ordinal);
    private readonly DateTimeOffset _startedAt = time.GetUtcNow();
    private readonly HashSet<string> _notRemembered = new(StringComparer.Ordinal);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(Tick, time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false)) Check(stoppingToken);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        foreach (var s in _states.Values)
            if (s.Running is { } t) await t.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }

    /// <summary>
    /// Waits for the restarts already under way (of <paramref name="alias"/>, or of every hive) to finish. A stop calls it
    /// after it has marked the hive wanted stopped, which no new restart passes: a restart decided just before could
    /// otherwise start the hive over SSH just after the stop, leaving a hive wanted stopped running.
    /// </summary>
    public async Task SettleAsync(string? alias = null)
    {
        Task[] running;
        lock (_gate)
            running = [.. _states.Where(s => alias is null || s.Key == alias).Select(s => s.Value.Running).OfType<Task>()];
        await Task.WhenAll(running).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }

    private void Check(CancellationToken ct)
    {
        lock (_gate) CheckLocked(ct);
    }

    private void CheckLocked(CancellationToken ct)
    {
        var snapshot = registry.Current;
        var now = time.GetUtcNow();
        foreach (var hive in managed.All)
        {
            if (hive.Supervisor != Supervisors.Queen || !hive.WantRunning) continue;
            var entry = snapshot.Find(hive.Alias);
            if (entry is not null && entry.HiveUrl.ToString() != hive.HiveUrl) Remember(hive.Alias, entry.HiveUrl);
            // A hive this queen has not heard from: one an earlier queen saw is judged once this queen has given it as long
            // as liveness gives a silent hive (it announces itself, or the SSH config probe finds it, well within that);
            // one never seen anywhere was never started, and starting it is its operator's call (rbee hive start --host).
            var url = entry?.HiveUrl ?? (hive.HiveUrl is { } known ? new Uri(known) : null);
            if (url is null) continue;
            var down = entry is null ? now - _startedAt >= protocol.Value.OfflineAfter : entry.State == HiveState.Offline;
            if (!_states.TryGetValue(hive.Alias, out var state)) _states[hive.Alias] = state = new State();
            if (!down)
            {
                if (entry?.State is HiveState.Online) state.Backoff = FirstBackoff;
                continue;
            }
            if (state.Running is { IsCompleted: false } || now < state.NextTry) continue;
            state.Running = RestartAsync(hive.Alias, url, state, ct);
        }
    }

    private void Remember(string alias, Uri hiveUrl)
    {
        try
        {
            managed.Seen(alias, hiveUrl);
            _notRemembered.Remove(alias);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Only a restarted queen's first judgement needs it; this queen goes on by its registry. Tried again every
            // tick, said once.
            if (_notRemembered.Add(alias)) Log.NotRemembered(logger, alias, e.Message);
        }
    }

    private async Task RestartAsync(string alias, Uri hiveUrl, State state, CancellationToken ct)
    {
        try
        {
            // Offline by its stream, yet its port answers: a hive alive behind a cut or slow link, which comes back by
            // itself; starting another would make two.
            if (await PortAnswersAsync(hiveUrl, ct).ConfigureAwait(false))
            {
                state.NextTry = time.GetUtcNow() + state.Backoff;
                return;
            }
            // Wanted stopped while the port was probed: a stop is under way, and it waits for this task (SettleAsync).
            if (managed.Find(alias) is not { Supervisor: Supervisors.Queen, WantRunning: true }) return;
            Log.Restarting(logger, alias, hiveUrl.ToString(), state.Backoff.TotalSeconds);
            var o = options.Value;
            var ssh = new Ssh(File.Exists(o.ResolvedSshConfigPath) ? o.ResolvedSshConfigPath : null, TimeSpan.FromSeconds(30));
            var (outcome, detail) = await new RemoteHive(ssh, alias).StartAsync(hiveUrl.Port, ct).ConfigureAwait(false);
            if (outcome == RemoteStart.Started)
            {
                Log.Restarted(logger, alias, detail);
                metrics.HiveRestarted(alias);
                audit.Write(Actor.Queen, "restart", alias, detail);
            }
            else Log.RestartFailed(logger, alias, detail);
        }
        catch (SshException e)
        {
            Log.RestartFailed(logger, alias, e.Message);
            audit.Write(Actor.Queen, "restart failed", alias, e.Message);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            return;
        }
        state.NextTry = time.GetUtcNow() + state.Backoff;
        state.Backoff = state.Backoff * 2 > MaxBackoff ? MaxBackoff : state.Backoff * 2;
    }

    private static async Task<bool> PortAnswersAsync(Uri url, CancellationToken ct)
    {
        using var socket = new Socket(AddressFamily.InterNetworkV6, SocketType.Stream, ProtocolType.Tcp) { DualMode = true };
        using var bound = CancellationTokenSource.CreateLinkedTokenSource(ct);
        bound.CancelAfter(PortCheck);
        try
        {
            await socket.ConnectAsync(url.Host, url.Port, bound.Token).ConfigureAwait(false);
            return true;
        }
        catch (Exception e) when (e is SocketException || (e is OperationCanceledException && !ct.IsCancellationRequested))
        {
            return false;
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = QueenEventIds.HiveRestarting, Level = LogLevel.Warning,
            Message = "Managed hive {HiveId} at {HiveUrl} is offline and its port does not answer; starting it over SSH (next try in {Backoff} s if this fails)")]
        public static partial void Restarting(ILogger logger, string hiveId, string hiveUrl, double backoff);

        [LoggerMessage(EventId = QueenEventIds.HiveRestarted, Level = LogLevel.Information, Message = "Managed hive {HiveId} restarted: {Detail}")]
        public static partial void Restarted(ILogger logger, string hiveId, string detail);

        [LoggerMessage(EventId = QueenEventIds.ManagedHiveNotRemembered, Level = LogLevel.Warning,
            Message = "Could not record where managed hive {HiveId} runs in the state directory: {Reason}")]
        public static partial void NotRemembered(ILogger logger, string hiveId, string reason);

        [LoggerMessage(EventId = QueenEventIds.HiveRestartFailed, Level = LogLevel.Warning, Message = "Managed hive {HiveId} not restarted: {Reason}")]
        public static partial void RestartFailed(ILogger logger, string hiveId, string reason);
    }
}
