using System.Text.Json;
using System.Threading.Channels;
using Rbee.Contracts.Json;
using Rbee.Contracts.Wire;
using Rbee.Keeper.Cli;
using Rbee.Keeper.Connection;
using Spectre.Console;

namespace Rbee.Keeper.Status;

/// <summary>
/// <c>rbee status --watch</c>: the hive table redrawn whenever the queen's aggregate stream says something changed (a
/// frame, a hive's state, a worker), never on a timer of its own, so a hive going degraded shows as soon as the queen
/// decides it. Each change re-reads <c>/v1/cluster</c> (the one view with the queen's fields); changes that arrive while
/// a read runs are folded into the next one. Without a terminal every new view is printed (<c>--json</c>: one line
/// each). Ctrl-C ends it (exit 0).
/// </summary>
public sealed class StatusWatch(KeeperIo io)
{
    public async Task<int> RunAsync(Uri queenUrl, bool json, CancellationToken ct)
    {
        using var queen = QueenClient.Create(queenUrl);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        try
        {
            // The stream is open before the first read, so no change falls between them.
            using var stream = await queen.OpenStreamAsync("/v1/heartbeats/stream", stop.Token);
            var dirty = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });
            var pump = Task.Run(async () =>
            {
                try
                {
                    while (await stream.Reader.NextAsync(stop.Token) is { } e)
                        if (e.Event is not (StreamEvents.Summary or StreamEvents.Request)) dirty.Writer.TryWrite(true);
                }
                catch (Exception e) when (e is OperationCanceledException or HttpRequestException or IOException)
                {
                    // The stream ended; the loop below says so.
                }
                finally
                {
                    dirty.Writer.TryComplete();
                }
            });

            var view = await queen.ClusterAsync(stop.Token);
            if (io.Out.Profile.Capabilities.Interactive && !json)
            {
                await io.Out.Live(StatusCommand.Render(view)).StartAsync(async ctx =>
                {
                    while (await dirty.Reader.WaitToReadAsync(stop.Token))
                    {
                        dirty.Reader.TryRead(out _);
                        ctx.UpdateTarget(StatusCommand.Render(await queen.ClusterAsync(stop.Token)));
                        ctx.Refresh();
                    }
                });
            }
            else
            {
                Print(view, json);
                while (await dirty.Reader.WaitToReadAsync(stop.Token))
                {
                    dirty.Reader.TryRead(out _);
                    Print(await queen.ClusterAsync(stop.Token), json);
                }
            }
            await pump;
            throw new CliFailure($"the queen at {CliFailure.Display(queenUrl)} closed its stream: it may have stopped (`rbee up` starts it)");
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            return ExitCodes.Ok;
        }
        finally
        {
            stop.Cancel();
        }
    }

    private void Print(ClusterView view, bool json)
    {
        if (json) io.Output.WriteLine(JsonSerializer.Serialize(view, RbeeJsonContext.Default.ClusterView));
        else
        {
            io.Out.Write(StatusCommand.Render(view));
            io.Output.WriteLine();
        }
        io.Output.Flush();
    }
}
