namespace Rbee.Models.Downloads;

/// <summary>
/// Reports a download's progress every interval from a timer of its own, so a stalled transfer still reports, and once
/// more when stopped, so the end of every download is reported. The rate is over the last five seconds of samples; a
/// restart (bytes went down) begins a new measurement.
/// </summary>
internal sealed class ProgressReporter : IDisposable
{
    private static readonly TimeSpan Window = TimeSpan.FromSeconds(5);
    private readonly Func<long> _bytes;
    private readonly Func<long?> _total;
    private readonly IDownloadObserver _observer;
    private readonly TimeProvider _time;
    private readonly ITimer _timer;
    private readonly Queue<(long Timestamp, long Bytes)> _samples = new();
    private readonly object _gate = new();
    private bool _stopped;

    public ProgressReporter(Func<long> bytes, Func<long?> total, IDownloadObserver observer, TimeSpan interval, TimeProvider time)
    {
        _bytes = bytes;
        _total = total;
        _observer = observer;
        _time = time;
        _timer = time.CreateTimer(_ => Report(), null, interval, interval);
    }

    private void Report()
    {
        lock (_gate)
        {
            if (_stopped) return;
            ReportLocked();
        }
    }

    private void ReportLocked()
    {
        var now = _time.GetTimestamp();
        var bytes = _bytes();
        if (_samples.Count > 0 && _samples.Last().Bytes > bytes) _samples.Clear();
        _samples.Enqueue((now, bytes));
        while (_samples.Count > 2 && _time.GetElapsedTime(_samples.Peek().Timestamp, now) > Window) _samples.Dequeue();
        double? rate = null;
        var first = _samples.Peek();
        var span = _time.GetElapsedTime(first.Timestamp, now).TotalSeconds;
        if (_samples.Count >= 2 && span > 0) rate = (bytes - first.Bytes) / span;
        var total = _total();
        double? eta = total is { } t && rate is > 0 ? Math.Max(0, (t - bytes) / rate.Value) : null;
        _observer.Progress(new DownloadProgress(bytes, total, rate, eta));
    }

    /// <summary>Stops the timer and reports once more.</summary>
    public async Task StopAsync()
    {
        await _timer.DisposeAsync().ConfigureAwait(false);
        lock (_gate)
        {
            if (_stopped) return;
            _stopped = true;
            ReportLocked();
        }
    }

    public void Dispose()
    {
        lock (_gate) _stopped = true;
        _timer.Dispose();
    }
}
