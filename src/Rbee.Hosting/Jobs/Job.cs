using System.Text.Json.Serialization.Metadata;
using System.Text.Json;
using Rbee.Contracts.Wire;

namespace Rbee.Hosting.Jobs;

/// <summary>What one line of a job stream is (DESIGN.md "Wire contract", jobs).</summary>
public enum JobEventKind
{
    /// <summary>A human-readable line: <c>data: &lt;line&gt;</c>.</summary>
    Narration,

    /// <summary>A structured event: <c>event: data</c> with a JSON <c>data:</c>.</summary>
    Data,

    /// <summary><c>data: [DONE]</c>.</summary>
    Done,

    /// <summary><c>data: [ERROR] &lt;message&gt;</c>.</summary>
    Error,

    /// <summary><c>data: [CANCELLED]</c>.</summary>
    Cancelled,
}

public sealed record JobEvent(JobEventKind Kind, string Text)
{
    public bool IsTerminal => Kind is JobEventKind.Done or JobEventKind.Error or JobEventKind.Cancelled;
}

/// <summary>
/// One job: an append-only log of events that every subscriber reads from the first, however late it comes, and
/// that ends with exactly one terminal event. Writers are the job's own work; readers take no lock while they
/// wait (they await a completion source swapped on every append).
/// </summary>
public sealed class Job
{
    private readonly object _gate = new();
    private readonly List<JobEvent> _events = [];
    private readonly CancellationTokenSource _cancel = new();
    private TaskCompletionSource _appended = new(TaskCreationOptions.RunContinuationsAsynchronously);

    internal Job(string id, string operation, DateTimeOffset createdAt)
    {
        Id = id;
        Operation = operation;
        CreatedAt = createdAt;
    }

    public string Id { get; }
    public string Operation { get; }
    public DateTimeOffset CreatedAt { get; }
    public DateTimeOffset? FinishedAt { get; private set; }

    /// <summary>Cancelled by <c>DELETE /v1/jobs/{id}</c>; the work observes it.</summary>
    public CancellationToken CancellationToken => _cancel.Token;

    public bool IsFinished
    {
        get { lock (_gate) return FinishedAt is not null; }
    }

    /// <summary>The terminal event once the job ended, else null.</summary>
    public JobEvent? Terminal
    {
        get { lock (_gate) return FinishedAt is null ? null : _events[^1]; }
    }

    /// <summary>A copy of the events so far.</summary>
    public IReadOnlyList<JobEvent> Snapshot()
    {
        lock (_gate) return _events.ToArray();
    }

    /// <summary>Adds narration; a multi-line text becomes one event per line (an SSE data line cannot hold a newline).</summary>
    public void Narrate(string text)
    {
        foreach (var line in text.Replace("\r", "", StringComparison.Ordinal).Split('\n'))
            Append(new JobEvent(JobEventKind.Narration, line));
    }

    /// <summary>Adds a structured event whose JSON is <paramref name="json"/> (one line).</summary>
    public void Data(string json) => Append(new JobEvent(JobEventKind.Data, json));

    public void Data<T>(T value, JsonTypeInfo<T> typeInfo) => Data(JsonSerializer.Serialize(value, typeInfo));

    /// <summary>Adds a structured event named by its type (<see cref="JobDataEvent"/>: <c>{"event":"…",…}</c>).</summary>
    public void Data(JobDataEvent e) => Data(JobEvents.ToJson(e));

    internal void Cancel()
    {
        try { _cancel.Cancel(); }
        catch (ObjectDisposedException) { }
    }

    /// <summary>Ends the job with <paramref name="terminal"/>; false when it had already ended (exactly one terminal line).</summary>
    internal bool TryFinish(JobEvent terminal, DateTimeOffset now)
    {
        TaskCompletionSource wake;
        lock (_gate)
        {
            if (FinishedAt is not null) return false;
            _events.Add(terminal);
            FinishedAt = now;
            wake = _appended;
        }
        wake.TrySetResult();
        return true;
    }

    private void Append(JobEvent e)
    {
        TaskCompletionSource wake;
        lock (_gate)
        {
            // After the terminal line nothing more is said: late narration of a cancelled job is dropped.
            if (FinishedAt is not null) return;
            _events.Add(e);
            wake = _appended;
            _appended = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }
        wake.TrySetResult();
    }

    /// <summary>Every event from the first, then each new one as it comes, ending after the terminal event.</summary>
    public async IAsyncEnumerable<JobEvent> ReadAllAsync([System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct = default)
    {
        var next = 0;
        while (true)
        {
            JobEvent[] batch;
            Task wait;
            lock (_gate)
            {
                batch = _events.Count > next ? _events.GetRange(next, _events.Count - next).ToArray() : [];
                next = _events.Count;
                wait = _appended.Task;
            }
            foreach (var e in batch)
            {
                yield return e;
                if (e.IsTerminal) yield break;
            }
            await wait.WaitAsync(ct).ConfigureAwait(false);
        }
    }
}
