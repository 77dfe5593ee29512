using Rbee.Contracts.Protocol;
using Rbee.Platform.Configuration;
using Rbee.Platform.Paths;

namespace Rbee.Hosting.Security;

/// <summary>
/// Where the shared cluster token comes from (DESIGN.md "Security"): configuration key <c>ClusterToken</c>
/// (config file, <c>RBEE_ClusterToken</c>), else the environment variable <c>RBEE_CLUSTER_TOKEN</c>, else the file
/// named by <c>ClusterTokenFile</c> (<c>--cluster-token-file</c>). None of them → no token: protected endpoints accept
/// only callers from the machine's own addresses.
/// </summary>
public sealed class ClusterTokenOptions
{
    public string? ClusterToken { get; set; }

    public string? ClusterTokenFile { get; set; }

    /// <summary>The token in force, resolved once at start-up by <see cref="Resolve"/>; null when none is configured.</summary>
    public string? Token { get; private set; }

    public bool TokenRequired => Token is not null;

    /// <summary>
    /// Resolves <see cref="Token"/> from the sources in order; returns a one-line problem (never containing the
    /// token) when a named file cannot be read or a token is blank, else null.
    /// </summary>
    public string? Resolve(Func<string, string?>? environment = null)
    {
        environment ??= Environment.GetEnvironmentVariable;
        var fromConfig = Clean(ClusterToken);
        if (ClusterToken is not null && fromConfig is null) return "ClusterToken is set but empty";
        if (fromConfig is not null) { Token = fromConfig; return null; }

        var env = environment(ProtocolConstants.ClusterTokenEnvironmentVariable);
        if (env is not null)
        {
            Token = Clean(env);
            return Token is null ? $"{ProtocolConstants.ClusterTokenEnvironmentVariable} is set but empty" : null;
        }

        if (!string.IsNullOrWhiteSpace(ClusterTokenFile))
        {
            var path = RbeePaths.ExpandHome(ClusterTokenFile);
            try
            {
                Token = Clean(File.ReadAllText(path));
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                return $"cannot read the cluster token file {path}: {e.Message}";
            }
            return Token is null ? $"the cluster token file {path} is empty" : null;
        }

        Token = null;
        return null;
    }

    private static string? Clean(string? token) => string.IsNullOrWhiteSpace(token) ? null : token.Trim();
}
