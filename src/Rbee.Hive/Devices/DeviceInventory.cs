using Rbee.Contracts.Wire;

namespace Rbee.Hive.Devices;

/// <summary>
/// The devices a worker can run on (DESIGN.md "Wire contract", capabilities): the CPU always (cores, RAM), then
/// every NVIDIA GPU nvidia-smi lists. Probed once: devices do not come and go while a hive runs.
/// </summary>
public sealed class DeviceInventory(NvidiaSmi nvidiaSmi)
{
    private Task<IReadOnlyList<DeviceInfo>>? _devices;
    private readonly object _gate = new();

    public Task<IReadOnlyList<DeviceInfo>> GetAsync(CancellationToken ct)
    {
        lock (_gate) return _devices ??= ProbeAsync();
    }

    private async Task<IReadOnlyList<DeviceInfo>> ProbeAsync()
    {
        var devices = new List<DeviceInfo> { Cpu() };
        var gpus = await nvidiaSmi.QueryAsync(CancellationToken.None);
        if (gpus is null)
        {
            // nvidia-smi exists but failed: probe again on the next request rather than caching "no GPUs".
            lock (_gate) _devices = null;
        }
        else
        {
            devices.AddRange(gpus.Select(g => new DeviceInfo(g.Id, "cuda", g.Name, VramTotalBytes: g.VramTotalBytes)));
        }
        return devices;
    }

    public static DeviceInfo Cpu()
    {
        var (name, processors) = NodeProcFiles.ParseCpuInfo(Monitoring.ProcFiles.TryRead("/proc/cpuinfo") ?? "");
        var (ramTotal, _) = NodeProcFiles.ParseMemInfo(Monitoring.ProcFiles.TryRead("/proc/meminfo") ?? "");
        return new DeviceInfo("cpu", "cpu", name ?? "cpu", processors > 0 ? processors : Environment.ProcessorCount, ramTotal);
    }
}
