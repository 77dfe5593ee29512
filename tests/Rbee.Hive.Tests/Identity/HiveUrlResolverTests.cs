using System.Net;
using Rbee.Hive.Identity;

namespace Rbee.Hive.Tests.Identity;

public class HiveUrlResolverTests
{
    private static readonly IPAddress Lan = IPAddress.Parse("10.0.0.5");

    [Fact]
    public void AdvertiseUrl_WinsOverEverything() =>
        Assert.Equal("http://gpu-box.lan:7835", HiveUrlResolver.Resolve(new HiveOptions { AdvertiseUrl = "http://gpu-box.lan:7835/" }, true, () => Lan));

    [Fact]
    public void WithToken_AdvertisesTheFirstNonLoopbackAddress_NeverLoopback() =>
        Assert.Equal("http://10.0.0.5:7835", HiveUrlResolver.Resolve(new HiveOptions(), tokenConfigured: true, () => Lan));

    [Fact]
    public void WithoutToken_AdvertisesLoopback() =>
        Assert.Equal("http://127.0.0.1:7836", HiveUrlResolver.Resolve(new HiveOptions { Port = 7836 }, tokenConfigured: false, () => Lan));

    [Fact]
    public void SpecificBindAddress_IsWhatTheHiveIsReachableAt() =>
        Assert.Equal("http://10.0.0.7:7835", HiveUrlResolver.Resolve(new HiveOptions { BindAddress = "10.0.0.7" }, true, () => Lan));

    [Fact]
    public void Ipv6Address_IsBracketed() =>
        Assert.Equal("http://[fd00::5]:7835", HiveUrlResolver.Resolve(new HiveOptions { BindAddress = "*" }, true, () => IPAddress.Parse("fd00::5")));
}
