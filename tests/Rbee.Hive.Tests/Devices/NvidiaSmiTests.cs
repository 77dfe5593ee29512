using Rbee.Hive.Devices;

namespace Rbee.Hive.Tests.Devices;

[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class NvidiaSmiTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("rbee-smi-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Parse_ReadsEveryGpu_MiBToBytes_NAIsNull()
    {
        var gpus = NvidiaSmi.Parse("""
            0, NVIDIA GeForce RTX 3090, 24576, 1024, 37, 55
            1, NVIDIA A100-SXM4-80GB, 81920, [N/A], [N/A], 41
            """);
        Assert.Equal(2, gpus.Count);
        Assert.Equal(new NvidiaGpu(0, "NVIDIA GeForce RTX 3090", 24576L << 20, 1024L << 20, 37, 55), gpus[0]);
        Assert.Equal("cuda:1", gpus[1].Id);
        Assert.Null(gpus[1].VramUsedBytes);
        Assert.Null(gpus[1].UtilPct);
        Assert.Equal(41, gpus[1].TempC);
    }

    [Fact]
    public async Task Absent_MeansNoGpus()
    {
        var smi = new NvidiaSmi(programPath: null);
        if (smi.Present) return; // a machine with a GPU: covered by the real run below
        Assert.Empty((await smi.QueryAsync(CancellationToken.None))!);
    }

    [Fact]
    public async Task RealProgram_OutputIsParsed_ItsArgumentsAreTheQuery()
    {
        // A stand-in nvidia-smi that prints what the real one prints for this query, after checking it was asked it.
        var script = Path.Combine(_dir, "nvidia-smi");
        File.WriteAllText(script, $"""
            #!/bin/sh
            [ "$1" = "--query-gpu={NvidiaSmi.Query}" ] && [ "$2" = "--format=csv,noheader,nounits" ] || exit 3
            echo "0, Test GPU, 8192, 512, 12, 40"
            """);
        File.SetUnixFileMode(script, UnixFileMode.UserRead | UnixFileMode.UserExecute | UnixFileMode.UserWrite);
        var gpus = await new NvidiaSmi(script).QueryAsync(CancellationToken.None);
        var gpu = Assert.Single(gpus!);
        Assert.Equal(8192L << 20, gpu.VramTotalBytes);
    }

    [Fact]
    public async Task FailingProgram_IsUnknownNotZero()
    {
        var script = Path.Combine(_dir, "nvidia-smi");
        File.WriteAllText(script, "#!/bin/sh\necho 'NVIDIA-SMI has failed' >&2\nexit 9\n");
        File.SetUnixFileMode(script, UnixFileMode.UserRead | UnixFileMode.UserExecute | UnixFileMode.UserWrite);
        Assert.Null(await new NvidiaSmi(script).QueryAsync(CancellationToken.None));
    }
}
