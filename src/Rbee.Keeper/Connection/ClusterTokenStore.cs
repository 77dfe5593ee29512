using Rbee.Contracts.Protocol;
using Rbee.Platform.Paths;
using Rbee.Platform.Security;

namespace Rbee.Keeper.Connection;

/// <summary>
/// The cluster token the keeper uses and hands to the daemons it starts (DESIGN.md "Security"): env
/// <c>RBEE_CLUSTER_TOKEN</c> when set, else the shared token file the daemons also read (<see cref="ClusterTokenFile"/>,
/// one implementation for all three programs). A token file this user may not read (a root hive's, read by an ordinary
/// user's <c>rbee</c>) is a clear failure naming the file, not a silent "no token".
/// </summary>
public static class ClusterTokenStore
{
    /// <summary>The token in force, or null when there is none.</summary>
    /// <exception cref="CliFailure">The token file exists but cannot be read by this user, or is empty.</exception>
    public static string? Read()
    {
        if (Environment.GetEnvironmentVariable(ProtocolConstants.ClusterTokenEnvironmentVariable) is { Length: > 0 } env) return env.Trim();
        try
        {
            return ClusterTokenFile.Read(RbeePaths.TokenFile);
        }
        catch (ClusterTokenFileException e)
        {
            throw new CliFailure(e.Message);
        }
    }

    /// <summary>The token in force, creating the token file (mode 0600) with a random token when there is none.</summary>
    public static string ReadOrCreate()
    {
        if (Environment.GetEnvironmentVariable(ProtocolConstants.ClusterTokenEnvironmentVariable) is { Length: > 0 } env) return env.Trim();
        try
        {
            return ClusterTokenFile.ReadOrCreate(RbeePaths.TokenFile).Token;
        }
        catch (ClusterTokenFileException e)
        {
            throw new CliFailure(e.Message);
        }
    }
}
