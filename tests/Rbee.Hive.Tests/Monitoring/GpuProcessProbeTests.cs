using Rbee.Hive.Devices;
using Rbee.Hive.Monitoring;

namespace Rbee.Hive.Tests.Monitoring;

[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class GpuProcessProbeTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("rbee-gpu-probe-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private NvidiaSmi StandIn(string body)
    {
        var script = Path.Combine(_dir, "nvidia-smi");
        File.WriteAllText(script, "#!/bin/sh\n" + body + "\n");
        File.SetUnixFileMode(script, UnixFileMode.UserRead | UnixFileMode.UserExecute | UnixFileMode.UserWrite);
        return new NvidiaSmi(script);
    }

    [Fact]
    public async Task VramPerPid_IsSummedOverGpus_AndTotalIsEveryGpu()
    {
        var smi = StandIn("""
            case "$1" in
              --query-gpu=memory.total) printf '24576\n8192\n' ;;
              --query-compute-apps=pid,used_memory) printf '4242, 1000\n4242, 24\n77, 512\n' ;;
              *) exit 3 ;;
            esac
            """);
        var probe = new GpuProcessProbe(smi);
        var vram = await probe.SampleAsync(CancellationToken.None);
        Assert.Equal(1024, vram![4242]);
        Assert.Equal(512, vram[77]);
        Assert.Equal(24576 + 8192, probe.TotalVramMb);
    }

    [Fact]
    public async Task HungNvidiaSmi_IsKilled_AndTheSampleIsUnknown()
    {
        // A wedged driver makes nvidia-smi hang; the monitor's GPU sampler awaits this sample, so it must not hang with it.
        var probe = new GpuProcessProbe(StandIn("exec sleep 600"));
        var vram = await probe.SampleAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(60));
        Assert.Null(vram);
        Assert.Null(probe.TotalVramMb);
    }
}
