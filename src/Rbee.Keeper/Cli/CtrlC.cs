namespace Rbee.Keeper.Cli;

/// <summary>
/// What Ctrl-C does. By default the first one cancels the running command (which cancels its job on the daemon and
/// exits); the interactive chat takes it over so that Ctrl-C stops the current answer only.
/// </summary>
public static class CtrlC
{
    private static Action? _override;

    /// <summary>Cancels <paramref name="command"/> on Ctrl-C unless a handler of <see cref="Override"/> is in place.</summary>
    public static void Install(CancellationTokenSource command) =>
        Console.CancelKeyPress += (_, e) =>
        {
            if (Volatile.Read(ref _override) is { } handler)
            {
                e.Cancel = true;
                handler();
                return;
            }
            // The first Ctrl-C cancels gracefully; a second one, while that is under way, ends the process at once.
            e.Cancel = !command.IsCancellationRequested;
            command.Cancel();
        };

    /// <summary>Routes Ctrl-C to <paramref name="handler"/> until the result is disposed.</summary>
    public static IDisposable Override(Action handler)
    {
        Volatile.Write(ref _override, handler);
        return new Restore();
    }

    private sealed class Restore : IDisposable
    {
        public void Dispose() => Volatile.Write(ref _override, null);
    }
}
