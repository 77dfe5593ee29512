using System.Formats.Tar;
using System.Net;
using System.Runtime.InteropServices;
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
}

/// <summary>
/// A hive on another machine, from the operator's (issue 14): <c>install</c> copies the programs this <c>rbee</c> runs
/// with to <c>~/.local/lib/rbee/</c> there, writes the hive's configuration and the cluster token, and registers the host
/// with the queen as managed; <c>start</c> starts it unless one runs (never two); <c>stop</c>, <c>restart</c>,
/// <c>uninstall</c>. Everything goes through the system's ssh (<see cref="Ssh"/>), as the operator's own config says.
/// </summary>
public sealed class RemoteHiveCommand(KeeperIo io)
{
    public static readonly string[] Actions = ["install", "start", "stop", "restart", "uninstall"];

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
        var supervisor = request.Supervisor == Supervisors.Auto ? Supervisors.Queen : request.Supervisor;
        if (supervisor == Supervisors.Systemd)
            throw CliFailure.Usage("rbee hive install --supervisor systemd: writing systemd units is not built yet; use --supervisor queen (the queen restarts the hive over SSH)");
        var token = ClusterTokenStore.Read()
            ?? throw new CliFailure("no cluster token here to give the hive; run `rbee up` once (it creates ~/.config/rbee/token) or set RBEE_CLUSTER_TOKEN");
        using var queen = QueenClient.Create(request.QueenUrl);
        var queenUrl = await QueenUrlForHostAsync(queen, request, ct);

        var (rid, home) = await hive.ProbeAsync(ct);
        var local = LocalRid();
        if (rid != local)
            throw new CliFailure($"{request.Host} is {rid} and this rbee has the programs of {local} only; install from a machine of that architecture");
        var programs = Programs();
        io.Output.WriteLine($"{request.Host}: {rid}, installing {string.Join(", ", programs.Where(p => !p.Name.Contains('/') && !p.Name.Contains('.')).Select(p => p.Name))} to {home}/.local/lib/rbee");
        await hive.InstallProgramsAsync(Tarball(programs), ct);
        await hive.ConfigureAsync(queenUrl, token, ct);
        io.Output.WriteLine($"{request.Host}: configured (hive id {request.Host}, queen {queenUrl}, cluster token in ~/.config/rbee/token, mode 0600)");
        await ManageAsync(queen, request.Host, supervisor, want: null, ct);
        io.Output.WriteLine($"installed; start it with: rbee hive start --host {request.Host}");
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

    private static string LocalRid() => RuntimeInformation.OSArchitecture switch
    {
        Architecture.X64 => "linux-x64",
        Architecture.Arm64 => "linux-arm64",
        var other => "linux-" + other.ToString().ToLowerInvariant(),
    };

    /// <summary>
    /// The files of rbee-hive and llm-worker-rbee as this rbee finds them (beside it, then on PATH), each with its name in
    /// the install folder: a single-file program alone, a framework-dependent build with the rest of its folder (its .dll,
    /// .deps.json, .runtimeconfig.json and libraries; the two share their libraries, so one folder holds both).
    /// </summary>
    private static IReadOnlyList<(string Name, string Path)> Programs()
    {
        var files = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var program in new[] { "rbee-hive", "llm-worker-rbee" })
        {
            var exe = ExecutableSearch.BesideOrOnPath(program)
                ?? throw new CliFailure($"{program} is not beside rbee or on PATH; build rbee (dotnet build -c Release) or install it first");
            var dir = Path.GetDirectoryName(exe)!;
            var parts = File.Exists(Path.Combine(dir, program + ".dll")) ? Directory.EnumerateFiles(dir, "*", SearchOption.AllDirectories) : [exe];
            foreach (var f in parts) files.TryAdd(Path.GetRelativePath(dir, f), f);
        }
        return [.. files.OrderBy(f => f.Key, StringComparer.Ordinal).Select(f => (f.Key, f.Value))];
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
