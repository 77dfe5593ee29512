using Rbee.Contracts.Wire;
using Rbee.Queen.Cluster;

namespace Rbee.Queen.Tests.Cluster;

public sealed class HiveReadyValidationTests
{
    [Theory]
    [InlineData("", "http://h:7835", "i", "hive_id")]
    [InlineData("a b", "http://h:7835", "i", "hive_id")]
    [InlineData("ok", "ftp://h:7835", "i", "hive_url")]
    [InlineData("ok", "/relative", "i", "hive_url")]
    [InlineData("ok", "not a url", "i", "hive_url")]
    [InlineData("ok", "http://user:pw@h:7835", "i", "hive_url")]
    [InlineData("ok", "http://h:7835", "", "instance_id")]
    public void BadFields_AreNamed(string hiveId, string hiveUrl, string instance, string param)
    {
        var (url, error, p) = HiveReadyValidation.Validate(new HiveReady(hiveId, hiveUrl, instance, "0.1.0", 1));
        Assert.Null(url);
        Assert.NotNull(error);
        Assert.Equal(param, p);
    }

    [Fact]
    public void GoodReady_GivesTheUrl()
    {
        var (url, error, _) = HiveReadyValidation.Validate(new HiveReady("gpu-box.lan", "https://10.0.0.5:7835", "abc-123", "0.1.0", 1));
        Assert.Null(error);
        Assert.Equal(new Uri("https://10.0.0.5:7835"), url);
    }
}
