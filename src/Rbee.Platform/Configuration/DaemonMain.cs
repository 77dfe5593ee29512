using System.Net.Sockets;

namespace Rbee.Platform.Configuration;

/// <summary>
/// The outer frame of a daemon's Main: <c>--help</c>, and start-up failures as one clear line instead of a stack
/// trace (configuration problems exit 2, a port that cannot be bound exits 1).
/// </summary>
public static class DaemonMain
{
    public static Task<int> RunAsync(DaemonSpec spec, string[] args, Func<string[], Task> run) =>
        RunAsync(spec, args, async a =>
        {
            await run(a).ConfigureAwait(false);
            return 0;
        });

    /// <summary>As above, for a program whose run decides its own exit code (the worker: 1 when its model cannot load).</summary>
    public static async Task<int> RunAsync(DaemonSpec spec, string[] args, Func<string[], Task<int>> run)
    {
        if (args.Contains("--help") || args.Contains("-h"))
        {
            Console.Out.WriteLine(DaemonConfiguration.Help(spec));
            return 0;
        }
        try
        {
            return await run(args).ConfigureAwait(false);
        }
        catch (StartupException e)
        {
            await Console.Error.WriteLineAsync($"{spec.ProgramName}: {e.Message}");
            return 2;
        }
        catch (IOException e) when (e.InnerException is SocketException { SocketErrorCode: SocketError.AddressAlreadyInUse } || e.Message.Contains("address already in use", StringComparison.OrdinalIgnoreCase))
        {
            await Console.Error.WriteLineAsync($"{spec.ProgramName}: cannot listen: {e.Message}");
            return 1;
        }
    }
}
