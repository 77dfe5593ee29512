using System.Globalization;
using Microsoft.Extensions.Options;
using Rbee.Contracts.Wire;
using Rbee.Hive.Devices;
using Rbee.Models;

namespace Rbee.Hive.Workers;

/// <summary>
/// What a spawn must pass before its process starts (issue 12 §3): a slot among <see cref="WorkerOptions.MaxConcurrentSpawns"/>
/// (loading a model is the expensive part: two hundred spawns at once must not start a hundred processes on two
/// cores; the rest wait in the order they came), and room for the model on its device: the estimate the queen places
/// with (<see cref="ModelMemoryEstimate.ForWorkerType"/>) against the device's free memory less what spawns still
/// loading have claimed. A figure that cannot be read (no header, no nvidia-smi) refuses nothing.
/// </summary>
public sealed class SpawnAdmission
{
    private readonly WorkerOptions _options;
    private readonly Func<string?> _readMemInfo;
    private readonly Func<CancellationToken, Task<IReadOnlyList<NvidiaGpu>?>> _gpus;
    private readonly Lock _lock = new();
    private readonly LinkedList<TaskCompletionSource> _waiting = [];
    private readonly Dictionary<string, long> _claimed = new(StringComparer.Ordinal);
    private int _running;

    public SpawnAdmission(IOptions<WorkerOptions> options, NvidiaSmi nvidiaSmi)
        : this(options.Value, () => Monitoring.ProcFiles.TryRead("/proc/meminfo"), nvidiaSmi.QueryAsync) { }

    internal SpawnAdmission(WorkerOptions options, Func<string?> readMemInfo, Func<CancellationToken, Task<IReadOnlyList<NvidiaGpu>?>> gpus)
    {
        _options = options;
        _readMemInfo = readMemInfo;
        _gpus = gpus;
    }

    /// <summary>Spawns holding a slot now.</summary>
    public int Running
    {
        get { lock (_lock) return _running; }
    }

    /// <summary>
    /// Waits for a slot (telling <paramref name="narrate"/> how many are ahead when it must), then checks that the model
    /// fits; the returned slot holds both until disposed (once the worker is ready, or failed).
    /// </summary>
    public async Task<IDisposable> EnterAsync(string device, ModelInfo? model, string workerType, Action<string> narrate, CancellationToken ct)
    {
        await WaitForSlotAsync(narrate, ct).ConfigureAwait(false);
        var slot = new Slot(this, device);
        try
        {
            var need = model is null ? (long?)null : ModelMemoryEstimate.ForWorkerType(model, workerType);
            if (need is { } bytes)
            {
                var (total, free) = await FreeAsync(device, ct).ConfigureAwait(false);
                long claimed;
                lock (_lock) claimed = _claimed.GetValueOrDefault(device);
                if (free is { } f && bytes > f - claimed)
                    throw new WorkerOperationException(
                        $"{model!.Id} needs about {Gib(bytes)} GiB on {device} (weights, KV cache and 10 %) and {device} has {Gib(Math.Max(0, f - claimed))} GiB free" +
                        $"{(total is { } t ? $" of {Gib(t)} GiB" : "")}{(claimed > 0 ? $", {Gib(claimed)} GiB of it claimed by spawns still loading" : "")}: stop a worker, or use a smaller quantisation");
                lock (_lock) _claimed[device] = _claimed.GetValueOrDefault(device) + bytes;
                slot.Claimed = bytes;
            }
            return slot;
        }
        catch
        {
            slot.Dispose();
            throw;
        }
    }

    private async Task WaitForSlotAsync(Action<string> narrate, CancellationToken ct)
    {
        TaskCompletionSource turn;
        LinkedListNode<TaskCompletionSource> node;
        int ahead;
        lock (_lock)
        {
            if (_running < _options.MaxConcurrentSpawns)
            {
                _running++;
                return;
            }
            turn = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            node = _waiting.AddLast(turn);
            ahead = _waiting.Count - 1 + _running;
        }
        narrate($"waiting for a spawn slot: {ahead} spawn(s) ahead (Workers:MaxConcurrentSpawns = {_options.MaxConcurrentSpawns})");
        using (ct.Register(() =>
        {
            lock (_lock)
            {
                // Still waiting: leave the queue. Already handed the slot: the caller gets it and releases it.
                if (node.List is null) return;
                _waiting.Remove(node);
            }
            turn.TrySetCanceled(ct);
        }))
        {
            await turn.Task.ConfigureAwait(false);
        }
    }

    private void Release(string device, long claimed)
    {
        TaskCompletionSource? next = null;
        lock (_lock)
        {
            if (claimed > 0 && _claimed.TryGetValue(device, out var c)) _claimed[device] = Math.Max(0, c - claimed);
            if (_waiting.First is { } first)
            {
                // The slot passes to the next in line: the running count stays.
                _waiting.RemoveFirst();
                next = first.Value;
            }
            else _running--;
        }
        next?.TrySetResult();
    }

    /// <summary>The device's total and free memory, each null when it cannot be read.</summary>
    private async Task<(long? Total, long? Free)> FreeAsync(string device, CancellationToken ct)
    {
        if (device == "cpu")
        {
            var (total, used) = NodeProcFiles.ParseMemInfo(_readMemInfo() ?? "");
            return (total, total is { } t && used is { } u ? t - u : null);
        }
        if (device.StartsWith("cuda:", StringComparison.Ordinal)
            && int.TryParse(device.AsSpan(5), NumberStyles.None, CultureInfo.InvariantCulture, out var index)
            && (await _gpus(ct).ConfigureAwait(false))?.FirstOrDefault(g => g.Index == index) is { } gpu)
            return (gpu.VramTotalBytes, gpu.VramTotalBytes is { } t && gpu.VramUsedBytes is { } u ? t - u : null);
        return (null, null);
    }

    private static string Gib(long bytes) => (bytes / (1024.0 * 1024 * 1024)).ToString("0.0", CultureInfo.InvariantCulture);

    private sealed class Slot(SpawnAdmission owner, string device) : IDisposable
    {
        private int _disposed;

        public long Claimed { get; set; }

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0) owner.Release(device, Claimed);
        }
    }
}
