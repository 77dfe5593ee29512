using Rbee.Contracts.Wire;
using Rbee.Hive.Capabilities;

namespace Rbee.Hive.Tests.Capabilities;

public sealed class CgroupV2ProbeTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("rbee-mountinfo-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void FindsTheCgroup2Mount_WhereverItIs()
    {
        const string mountinfo = """
            22 1 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw
            40 31 0:37 / /sys/fs/cgroup/cpu rw,nosuid shared:15 - cgroup cgroup rw,cpu
            41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
            """;
        Assert.Equal("/sys/fs/cgroup/unified", CgroupV2Probe.FindCgroup2Mount(mountinfo));
    }

    [Fact]
    public void ReadOnlyOrMissingCgroup2_IsNotFound()
    {
        Assert.Null(CgroupV2Probe.FindCgroup2Mount("41 31 0:38 / /sys/fs/cgroup ro,relatime - cgroup2 cgroup2 rw\n"));
        Assert.Null(CgroupV2Probe.FindCgroup2Mount("22 1 0:21 / /proc rw - proc proc rw\n"));
    }

    [Fact]
    public void NoCgroup2_FallsBackToProcessGroups_WithTheReason()
    {
        var path = Path.Combine(_dir, "mountinfo");
        File.WriteAllText(path, "22 1 0:21 / /proc rw - proc proc rw\n");
        var info = new CgroupV2Probe(new HiveOptions(), path).Describe();
        Assert.Equal(MonitoringInfo.ProcessGroups, info.Mode);
        Assert.Contains("cgroup2", info.Reason);
    }

    [Fact]
    public void WritableMount_IsCgroupV2WithTheHivesRoot()
    {
        // A temp directory stands in for the mount: writable by this user, like a delegated cgroup tree.
        var path = Path.Combine(_dir, "mountinfo");
        File.WriteAllText(path, $"41 31 0:38 / {_dir} rw,relatime - cgroup2 cgroup2 rw\n");
        var info = new CgroupV2Probe(new HiveOptions { CgroupRoot = "rbee-test.slice" }, path).Describe();
        Assert.Equal(MonitoringInfo.CgroupV2, info.Mode);
        Assert.Equal(Path.Combine(_dir, "rbee-test.slice"), info.Root);
    }
}
