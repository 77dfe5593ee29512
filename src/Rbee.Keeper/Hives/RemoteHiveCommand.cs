using System.Formats.Tar;
using System.Net;
using System.Text.Json;
using Rbee.Contracts.Json;
using Rbee.Contracts.Wire;
using Rbee.Keeper.Cli;
using Rbee.Keeper.Connection;
using Rbee.Platform.Processes;
using Rbee.Platform.Remote;

namespace Rbee.Keeper.Hives;

/// <summary>What <c>rbee hive install|start|stop|restart|uninstall --host ALIAS</c> asks for.</summary>
public sealed record RemoteHiveRequest(string Action, string Host, Uri QueenUrl, string? SshConfig, int HivePort)
{
    /// <summary>For install: who restarts the hive when it crashes.</summary>
    public string Supervisor { get; init; } = Supervisors.Auto;

    /// <summary>For install: the folder to take the programs from (<see cref="HivePrograms"/> finds them otherwise).</summary>
    public string? From { get; init; }

    /// <summary>For logs: how many of the last lines, and whether to follow.</summary>
    public int Lines { get; init; } = 100;
    public bool Follow { get; init; }
}

/// <summary>
/// A hive on another machine, from the operator's (issue 14): <c>install</c> copies the release programs for the host's
/// OS and architecture (<see cref="HivePrograms"/>) to <c>~/.local/lib/rbee/</c> there, writes the hive's configuration
/// and the cluster token, and registers the host with the queen as managed; run again over a running hive it upgrades
/// it (stopped in restart mode, replaced, started: its workers keep running and are re-adopted). <c>start</c> starts it
/// unless one runs (never two); <c>stop</c>, <c>restart</c>, <c>status</c>, <c>logs</c>, <c>uninstall</c>. Everything
/// goes through the system's ssh (<see cref="Ssh"/>), as the operator's own config says. Who restarts a crashed hive is
/// chosen at install (<see cref="Supervisors.Choose"/>): with systemd, install writes its unit (<see cref="HiveUnit"/>)
/// and the host's scripts start and stop it through systemctl from then on.
/// </summary>
public sealed class RemoteHiveCommand(KeeperIo io)
{
    public static readonly string[] Actions = ["install", "start", "stop", "restart", "uninstall", "status", "logs"];

    public async Task<int> RunAsync(RemoteHiveRequest request, CancellationToken ct)
    {
        var hive = new RemoteHive(new Ssh(request.SshConfig), request.Host);
        try
        {
            switch (request.Action)
            {
                case "install": await InstallAsync(hive, request, ct); break;
                case "start": await StartAsync(hive, request, ct); break;
                case "stop": await StopAsync(hive, request, ct); break;
                case "restart":
                    await StopAsync(hive, request, ct);
                    await StartAsync(hive, request, ct);
                    break;
                case "uninstall": await UninstallAsync(hive, request, ct); break;
                case "status": await StatusAsync(hive, request, ct); break;
                case "logs":
                    if (!await hive.LogsAsync(request.Lines, request.Follow, io.Output.WriteLine, ct))
                        throw new CliFailure($"{request.Host}: no hive log there yet; start the hive first (rbee hive start --host {request.Host})");
                    break;
                default: throw CliFailure.Usage($"rbee hive {request.Action}: not an action; use one of {string.Join(", ", Actions)}");
            }
            return ExitCodes.Ok;
        }
        catch (SshException e)
        {
            throw new CliFailure(e.Message);
        }
    }

