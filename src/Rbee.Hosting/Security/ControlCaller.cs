using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace Rbee.Hosting.Security;

/// <summary>
/// Who called a control endpoint, as far as the daemon can tell (DESIGN.md "Security"): whether the request presented
/// the cluster token (checked again here, so the answer does not depend on a filter having run), and, only then, the user
/// it claims to be (<see cref="ClaimedUser.Header"/>, sanitised). A caller without the token claims nothing.
/// </summary>
public sealed record ControlCaller(bool PresentedClusterToken, string? ClaimedUser)
{
    /// <summary>A caller the daemon knows nothing about (a plan made outside an HTTP request, in tests).</summary>
    public static ControlCaller Unknown { get; } = new(false, null);

    public static ControlCaller Of(HttpContext context)
    {
        var token = context.RequestServices.GetService<ClusterTokenAuthorizer>()?.Decide(context) == AccessDecision.Allowed;
        if (!token) return new(false, null);
        // One header value exactly; several are not a name.
        var values = context.Request.Headers[Rbee.Contracts.Protocol.ClaimedUser.Header];
        return new(true, values.Count == 1 ? Rbee.Contracts.Protocol.ClaimedUser.Sanitize(values[0]) : null);
    }
}
