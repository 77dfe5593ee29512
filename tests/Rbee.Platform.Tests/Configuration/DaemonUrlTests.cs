using Rbee.Platform.Configuration;

namespace Rbee.Platform.Tests.Configuration;

public sealed class DaemonUrlTests
{
    [Theory]
    [InlineData("http://10.0.0.2:7833", true)]
    [InlineData("https://queen.lan", true)]
    [InlineData("http://[::1]:7835/", true)]
    [InlineData("ftp://10.0.0.2", false)]
    [InlineData("10.0.0.2:7833", false)]
    [InlineData("/v1/hive/ready", false)]
    [InlineData("http://user:secret@10.0.0.2:7833", false)]
    [InlineData("", false)]
    [InlineData(null, false)]
    public void OnlyAbsoluteHttpUrlsWithAHostAndNoCredentials(string? value, bool valid) =>
        Assert.Equal(valid, DaemonUrl.IsValid(value));
}
