using Rbee.Platform.Paths;

namespace Rbee.Platform.Tests.Paths;

public sealed class RbeePathsTests
{
    [Fact]
    public void ExpandHome_ExpandsOnlyALeadingTilde()
    {
        Assert.Equal(RbeePaths.Home, RbeePaths.ExpandHome("~"));
        Assert.Equal(Path.Combine(RbeePaths.Home, "models"), RbeePaths.ExpandHome("~/models"));
        Assert.Equal("/srv/~/x", RbeePaths.ExpandHome("/srv/~/x"));
    }

    [Fact]
    public void Defaults_AreDefinedOnce_UnderTheXdgDirectories()
    {
        Assert.Equal(Path.Combine(RbeePaths.ConfigDirectory, "hive.json"), RbeePaths.ConfigFile("hive"));
        Assert.Equal(Path.Combine(RbeePaths.ConfigDirectory, "token"), RbeePaths.TokenFile);
        Assert.Equal(Path.Combine(RbeePaths.StateDirectory, "gpu-box"), RbeePaths.HiveStateDirectory("gpu-box"));
        Assert.Equal(Path.Combine(RbeePaths.StateDirectory, "logs", "rbee-hive.log"), RbeePaths.DaemonLogFile("rbee-hive"));
        Assert.Equal(Path.Combine(RbeePaths.StateDirectory, "queen-rbee.pid"), RbeePaths.DaemonPidFile("queen-rbee"));
        Assert.Equal(Path.Combine(Path.GetTempPath(), "rbee"), RbeePaths.DefaultRunDirectory);
        Assert.EndsWith(Path.Combine("rbee"), RbeePaths.ConfigDirectory);
        Assert.EndsWith(Path.Combine("rbee"), RbeePaths.StateDirectory);
    }
}