    private async Task InstallAsync(RemoteHive hive, RemoteHiveRequest request, CancellationToken ct)
    {
        var token = ClusterTokenStore.Read()
            ?? throw new CliFailure("no cluster token here to give the hive; run `rbee up` once (it creates ~/.config/rbee/token) or set RBEE_CLUSTER_TOKEN");
        using var queen = QueenClient.Create(request.QueenUrl);
        var queenUrl = await QueenUrlForHostAsync(queen, request, ct);

        var host = await hive.ProbeAsync(ct);
        // Decided before anything on the host changes: a supervisor the host cannot have refuses the install whole.
        var (supervisor, line) = Supervisors.Choose(request.Supervisor, request.Host, host);
        if (supervisor is null) throw new CliFailure(line);
        io.Output.WriteLine($"{request.Host}: {line}");
        var spec = RemoteHive.UnitFor(host, request.HivePort);
        string? unitText = null;
        if (supervisor == Supervisors.Systemd)
        {
            try { unitText = HiveUnit.Render(spec); }
            catch (ArgumentException e) { throw new CliFailure($"{request.Host}: {e.Message}; use --supervisor queen"); }
        }
        var programs = await HivePrograms.FindAsync(host.Rid, request.From, io.Output.WriteLine, ct);
        var before = await hive.StatusAsync(request.HivePort, ct);
        if (before.Pid is { } running)
        {
            // An upgrade: the queen must not take the short stop for a crash, and the workers outlive it.
            await ManageAsync(queen, request.Host, null, want: "stopped", ct);
            io.Output.WriteLine($"{request.Host}: rbee-hive runs (pid {running}); upgrading: stopping it in restart mode, its workers keep running");
            var (_, detail) = await hive.StopAsync(TimeSpan.FromSeconds(30), ct, keepWorkers: true);
            io.Output.WriteLine($"{request.Host}: {detail}");
        }
        io.Output.WriteLine($"{request.Host}: {host.Rid}, installing rbee-hive and llm-worker-rbee from {programs.Source} to {host.Home}/.local/lib/rbee");
        await hive.InstallProgramsAsync(Tarball(programs.Files), ct);
        await hive.ConfigureAsync(queenUrl, token, ct);
        io.Output.WriteLine($"{request.Host}: configured (hive id {request.Host}, queen {queenUrl}, cluster token in ~/.config/rbee/token, mode 0600)");
        if (supervisor == Supervisors.Systemd)
        {
            var unit = await hive.InstallUnitAsync(unitText!, ct);
            io.Output.WriteLine($"{request.Host}: wrote {(spec.SystemUnit ? HiveUnit.SystemPath : $"{host.Home}/.config/systemd/user/{HiveUnit.Name}")} " +
                "(Restart=on-failure, KillMode=process: workers outlive a restart of the hive); start and stop go through systemctl");
            if (!unit.Lingering)
                io.Output.WriteLine($"{request.Host}: warning: loginctl enable-linger {host.User} failed ({(unit.Detail.Length > 0 ? unit.Detail : "lingering is off")}); " +
                    $"without lingering {host.User}'s systemd stops the hive at their last logout and does not start it at boot");
        }
        else if (host.UnitInstalled && await hive.RemoveUnitAsync(ct))
            io.Output.WriteLine($"{request.Host}: removed the systemd unit of an earlier install; the queen supervises the hive now");
        await ManageAsync(queen, request.Host, supervisor, want: null, ct);
        if (before.Pid is not null)
        {
            await StartAsync(hive, request, ct);
            io.Output.WriteLine($"upgraded; the new hive re-adopts the running workers");
        }
        else io.Output.WriteLine($"installed; start it with: rbee hive start --host {request.Host}");
    }

    private async Task StatusAsync(RemoteHive hive, RemoteHiveRequest request, CancellationToken ct)
    {
        var s = await hive.StatusAsync(request.HivePort, ct);
        var state = s.Pid is { } pid
            ? $"running, pid {pid}{(s.UptimeSeconds is { } up ? $", up {TimeSpan.FromSeconds(up):g}" : "")}"
            : s.PortTaken ? $"not running, but port {request.HivePort} is taken by another process" : "not running";
        io.Output.WriteLine($"{request.Host}: rbee-hive {state}");
        io.Output.WriteLine(s.Installed ? $"  installed: {(s.Build.Count > 0 ? string.Join("; ", s.Build.Select(b => b.Replace('\t', ' '))) : "yes (no BUILD file: not a scripts/publish.sh release)")}" : "  installed: no (rbee hive install --host " + request.Host + ")");
        io.Output.WriteLine($"  log: {s.LogPath} (rbee hive logs --host {request.Host})");
        io.Output.WriteLine(s.Unit is { } unit ? $"  systemd: {unit}" : "  systemd: no unit (started over SSH)");
        try
        {
            using var queen = QueenClient.Create(request.QueenUrl);
            var cluster = JsonSerializer.Deserialize(await queen.GetStringAsync("/v1/cluster", ct), RbeeJsonContext.Default.ClusterView);
            var seen = cluster?.Hives.FirstOrDefault(h => h.HiveId == request.Host);
            io.Output.WriteLine(seen is null ? "  queen: does not know this hive"
                : $"  queen: {seen.State.ToWire()} at {seen.HiveUrl}, {seen.Workers.Count} worker(s)");
        }
        catch (CliFailure e)
        {
            io.Output.WriteLine($"  queen: not asked ({e.Message})");
        }
    }

