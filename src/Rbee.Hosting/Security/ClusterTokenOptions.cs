using Rbee.Contracts.Protocol;
using Rbee.Platform.Configuration;
using Rbee.Platform.Paths;
using Rbee.Platform.Security;

namespace Rbee.Hosting.Security;

/// <summary>
/// Where the shared cluster token comes from (DESIGN.md "Security"): configuration, i.e. the key <c>ClusterToken</c>
/// (config file, <c>RBEE_ClusterToken</c>) or else the file named by <c>ClusterTokenFile</c> (<c>--cluster-token-file</c>);
/// else the environment variable <c>RBEE_CLUSTER_TOKEN</c>; else the shared token file <c>$XDG_CONFIG_HOME/rbee/token</c>,
/// which the daemon creates when it does not exist (<see cref="Rbee.Platform.Security.ClusterTokenFile"/>). There is always a token: control
/// endpoints need it from every caller, loopback included (a local unprivileged user must not drive a root hive).
/// </summary>
public sealed class ClusterTokenOptions
{
    public string? ClusterToken { get; set; }

    public string? ClusterTokenFile { get; set; }

    /// <summary>The token in force, resolved once at start-up by <see cref="Resolve"/>; null only before it (or after a problem).</summary>
    public string? Token { get; private set; }

    /// <summary>Where <see cref="Token"/> came from, for the start-up log (a source, never the value).</summary>
    public string Source { get; private set; } = "none";

    /// <summary>The token file this daemon created at start-up, or null when it found a token.</summary>
    public string? CreatedFile { get; private set; }

    public bool TokenRequired => Token is not null;

    /// <summary>
    /// Resolves <see cref="Token"/> from the sources in order; returns a one-line problem (never containing the
    /// token) when a named file cannot be read, the shared file cannot be read or created, or a token is blank, else null.
    /// </summary>
    /// <param name="defaultTokenFile">The shared token file; <see cref="RbeePaths.TokenFile"/> unless a test names another.</param>
    public string? Resolve(Func<string, string?>? environment = null, string? defaultTokenFile = null)
    {
        environment ??= Environment.GetEnvironmentVariable;
        var fromConfig = Clean(ClusterToken);
        if (ClusterToken is not null && fromConfig is null) return "ClusterToken is set but empty";
        if (fromConfig is not null) { Token = fromConfig; Source = "configuration ClusterToken"; return null; }

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
            Source = path;
            return Token is null ? $"the cluster token file {path} is empty" : null;
        }

        var env = environment(ProtocolConstants.ClusterTokenEnvironmentVariable);
        if (env is not null)
        {
            Token = Clean(env);
            Source = ProtocolConstants.ClusterTokenEnvironmentVariable;
            return Token is null ? $"{ProtocolConstants.ClusterTokenEnvironmentVariable} is set but empty" : null;
        }

        var shared = defaultTokenFile ?? RbeePaths.TokenFile;
        try
        {
            var (token, created) = Rbee.Platform.Security.ClusterTokenFile.ReadOrCreate(shared);
            Token = token;
            Source = shared;
            CreatedFile = created ? shared : null;
            return null;
        }
        catch (ClusterTokenFileException e)
        {
            Token = null;
            return e.Message;
        }
    }

    private static string? Clean(string? token) => string.IsNullOrWhiteSpace(token) ? null : token.Trim();
}
