using System.Globalization;

namespace Rbee.Queen.Scheduling;

/// <summary>A device of a hive where a worker for the model could be started, with the memory free on it now.</summary>
/// <param name="FreeBytes">RAM (cpu) or VRAM (cuda:N) free per the hive's last frame, less what spawns in flight there
/// will take; null when the hive cannot measure it.</param>
/// <param name="RequiredBytes">The memory estimate of the model's worker on this hive (its file, its metadata).</param>
public sealed record DeviceCandidate(string HiveId, string Device, string WorkerType, long? FreeBytes, long RequiredBytes)
{
    public bool Fits => FreeBytes is { } free && free >= RequiredBytes;
}

/// <summary>Chooses where to start a worker for a model (STYLE.md §2).</summary>
public interface IPlacementPolicy
{
    string Name { get; }

    /// <summary>The chosen device, or null when none fits.</summary>
    DeviceCandidate? Place(IReadOnlyList<DeviceCandidate> devices);
}

/// <summary>
/// DESIGN.md "Scheduling and routing": the device with the most free memory that fits the estimate, so the next model
/// still finds room elsewhere. A device whose free memory the hive cannot measure is used only when no measured device
/// fits: it might, and refusing would make such a hive useless.
/// </summary>
public sealed class MostFreeMemoryPlacement : IPlacementPolicy
{
    public string Name => "most_free_memory";

    public DeviceCandidate? Place(IReadOnlyList<DeviceCandidate> devices)
    {
        DeviceCandidate? best = null;
        DeviceCandidate? unmeasured = null;
        foreach (var d in devices)
        {
            if (d.FreeBytes is null) { unmeasured ??= d; continue; }
            if (d.Fits && (best is null || d.FreeBytes > best.FreeBytes)) best = d;
        }
        return best ?? unmeasured;
    }

    /// <summary>The 503 message when nothing fits: what was needed and the best that was free.</summary>
    public static string NothingFits(string model, IReadOnlyList<DeviceCandidate> devices)
    {
        var largest = devices.Where(d => d.FreeBytes is not null).MaxBy(d => d.FreeBytes);
        return largest is null
            ? $"no hive has a device that can start a worker for model '{model}'"
            : $"model '{model}' needs {Gib(largest.RequiredBytes)}; largest free {Gib(largest.FreeBytes!.Value)} on {largest.HiveId} {largest.Device}";
    }

    /// <summary>Bytes as GiB with one decimal (MiB below one GiB, so a tiny model does not read "0.0 GiB").</summary>
    public static string Gib(long bytes) => bytes >= 1L << 30
        ? (bytes / (double)(1L << 30)).ToString("0.0", CultureInfo.InvariantCulture) + " GiB"
        : (bytes / (double)(1L << 20)).ToString("0.0", CultureInfo.InvariantCulture) + " MiB";
}