    private async Task StartAsync(RemoteHive hive, RemoteHiveRequest request, CancellationToken ct)
    {
        var (outcome, detail) = await hive.StartAsync(request.HivePort, ct);
        if (outcome == RemoteStart.AlreadyRunning)
            throw new CliFailure($"{request.Host}: not started: {detail}; stop it first (rbee hive stop --host {request.Host}) or leave it running");
        io.Output.WriteLine($"{request.Host}: {detail}");
        using var queen = QueenClient.Create(request.QueenUrl);
        await ManageAsync(queen, request.Host, null, want: "running", ct);
    }

    private async Task StopAsync(RemoteHive hive, RemoteHiveRequest request, CancellationToken ct)
    {
        // The queen first: a hive stopped on purpose must not be restarted as a crashed one.
        using var queen = QueenClient.Create(request.QueenUrl);
        await ManageAsync(queen, request.Host, null, want: "stopped", ct);
        var (_, detail) = await hive.StopAsync(TimeSpan.FromSeconds(30), ct);
        io.Output.WriteLine($"{request.Host}: {detail}");
    }

    private async Task UninstallAsync(RemoteHive hive, RemoteHiveRequest request, CancellationToken ct)
    {
        using var queen = QueenClient.Create(request.QueenUrl);
        await ManageAsync(queen, request.Host, null, want: "stopped", ct);
        var (_, detail) = await hive.StopAsync(TimeSpan.FromSeconds(30), ct);
        io.Output.WriteLine($"{request.Host}: {detail}");
        await hive.UninstallAsync(ct);
        var outcome = await queen.RunJobAsync(JobBody.Of(JobOperations.HiveUnmanage, ("host", request.Host)), io.Output.WriteLine, _ => { }, ct);
        if (!outcome.Succeeded) throw new CliFailure($"the queen did not forget {request.Host}: {outcome.Error ?? outcome.Marker}");
        io.Output.WriteLine($"{request.Host}: programs and hive configuration removed (its log and token stay)");
    }

    private async Task ManageAsync(QueenClient queen, string host, string? supervisor, string? want, CancellationToken ct)
    {
        var outcome = await queen.RunJobAsync(JobBody.Of(JobOperations.HiveManage, ("host", host), ("supervisor", supervisor), ("want", want)),
            io.Output.WriteLine, _ => { }, ct);
        if (!outcome.Succeeded) throw new CliFailure($"the queen refused to manage {host}: {outcome.Error ?? outcome.Marker}");
    }

    /// <summary>
    /// The queen's URL as the host will use it: the one given, unless it is a loopback address, which on the host would be
    /// the host itself; then the queen's advertised URL.
    /// </summary>
    private static async Task<string> QueenUrlForHostAsync(QueenClient queen, RemoteHiveRequest request, CancellationToken ct)
    {
        var given = request.QueenUrl;
        if (!(given.IsLoopback || (IPAddress.TryParse(given.Host, out var ip) && IPAddress.IsLoopback(ip))))
            return CliFailure.Display(given);
        var info = JsonSerializer.Deserialize(await queen.GetStringAsync("/v1/info", ct), RbeeJsonContext.Default.QueenInfo);
        if (info?.AdvertiseUrl is { Length: > 0 } advertised && Uri.TryCreate(advertised, UriKind.Absolute, out var a) && !a.IsLoopback)
            return advertised.TrimEnd('/');
        throw new CliFailure($"the queen is at {CliFailure.Display(given)}, which {request.Host} cannot reach; give --queen-url with an address " +
            $"{request.Host} can reach (e.g. http://<this machine's address>:7833), or start the queen with --advertise-url");
    }

    /// <summary>A tar of the files (modes kept: the programs stay executable), unpacked on the host by its own tar.</summary>
    private static byte[] Tarball(IReadOnlyList<(string Name, string Path)> files)
    {
        using var memory = new MemoryStream();
        using (var tar = new TarWriter(memory, TarEntryFormat.Pax, leaveOpen: true))
            foreach (var (name, path) in files) tar.WriteEntry(path, name);
        return memory.ToArray();
    }
}
