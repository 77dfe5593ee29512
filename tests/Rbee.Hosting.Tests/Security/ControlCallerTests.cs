using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Rbee.Contracts.Protocol;
using Rbee.Hosting.Security;

namespace Rbee.Hosting.Tests.Security;

/// <summary>
/// Who called a control endpoint: the user named in <c>X-Rbee-User</c> is kept only next to the cluster token, and only
/// as a bounded line of printable ASCII; anything else is dropped whole.
/// </summary>
public sealed class ControlCallerTests
{
    private static ControlCaller Of(string? bearer, params string[] users)
    {
        var options = new ClusterTokenOptions { ClusterToken = "s3cret" };
        Assert.Null(options.Resolve(_ => null));
        var context = new DefaultHttpContext
        {
            RequestServices = new ServiceCollection()
                .AddSingleton(new ClusterTokenAuthorizer(options, NullLogger<ClusterTokenAuthorizer>.Instance))
                .BuildServiceProvider(),
        };
        if (bearer is not null) context.Request.Headers.Authorization = "Bearer " + bearer;
        if (users.Length > 0) context.Request.Headers[ClaimedUser.Header] = users;
        return ControlCaller.Of(context);
    }

    [Fact]
    public void ATokenHolder_IsKnownWithTheUserItClaims() =>
        Assert.Equal(new ControlCaller(true, "alice@laptop"), Of("s3cret", "  alice@laptop "));

    [Fact]
    public void ATokenHolderWithoutAName_ClaimsNothing() =>
        Assert.Equal(new ControlCaller(true, null), Of("s3cret"));

    [Fact]
    public void ACallerWithoutTheToken_ClaimsNothing_WhateverItSends()
    {
        Assert.Equal(new ControlCaller(false, null), Of(null, "root@queen"));
        Assert.Equal(new ControlCaller(false, null), Of("wrong", "root@queen"));
    }

    [Theory]
    [InlineData("alice\n{\"actor\":\"queen\"}")] // a forged log line
    [InlineData("al\u0000ice")]
    [InlineData("jos\u00e9@laptop")]
    [InlineData("   ")]
    [InlineData("")]
    public void ANameBeyondPrintableAscii_IsDropped(string header) =>
        Assert.Null(Of("s3cret", header).ClaimedUser);

    [Fact]
    public void ANameIsBounded_AndSeveralNamesAreNone()
    {
        var longest = new string('a', ClaimedUser.MaxLength);
        Assert.Equal(longest, Of("s3cret", longest).ClaimedUser);
        Assert.Null(Of("s3cret", longest + "a").ClaimedUser);
        Assert.Null(Of("s3cret", "alice@laptop", "bob@desk").ClaimedUser);
    }

    [Fact]
    public void ThisProcess_ClaimsItsUserAtItsHost()
    {
        var expected = ClaimedUser.Sanitize($"{Environment.UserName}@{Environment.MachineName}");
        Assert.Equal(expected, ClaimedUser.OfThisProcess());
        if (expected is not null) Assert.Contains('@', expected);
    }
}
