using System.Net;
using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using Rbee.Hosting.Security;

namespace Rbee.Hosting.Tests.Security;

public class ClusterTokenAuthorizerTests
{
    private static readonly IPAddress LanAddressOfThisMachine = IPAddress.Parse("192.168.1.20");
    private static readonly IPAddress OtherMachine = IPAddress.Parse("192.168.1.99");

    private static ClusterTokenAuthorizer Authorizer(string? token)
    {
        var options = new ClusterTokenOptions { ClusterToken = token };
        Assert.Null(options.Resolve(_ => null));
        var local = new LocalAddresses(() => [LanAddressOfThisMachine]);
        return new ClusterTokenAuthorizer(options, local, NullLogger<ClusterTokenAuthorizer>.Instance);
    }

    [Fact]
    public void WithToken_RightBearer_IsAllowedFromAnywhere() =>
        Assert.Equal(AccessDecision.Allowed, Authorizer("s3cret").Decide("Bearer s3cret", OtherMachine));

    [Fact]
    public void WithToken_SchemeIsCaseInsensitive() =>
        Assert.Equal(AccessDecision.Allowed, Authorizer("s3cret").Decide("bearer s3cret", OtherMachine));

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("Bearer")]
    [InlineData("Bearer s3cre")]
    [InlineData("Bearer s3cret2")]
    [InlineData("Basic s3cret")]
    [InlineData("s3cret")]
    public void WithToken_MissingOrWrongBearer_IsRefusedEvenFromLoopback(string? header) =>
        Assert.Equal(AccessDecision.MissingOrWrongToken, Authorizer("s3cret").Decide(header, IPAddress.Loopback));

    [Fact]
    public void WithoutToken_LoopbackIsAllowed()
    {
        var a = Authorizer(null);
        Assert.Equal(AccessDecision.Allowed, a.Decide(null, IPAddress.Loopback));
        Assert.Equal(AccessDecision.Allowed, a.Decide(null, IPAddress.Parse("127.0.0.5")));
        Assert.Equal(AccessDecision.Allowed, a.Decide(null, IPAddress.IPv6Loopback));
        Assert.Equal(AccessDecision.Allowed, a.Decide(null, IPAddress.Loopback.MapToIPv6()));
    }

    [Fact]
    public void WithoutToken_AnyOwnInterfaceAddressIsAllowed()
    {
        var a = Authorizer(null);
        Assert.Equal(AccessDecision.Allowed, a.Decide(null, LanAddressOfThisMachine));
        Assert.Equal(AccessDecision.Allowed, a.Decide(null, LanAddressOfThisMachine.MapToIPv6()));
    }

    [Fact]
    public void WithoutToken_RemoteCallerIsRefusedWhateverItSends()
    {
        var a = Authorizer(null);
        Assert.Equal(AccessDecision.NotLocal, a.Decide(null, OtherMachine));
        Assert.Equal(AccessDecision.NotLocal, a.Decide("Bearer anything", OtherMachine));
        Assert.Equal(AccessDecision.NotLocal, a.Decide(null, null));
    }

    [Fact]
    public void RealInterfaces_IncludeLoopbackAndEveryAddressTheMachineReports()
    {
        using var local = new LocalAddresses();
        Assert.True(local.IsLocal(IPAddress.Loopback));
        foreach (var nic in System.Net.NetworkInformation.NetworkInterface.GetAllNetworkInterfaces())
        foreach (var u in nic.GetIPProperties().UnicastAddresses)
            if (u.Address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork)
                Assert.True(local.IsLocal(u.Address), $"{u.Address} of {nic.Name} not seen as local");
    }

    [Fact]
    public void PresentsToken_ComparesWholeToken() =>
        Assert.False(ClusterTokenAuthorizer.PresentsToken("Bearer abc", Encoding.UTF8.GetBytes("abcd")));
}
