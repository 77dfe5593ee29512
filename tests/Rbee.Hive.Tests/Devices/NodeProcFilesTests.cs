using Rbee.Hive.Devices;

namespace Rbee.Hive.Tests.Devices;

public class NodeProcFilesTests
{
    private const string StatBefore = """
        cpu  27063 0 5607 233619 270 0 40 32 0 0
        cpu0 12934 0 2662 117648 24 0 11 13 0 0
        intr 1234
        """;

    // 1000 ticks later: 250 user, 50 system, 690 idle, 10 iowait → 30 % busy.
    private const string StatAfter = """
        cpu  27313 0 5657 234309 280 0 40 32 0 0
        cpu0 13000 0 2700 118000 24 0 11 13 0 0
        """;

    [Fact]
    public void ParseStat_SumsTheAggregateLine_IdleIncludesIowait()
    {
        var t = NodeProcFiles.ParseStat(StatBefore)!.Value;
        Assert.Equal(27063UL + 5607 + 233619 + 270 + 40 + 32, t.Total);
        Assert.Equal(233619UL + 270, t.Idle);
    }

    [Fact]
    public void BusyPercent_IsTheNonIdleShareOfTheDelta()
    {
        var pct = CpuTimes.BusyPercent(NodeProcFiles.ParseStat(StatBefore)!.Value, NodeProcFiles.ParseStat(StatAfter)!.Value);
        Assert.Equal(30.0, pct!.Value, 6);
    }

    [Fact]
    public void BusyPercent_IsNullWhenNoTimePassed()
    {
        var t = NodeProcFiles.ParseStat(StatBefore)!.Value;
        Assert.Null(CpuTimes.BusyPercent(t, t));
    }

    [Fact]
    public void ParseStat_GuestTimeIsNotCountedTwice()
    {
        // guest (9th) and guest_nice (10th) are already inside user and nice.
        var t = NodeProcFiles.ParseStat("cpu  100 0 0 100 0 0 0 0 50 50\n")!.Value;
        Assert.Equal(200UL, t.Total);
    }

    [Theory]
    [InlineData("")]
    [InlineData("cpu0 1 2 3 4 5\n")]
    [InlineData("cpu  a b c d e\n")]
    public void ParseStat_UnreadableGivesNull(string text) => Assert.Null(NodeProcFiles.ParseStat(text));

    [Fact]
    public void ParseMemInfo_UsedIsTotalMinusAvailable()
    {
        var (total, used) = NodeProcFiles.ParseMemInfo("""
            MemTotal:       24684084 kB
            MemFree:        20000000 kB
            MemAvailable:   24334024 kB
            Buffers:          100000 kB
            Cached:          1000000 kB
            """);
        Assert.Equal(24684084L * 1024, total);
        Assert.Equal((24684084L - 24334024L) * 1024, used);
    }

    [Fact]
    public void ParseMemInfo_OldKernelWithoutMemAvailable_EstimatesFromFreeBuffersCached()
    {
        var (total, used) = NodeProcFiles.ParseMemInfo("MemTotal: 1000 kB\nMemFree: 200 kB\nBuffers: 100 kB\nCached: 300 kB\n");
        Assert.Equal(1000L * 1024, total);
        Assert.Equal(400L * 1024, used);
    }

    [Fact]
    public void ParseMemInfo_MissingFieldsGiveNullNotZero()
    {
        var (total, used) = NodeProcFiles.ParseMemInfo("SwapTotal: 0 kB\n");
        Assert.Null(total);
        Assert.Null(used);
    }

    [Fact]
    public void ParseCpuInfo_CountsProcessorsAndTakesTheModelName()
    {
        var (name, n) = NodeProcFiles.ParseCpuInfo("""
            processor	: 0
            vendor_id	: AuthenticAMD
            model name	: AMD EPYC 7B13
            processor	: 1
            model name	: AMD EPYC 7B13
            """);
        Assert.Equal("AMD EPYC 7B13", name);
        Assert.Equal(2, n);
    }

    [Fact]
    public void RealMachine_CpuDeviceHasCoresAndRam()
    {
        var cpu = DeviceInventory.Cpu();
        Assert.Equal("cpu", cpu.Id);
        Assert.True(cpu.Cores >= 1);
        Assert.True(cpu.RamTotalBytes > 0);
    }
}
