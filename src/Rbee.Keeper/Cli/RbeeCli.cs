using System.CommandLine;
using Rbee.Keeper.Chat;
using Rbee.Keeper.Completion;
using Rbee.Keeper.Config;
using Rbee.Keeper.Hives;
using Rbee.Keeper.Logs;
using Rbee.Keeper.Connection;
using Rbee.Keeper.Lifecycle;
using Rbee.Keeper.Models;
using Rbee.Keeper.Status;
using Rbee.Keeper.Workers;

namespace Rbee.Keeper.Cli;

/// <summary>The <c>rbee</c> command tree: definitions wired to behaviours with <c>SetAction</c>.</summary>
public static class RbeeCli
{
    /// <summary>The exit code of a command stopped with Ctrl-C (128 + SIGINT, as shells report it).</summary>
    public const int Interrupted = 130;

    public static RootCommand Build(KeeperIo io) => Build(io, out _);

    public static RootCommand Build(KeeperIo io, out GlobalOptions global)
    {
        var root = new RootCommand("rbee: one OpenAI-compatible endpoint over every GPU and CPU of your machines");
        var g = global = new GlobalOptions();
        g.AddTo(root);
        var clock = TimeProvider.System;

        var up = new UpCommandDefinition();
        Wire(up, io, (p, ct) => new UpCommand(io.Output, io.Error).RunAsync(
            new UpRequest(p.GetValue(g.QueenUrl)!, p.GetValue(up.HivePort), TimeSpan.FromSeconds(p.GetValue(up.Timeout))) { SshConfig = g.SshConfigPath(p, out _) }, ct));
        root.Subcommands.Add(up);

        var down = new DownCommandDefinition();
        Wire(down, io, (p, ct) => new DownCommand(io.Output, io.Error).RunAsync(
            new DownRequest(p.GetValue(g.QueenUrl)!, p.GetValue(down.HivePort), TimeSpan.FromSeconds(p.GetValue(down.Timeout))), ct));
        root.Subcommands.Add(down);

        var status = new StatusCommandDefinition();
        Wire(status, io, (p, ct) => p.GetValue(status.Watch)
            ? new StatusWatch(io).RunAsync(g.QueenOnly(p, "status"), p.GetValue(g.Json), ct)
            : new StatusCommand(io.Out, io.Output, io.Error).RunAsync(new StatusRequest(g.QueenOnly(p, "status"), p.GetValue(g.Json)), ct));
        root.Subcommands.Add(status);

        var run = new RunCommandDefinition();
        Wire(run, io, (p, ct) => new RunCommand(io).RunAsync(
            new RunRequest(p.GetValue(g.QueenUrl)!, p.GetValue(run.Model)!, Prompt(p.GetValue(run.Prompt)), p.GetValue(g.Json))
            {
                Parameters = p.GetValue(run.Parameters) ?? [],
                HiveUrl = p.GetValue(g.HiveUrl),
            }, ct));
        root.Subcommands.Add(run);

        var ls = new LsCommandDefinition();
        Wire(ls, io, (p, ct) => new LsCommand(io).RunAsync(new LsRequest(g.Endpoint(p), p.GetValue(ls.Hive), p.GetValue(g.Json)), ct));
        root.Subcommands.Add(ls);

        var ps = new PsCommandDefinition();
        Wire(ps, io, (p, ct) => new PsCommand(io, clock).RunAsync(new PsRequest(g.Endpoint(p), p.GetValue(g.Json)), ct));
        root.Subcommands.Add(ps);

        var stop = new StopCommandDefinition();
        Wire(stop, io, (p, ct) => new StopCommand(io).RunAsync(
            new StopRequest(g.Endpoint(p), p.GetValue(stop.Target)!, p.GetValue(g.Json)), ct));
        root.Subcommands.Add(stop);

        var worker = new WorkerCommandDefinition();
        Wire(worker.Spawn, io, (p, ct) => new WorkerSpawnCommand(io).RunAsync(new WorkerSpawnRequest(g.Endpoint(p), p.GetValue(worker.Spawn.Model)!,
            p.GetValue(worker.Spawn.Hive), p.GetValue(worker.Spawn.Device)!, p.GetValue(worker.Spawn.WorkerType), p.GetValue(g.Json)), ct));
        Wire(worker.List, io, (p, ct) => new PsCommand(io, clock).RunAsync(new PsRequest(g.Endpoint(p), p.GetValue(g.Json)), ct));
        Wire(worker.Stop, io, (p, ct) => new StopCommand(io).RunAsync(
            new StopRequest(g.Endpoint(p), p.GetValue(worker.Stop.Target)!, p.GetValue(g.Json)), ct));
        root.Subcommands.Add(worker);

        var pull = new PullCommandDefinition();
        Wire(pull, io, (p, ct) => new PullCommand(io, clock).RunAsync(new PullRequest(g.Endpoint(p), p.GetValue(pull.Source)!,
            p.GetValue(pull.ModelName), p.GetValue(pull.Hive) ?? [], p.GetValue(pull.All), p.GetValue(g.Json)), ct));
        root.Subcommands.Add(pull);

        var rm = new RmCommandDefinition();
        Wire(rm, io, (p, ct) => new RmCommand(io).RunAsync(new RmRequest(g.Endpoint(p), p.GetValue(rm.Model)!,
            p.GetValue(rm.Hive) ?? [], p.GetValue(rm.All), p.GetValue(g.Json)), ct));
        root.Subcommands.Add(rm);

        var logs = new LogsCommandDefinition();
        Wire(logs, io, (p, ct) => new LogsCommand(io).RunAsync(new LogsRequest(g.Endpoint(p), p.GetValue(logs.Worker), null,
            p.GetValue(logs.Lines), p.GetValue(logs.Follow), p.GetValue(g.Json)), ct));
        root.Subcommands.Add(logs);

        var hive = new HiveCommandDefinition();
        Wire(hive.Status, io, (p, ct) => p.GetValue(hive.Status.Host) is { } host
            ? new RemoteHiveCommand(io).RunAsync(OnHost(p, "status", host, hive.Status.Hive, hive.Status.HivePort), ct)
            : new HiveStatusCommand(io).RunAsync(new HiveStatusRequest(g.Endpoint(p), p.GetValue(hive.Status.Hive), p.GetValue(g.Json)), ct));
        Wire(hive.Logs, io, (p, ct) => p.GetValue(hive.Logs.Host) is { } host
            ? new RemoteHiveCommand(io).RunAsync(OnHost(p, "logs", host, hive.Logs.Hive, hive.Logs.HivePort) with
            {
                Lines = p.GetValue(hive.Logs.Lines),
                Follow = p.GetValue(hive.Logs.Follow),
            }, ct)
            : new LogsCommand(io).RunAsync(new LogsRequest(g.Endpoint(p), null, p.GetValue(hive.Logs.Hive),
                p.GetValue(hive.Logs.Lines), p.GetValue(hive.Logs.Follow), p.GetValue(g.Json)), ct));
        foreach (var remote in hive.Remote)
            Wire(remote, io, (p, ct) => new RemoteHiveCommand(io).RunAsync(
                new RemoteHiveRequest(remote.Name, p.GetValue(remote.Host)!, g.QueenOnly(p, "hive " + remote.Name), g.SshConfigPath(p, out _), p.GetValue(remote.HivePort))
                {
                    Supervisor = remote.Supervisor is { } s ? p.GetValue(s)! : Rbee.Platform.Remote.Supervisors.Auto,
                    From = remote.From is { } f ? p.GetValue(f) : null,
                }, ct));

        RemoteHiveRequest OnHost(ParseResult p, string action, string host, Argument<string?> hiveArgument, Option<int> port)
        {
            if (p.GetValue(hiveArgument) is { } named && named != host)
                throw Connection.CliFailure.Usage($"rbee hive {action} {named} --host {host}: the hive on a host is named after its alias; give one of them");
            if (p.GetValue(g.Json)) throw Connection.CliFailure.Usage($"rbee hive {action} --host: --json is not available over SSH; leave out --host to ask the queen");
            return new RemoteHiveRequest(action, host, g.QueenOnly(p, "hive " + action + " --host"), g.SshConfigPath(p, out _), p.GetValue(port));
        }
        root.Subcommands.Add(hive);

        var config = new ConfigCommandDefinition();
        Wire(config.Show, io, (p, ct) =>
        {
            var ssh = g.SshConfigPath(p, out var sshSource);
            var cli = ConfigShowCommand.Resolve(p.GetValue(g.QueenUrl)!, g.QueenUrlSource(p), p.GetValue(g.HiveUrl), ssh ?? GlobalOptions.DefaultSshConfig, sshSource);
            return new ConfigShowCommand(io).RunAsync(new ConfigShowRequest(g.Endpoint(p), cli, p.GetValue(config.Show.Hive), p.GetValue(g.Json)), ct);
        });
        root.Subcommands.Add(config);

        var completion = new CompletionCommandDefinition();
        Wire(completion, io, (p, _) =>
        {
            io.Output.Write(CompletionScripts.For(p.GetValue(completion.Shell)!, root));
            return Task.FromResult(ExitCodes.Ok);
        });
        root.Subcommands.Add(completion);

        return root;
    }

    /// <summary>The prompt's words joined, or null when none was given.</summary>
    public static string? Prompt(string[]? words) => words is { Length: > 0 } ? string.Join(' ', words) : null;

    /// <summary>
    /// Binds a behaviour to its definition: a <see cref="CliFailure"/> becomes its one line on stderr and its exit code,
    /// Ctrl-C exits <see cref="Interrupted"/>.
    /// </summary>
    private static void Wire(Command command, KeeperIo io, Func<ParseResult, CancellationToken, Task<int>> behaviour) =>
        command.SetAction(async (p, ct) =>
        {
            try
            {
                return await behaviour(p, ct);
            }
            catch (CliFailure e)
            {
                io.Error.WriteLine($"rbee {command.Name}: {e.Message}");
                return e.ExitCode;
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                io.Error.WriteLine($"rbee {command.Name}: interrupted");
                return Interrupted;
            }
            catch (System.Text.Json.JsonException e)
            {
                io.Error.WriteLine($"rbee {command.Name}: the daemon answered something this rbee cannot read ({e.Message}): are rbee and the daemons the same version?");
                return ExitCodes.Failed;
            }
        });
}
