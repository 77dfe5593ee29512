namespace Rbee.Hive.Telemetry;

/// <summary>
/// Counts the open telemetry subscriptions (the queen's, and any keeper watching the hive directly). The ready
/// sequence waits on <see cref="WaitForOpenAsync"/> after a successful ready and restarts on <see cref="LastClosed"/>
/// (DESIGN.md "Discovery and telemetry" 5).
/// </summary>
public sealed class StreamSubscriptions
{
    private readonly object _gate = new();
    private int _open;
    private TaskCompletionSource _nextOpen = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public int OpenCount
    {
        get { lock (_gate) return _open; }
    }

    /// <summary>Raised (outside the lock) when the last open subscription closed.</summary>
    public event Action? LastClosed;

    public void Opened()
    {
        TaskCompletionSource opened;
        lock (_gate)
        {
            _open++;
            opened = _nextOpen;
            _nextOpen = new(TaskCreationOptions.RunContinuationsAsynchronously);
        }
        opened.TrySetResult();
    }

    public void Closed()
    {
        bool last;
        lock (_gate)
        {
            _open = Math.Max(0, _open - 1);
            last = _open == 0;
        }
        if (last) LastClosed?.Invoke();
    }

    /// <summary>Completes when a subscription is open (at once if one already is).</summary>
    public Task WaitForOpenAsync(CancellationToken ct)
    {
        lock (_gate) return _open > 0 ? Task.CompletedTask : _nextOpen.Task.WaitAsync(ct);
    }
}
