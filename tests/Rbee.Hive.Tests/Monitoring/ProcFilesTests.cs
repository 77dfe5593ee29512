using Rbee.Hive.Monitoring;

namespace Rbee.Hive.Tests.Monitoring;

public class ProcFilesTests
{
    [Fact]
    public void Mountinfo_FindsTheCgroup2MountPoint_WhateverTheOptionalFields()
    {
        const string text =
            "25 30 0:23 / /sys rw,nosuid shared:7 - sysfs sysfs rw\n" +
            "31 25 0:26 / /sys/fs/cgroup ro,nosuid shared:9 - tmpfs tmpfs ro,mode=755\n" +
            "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime shared:10 master:3 - cgroup2 cgroup2 rw\n";
        Assert.Equal("/sys/fs/cgroup/unified", Cgroup2Mount.Parse(text));
        Assert.Null(Cgroup2Mount.Parse("25 30 0:23 / /sys rw - sysfs sysfs rw\n"));
        Assert.Equal("/my cg", Cgroup2Mount.Parse("41 31 0:38 / /my\\040cg rw - cgroup2 cgroup2 rw"));
    }

    [Fact]
    public void Mountinfo_ReadOnlyCgroup2_IsNotFound()
    {
        Assert.Null(Cgroup2Mount.Parse("41 31 0:38 / /sys/fs/cgroup ro,relatime - cgroup2 cgroup2 rw\n"));
        Assert.Equal("/sys/fs/cgroup/unified", Cgroup2Mount.Parse(
            "40 31 0:37 / /sys/fs/cgroup ro,relatime - cgroup2 cgroup2 rw\n41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n"));
    }

    [Fact]
    public void OwnCgroup_IsTheUnifiedLine()
    {
        Assert.Equal("/user.slice/user-1000.slice/user@1000.service/app.slice",
            Cgroup2Mount.OwnCgroup("1:name=systemd:/x\n0::/user.slice/user-1000.slice/user@1000.service/app.slice\n"));
    }

    [Theory]
    [InlineData("llm/8080", "llm", 8080)]
    [InlineData("/vllm/8000/", "vllm", 8000)]
    [InlineData("comfy-ui_2/8188", "comfy-ui_2", 8188)]
    public void WorkerCgroupPath_GivesTypeAndPort(string path, string type, int port)
    {
        var name = WorkerCgroupName.Parse(path);
        Assert.Equal(new WorkerCgroupName(type, port), name);
    }

    [Theory]
    [InlineData("llm")]
    [InlineData("llm/abc")]
    [InlineData("llm/08080")]
    [InlineData("llm/70000")]
    [InlineData("LLM/8080")]
    [InlineData("llm/8080/extra")]
    public void OtherPaths_AreNotWorkers(string path) => Assert.Null(WorkerCgroupName.Parse(path));

    [Fact]
    public void CpuStat_UsageUsec()
    {
        Assert.Equal(123456L, ProcFiles.CpuUsageUsec("usage_usec 123456\nuser_usec 100000\nsystem_usec 23456\nnr_periods 0\n"));
        Assert.Null(ProcFiles.CpuUsageUsec("user_usec 1\n"));
    }

    [Fact]
    public void IoStat_SumsDevices_AndNullWhenEmpty()
    {
        Assert.Equal((300L, 40L), ProcFiles.IoStat("8:0 rbytes=100 wbytes=30 rios=1 wios=2 dbytes=0 dios=0\n8:16 rbytes=200 wbytes=10 rios=1 wios=1\n"));
        Assert.Null(ProcFiles.IoStat(""));
    }

    [Fact]
    public void ProcIo_ReadAndWriteBytes()
    {
        const string text = "rchar: 999\nwchar: 888\nsyscr: 1\nsyscw: 2\nread_bytes: 4096\nwrite_bytes: 8192\ncancelled_write_bytes: 0\n";
        Assert.Equal((4096L, 8192L), ProcFiles.ProcIo(text));
    }

    [Fact]
    public void Status_VmRssInBytes_NullForKernelThreads()
    {
        Assert.Equal(812L * 1024, ProcFiles.VmRssBytes("Name:\tx\nVmPeak:\t 9000 kB\nVmRSS:\t     812 kB\n"));
        Assert.Null(ProcFiles.VmRssBytes("Name:\tkthreadd\nState:\tS\n"));
    }

    [Fact]
    public void Statm_ResidentPagesInBytes_NullWithoutMemory()
    {
        Assert.Equal(203L * 4096, ProcFiles.StatmRssBytes("2255 203 150 1 0 180 0\n"u8, 4096));
        Assert.Null(ProcFiles.StatmRssBytes("0 0 0 0 0 0 0\n"u8, 4096)); // kernel thread or zombie: status has no VmRSS
        Assert.Null(ProcFiles.StatmRssBytes(""u8, 4096));
    }

