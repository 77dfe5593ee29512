using System.Net;
using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Rbee.Hosting.Security;

namespace Rbee.Hosting.Tests.Security;

public class ClusterTokenAuthorizerTests
{
    private static ClusterTokenAuthorizer Authorizer(string token)
    {
        var options = new ClusterTokenOptions { ClusterToken = token };
        Assert.Null(options.Resolve(_ => null));
        return new ClusterTokenAuthorizer(options, NullLogger<ClusterTokenAuthorizer>.Instance);
    }

    [Fact]
    public void RightBearer_IsAllowed() =>
        Assert.Equal(AccessDecision.Allowed, Authorizer("s3cret").Decide("Bearer s3cret"));

    [Fact]
    public void SchemeIsCaseInsensitive() =>
        Assert.Equal(AccessDecision.Allowed, Authorizer("s3cret").Decide("bearer s3cret"));

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("Bearer")]
    [InlineData("Bearer s3cre")]
    [InlineData("Bearer s3cret2")]
    [InlineData("Basic s3cret")]
    [InlineData("s3cret")]
    public void MissingOrWrongBearer_IsRefused(string? header) =>
        Assert.Equal(AccessDecision.MissingOrWrongToken, Authorizer("s3cret").Decide(header));

    [Theory]
    [InlineData("127.0.0.1")]
    [InlineData("127.0.0.5")]
    [InlineData("::1")]
    [InlineData("::ffff:127.0.0.1")]
    [InlineData("192.168.1.20")]
    public async Task ACallerOnThisMachine_WithoutTheToken_IsRefused_NoLoopbackExemption(string remote)
    {
        // Issue 12 §1: an unprivileged local user (uid 65534) calls from loopback too, and must not drive a root hive.
        var context = new DefaultHttpContext();
        context.Connection.RemoteIpAddress = IPAddress.Parse(remote);
        context.RequestServices = new Microsoft.Extensions.DependencyInjection.ServiceCollection().AddLogging().BuildServiceProvider();
        context.Response.Body = new MemoryStream();
        var refusal = Authorizer("s3cret").Check(context);
        Assert.NotNull(refusal);
        await refusal.ExecuteAsync(context);
        Assert.Equal(StatusCodes.Status401Unauthorized, context.Response.StatusCode);
    }

    [Fact]
    public void OptionsNeverResolved_RefuseEverything()
    {
        // Fail closed: a daemon wired without a resolved token lets no one in, rather than everyone.
        var a = new ClusterTokenAuthorizer(new ClusterTokenOptions { ClusterToken = "s3cret" }, NullLogger<ClusterTokenAuthorizer>.Instance);
        Assert.Equal(AccessDecision.MissingOrWrongToken, a.Decide("Bearer s3cret"));
        Assert.Equal(AccessDecision.MissingOrWrongToken, a.Decide((string?)null));
    }

    [Fact]
    public void RealInterfaces_IncludeLoopbackAndEveryAddressTheMachineReports()
    {
        // LocalAddresses still serves the queen's OpenAI endpoints without API keys (ApiKeyAuthorizer).
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
