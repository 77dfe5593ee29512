namespace Rbee.Hive.Tests;

public class HiveOptionsTests
{
    [Fact]
    public void Defaults_AreTheProtocols()
    {
        var o = new HiveOptions();
        Assert.Null(o.Validate());
        Assert.Equal(7835, o.Port);
        Assert.Equal("http://localhost:7833", o.QueenUrl);
        Assert.Equal("rbee.slice", o.CgroupRoot);
        Assert.Equal(Environment.MachineName, o.HiveId);
        Assert.True(o.StopWorkersOnExit);
    }

    [Fact]
    public void PathDefaults_AreThePlatforms_OneRunDirectoryForEveryOptionsClass()
    {
        var o = new HiveOptions { HiveId = "gpu-box" };
        Assert.Equal(Rbee.Platform.Paths.RbeePaths.DefaultRunDirectory, o.ResolvedRunDir);
        Assert.Equal(Rbee.Platform.Paths.RbeePaths.DefaultRunDirectory, new Rbee.Hive.Workers.WorkerOptions().RunDirectory);
        Assert.Equal(Rbee.Platform.Paths.RbeePaths.HiveStateDirectory("gpu-box"), o.ResolvedStateDir);
        Assert.Equal(Rbee.Platform.Paths.RbeePaths.ExpandHome("~/.cache/rbee/models"), o.ResolvedModelsDir);
    }

    [Theory]
    [InlineData("HiveId", "bad id!")]
    [InlineData("HiveId", "")]
    [InlineData("Port", "0")]
    [InlineData("Port", "70000")]
    [InlineData("BindAddress", "not-an-ip")]
    [InlineData("AdvertiseUrl", "10.0.0.5:7835")]
    [InlineData("QueenUrl", "ftp://queen:7833")]
    [InlineData("QueenUrl", "http://user:pw@queen:7833")]
    [InlineData("CgroupRoot", "../escape")]
    [InlineData("CgroupRoot", "a/b")]
    public void InvalidSetting_IsNamedInTheProblem(string setting, string value)
    {
        var o = new HiveOptions();
        var property = typeof(HiveOptions).GetProperty(setting)!;
        property.SetValue(o, property.PropertyType == typeof(int) ? int.Parse(value) : value);
        var problem = o.Validate();
        Assert.NotNull(problem);
        Assert.Contains($"Hive:{setting}", problem);
    }
}