    [Fact]
    public void Statm_MatchesVmRssOfTheSameProcess()
    {
        // A sleeping process holds its resident set still; reading the test host itself raced with its own GC and the
        // tests running beside this one.
        using var sleeper = System.Diagnostics.Process.Start("sleep", "30");
        try
        {
            var dir = $"/proc/{sleeper.Id}";
            // Process.Start returns before the child has exec'd: wait until it is sleep, asleep.
            var until = DateTime.UtcNow + TimeSpan.FromSeconds(10);
            while (!(File.ReadAllText($"{dir}/comm").Trim() == "sleep" && File.ReadAllText($"{dir}/stat").Split(") ")[1].StartsWith('S')))
            {
                Assert.True(DateTime.UtcNow < until, $"pid {sleeper.Id} never became a sleeping 'sleep'");
                Thread.Sleep(10);
            }
            var statm = ProcFiles.StatmRssBytes(File.ReadAllBytes($"{dir}/statm"), Environment.SystemPageSize);
            var status = ProcFiles.VmRssBytes(File.ReadAllText($"{dir}/status"));
            Assert.NotNull(status);
            Assert.Equal(status, statm);
        }
        finally
        {
            sleeper.Kill();
        }
    }

    [Fact]
    public void Stat_ParsesPastACommandNameWithSpacesAndParens()
    {
        const string stat = "4242 (my (odd) worker) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 3 0 987654 1000000 200 18446744073709551615";
        var s = ProcFiles.Stat(stat);
        Assert.Equal((1, 300L, 987654L), s);
        // The byte form the scan uses also gives the process group (the fallback without cgroups).
        Assert.Equal((1, 4242, 300L, 987654L), ProcFiles.Stat(System.Text.Encoding.ASCII.GetBytes(stat)));
        Assert.Equal(300L, ProcFiles.StatCpuTicks(System.Text.Encoding.ASCII.GetBytes(stat)));
        Assert.Null(ProcFiles.Stat("4242 (cut) S 1 4242"u8));
    }

    [Fact]
    public void Events_Populated()
    {
        Assert.True(ProcFiles.Populated("populated 1\nfrozen 0\n"));
        Assert.False(ProcFiles.Populated("populated 0\nfrozen 0\n"));
    }

    [Fact]
    public void Cmdline_And_Flags()
    {
        var args = ProcFiles.Cmdline("/opt/llm-worker-rbee\0--model\0/m/tiny.gguf\0--port\08080\0--worker-id=llm-8080\0");
        Assert.Equal("/m/tiny.gguf", ProcFiles.Flag(args, "--model", "-m"));
        Assert.Equal("llm-8080", ProcFiles.Flag(args, "--worker-id"));
        Assert.Null(ProcFiles.Flag(args, "--device"));
        Assert.Equal("cuda:1", ProcFiles.Environ("A=1\0RBEE_WORKER_DEVICE=cuda:1\0RBEE_WORKER=x\0", "RBEE_WORKER_DEVICE"));
    }

    [Theory]
    [InlineData("llm-worker-rbee\0--model\0/m/tiny.gguf\0--model-id\0chat\0", "", "/m/tiny.gguf", "chat", null)]
    [InlineData("llama-server\0-m\0/m/tiny.gguf\0--alias\0chat\0--port\08080\0", "RBEE_WORKER_STARTED_BY=queen\0", "/m/tiny.gguf", "chat", "queen")]
    [InlineData("vllm\0serve\0/m/tiny.gguf\0--served-model-name=chat\0", "RBEE_WORKER_MODEL=/m/tiny.gguf\0", "/m/tiny.gguf", "chat", null)]
    [InlineData("engine\0/m/tiny.gguf\0", "RBEE_WORKER_MODEL=/m/tiny.gguf\0RBEE_WORKER_MODEL_ID=chat\0", "/m/tiny.gguf", "chat", null)]
    [InlineData("llm-worker-rbee\0--model\0/m/tiny.gguf\0--model-idle\0x\0", "", "/m/tiny.gguf", "tiny", null)]
    [InlineData("comfyui\0--port\08188\0", "", null, null, null)]
    public void AWorkersModelIdAndOrigin_AreReadBackFromItsCommandLineOrEnvironment(string cmdline, string environ, string? model, string? id, string? startedBy) =>
        Assert.Equal((model, id, startedBy), AdoptedWorker.ModelOf(ProcFiles.Cmdline(cmdline), environ));
}
