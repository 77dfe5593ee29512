using Rbee.Platform.Remote;

namespace Rbee.Platform.Tests.Remote;

/// <summary><c>rbee hive install --supervisor auto|systemd|queen</c>: which supervisor a host gets, and the line that says so.</summary>
public sealed class SupervisorsTests
{
    private static RemoteHost Host(bool booted, int? systemd = 252, bool root = false) =>
        new("linux-x64", root ? "/root" : "/home/ann", root ? "root" : "ann", root, booted, systemd, "/usr/bin:/bin", "/home/ann/.config", "/home/ann/.local/state", UnitInstalled: false);

    [Fact]
    public void Auto_IsSystemd_OnAHostBootedWithIt()
    {
        var (supervisor, line) = Supervisors.Choose(Supervisors.Auto, "gpu-box", Host(booted: true));
        Assert.Equal(Supervisors.Systemd, supervisor);
        Assert.Equal("supervisor: systemd (auto: gpu-box booted with systemd; user unit ~/.config/systemd/user/rbee-hive.service, " +
            "with lingering for ann; systemd restarts the hive when it crashes)", line);
    }

    [Fact]
    public void Auto_IsTheQueen_OnAHostNotBootedWithSystemd()
    {
        var (supervisor, line) = Supervisors.Choose(Supervisors.Auto, "gpu-box", Host(booted: false));
        Assert.Equal(Supervisors.Queen, supervisor);
        Assert.Equal("supervisor: queen (auto: gpu-box is not booted with systemd (no /run/systemd/system); the queen restarts the hive over SSH when it crashes)", line);
    }

    [Fact]
    public void Auto_IsTheQueen_WhereSystemdIsTooOldForTheUnit()
    {
        var (supervisor, line) = Supervisors.Choose(Supervisors.Auto, "old", Host(booted: true, systemd: 239));
        Assert.Equal(Supervisors.Queen, supervisor);
        Assert.Contains("old runs systemd 239, older than the 240 the hive's unit needs", line, StringComparison.Ordinal);
    }

    [Fact]
    public void Systemd_OnAHostNotBootedWithIt_IsRefused_NamingTheHostAndWhatToUse()
    {
        var (supervisor, line) = Supervisors.Choose(Supervisors.Systemd, "gpu-box", Host(booted: false, systemd: null));
        Assert.Null(supervisor);
        Assert.Equal("gpu-box is not booted with systemd (no /run/systemd/system); use --supervisor queen (the queen restarts the hive over SSH)", line);
    }

    [Fact]
    public void Systemd_AsRoot_IsASystemUnit()
    {
        var (supervisor, line) = Supervisors.Choose(Supervisors.Systemd, "gpu-box", Host(booted: true, root: true));
        Assert.Equal(Supervisors.Systemd, supervisor);
        Assert.Contains("system unit /etc/systemd/system/rbee-hive.service", line, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Queen_IsTheQueen_Anywhere(bool booted) =>
        Assert.Equal(Supervisors.Queen, Supervisors.Choose(Supervisors.Queen, "gpu-box", Host(booted)).Supervisor);
}
