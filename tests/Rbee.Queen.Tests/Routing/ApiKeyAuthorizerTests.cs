using System.Net;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Rbee.Hosting.Security;
using Rbee.Platform.Configuration;
using Rbee.Queen.Routing;

namespace Rbee.Queen.Tests.Routing;

public sealed class ApiKeyAuthorizerTests
{
    private static readonly LocalAddresses Local = new(() => [IPAddress.Parse("192.168.1.10")]);

    private static ClusterTokenOptions Token(string? token)
    {
        var o = new ClusterTokenOptions { ClusterToken = token };
        o.Resolve(_ => null);
        return o;
    }

    private static async Task<int> StatusAsync(ApiKeyAuthorizer auth, string remote, string? bearer)
    {
        var context = new DefaultHttpContext();
        context.Connection.RemoteIpAddress = IPAddress.Parse(remote);
        if (bearer is not null) context.Request.Headers.Authorization = "Bearer " + bearer;
        context.Response.Body = new MemoryStream();
        context.RequestServices = new ServiceCollection().AddLogging().BuildServiceProvider();
        if (auth.Check(context) is not { } refusal) return 200;
        await refusal.ExecuteAsync(context);
        return context.Response.StatusCode;
    }

    [Fact]
    public async Task WithoutKeys_OnlyTheMachinesOwnAddressesAreServed()
    {
        var auth = new ApiKeyAuthorizer([], Token("cluster-secret"), Local, NullLogger<ApiKeyAuthorizer>.Instance);
        Assert.False(auth.KeysConfigured);
        Assert.Equal(200, await StatusAsync(auth, "127.0.0.1", null));
        Assert.Equal(200, await StatusAsync(auth, "192.168.1.10", null));
        Assert.Equal(403, await StatusAsync(auth, "192.168.1.11", null));
    }

    [Fact]
    public async Task WithKeys_EveryCallerNeedsOne_AndTheClusterTokenIsNotOne()
    {
        var auth = new ApiKeyAuthorizer(["key-1", "key-2"], Token("cluster-secret"), Local, NullLogger<ApiKeyAuthorizer>.Instance);
        Assert.Equal(200, await StatusAsync(auth, "192.168.1.11", "key-2"));
        Assert.Equal(401, await StatusAsync(auth, "127.0.0.1", null));
        Assert.Equal(401, await StatusAsync(auth, "127.0.0.1", "key-3"));
        Assert.Equal(401, await StatusAsync(auth, "127.0.0.1", "cluster-secret"));
    }

    [Fact]
    public void AKeyEqualToTheClusterToken_StopsStartUp()
    {
        var e = Assert.Throws<StartupException>(() => new ApiKeyAuthorizer(["cluster-secret"], Token("cluster-secret"), Local, NullLogger<ApiKeyAuthorizer>.Instance));
        Assert.Contains("equals the cluster token", e.Message);
    }

    [Fact]
    public void KeysFile_AddsOneKeyPerLine_SkippingCommentsAndBlanks()
    {
        var path = Path.GetTempFileName();
        try
        {
            File.WriteAllText(path, "# keys\nalpha\n\n  beta  \n");
            Assert.Equal(["inline", "alpha", "beta"], new ApiOptions { Keys = ["inline"], KeysFile = path }.LoadKeys());
            Assert.Throws<StartupException>(() => new ApiOptions { KeysFile = path + ".missing" }.LoadKeys());
        }
        finally
        {
            File.Delete(path);
        }
    }
}
