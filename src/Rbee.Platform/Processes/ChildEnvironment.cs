using Rbee.Contracts.Protocol;

namespace Rbee.Platform.Processes;

/// <summary>
/// What a daemon must not hand down to the processes it starts for others (a hive's workers, which run untrusted model
/// files, possibly as another user): the cluster token in each of the forms configuration reads it from, the Hugging
/// Face token the hive downloads with, and the
/// queen's API keys should a hive share their environment (DESIGN.md "Security": secrets never leave the daemons). Everything else may pass: every rbee program reads only its
/// own configuration section and its own named variables, so a hive's <c>RBEE_Hive__*</c> means nothing to a worker.
/// </summary>
public static class ChildEnvironment
{
    /// <summary>
    /// Variables that carry the cluster token or say where it is: <c>RBEE_CLUSTER_TOKEN</c>, and the configuration keys
    /// <c>ClusterToken</c> and <c>ClusterTokenFile</c> under the <c>RBEE_</c> prefix (matched without regard to case, as
    /// the environment configuration provider matches them).
    /// </summary>
    public static IReadOnlyList<string> SecretVariables { get; } =
    [
        ProtocolConstants.ClusterTokenEnvironmentVariable,
        ProtocolConstants.EnvironmentPrefix + "ClusterToken",
        ProtocolConstants.EnvironmentPrefix + "ClusterTokenFile",
        // The hive's Hugging Face token (downloads): a worker runs an untrusted model file and never needs it.
        "HF_TOKEN",
        "HUGGING_FACE_HUB_TOKEN", // the older name Hugging Face's tools still read
        ProtocolConstants.EnvironmentPrefix + "Downloads__HuggingFaceToken",
    ];

    /// <summary>The queen's API keys as configuration reads them from the environment: <c>RBEE_Api__Keys__0</c>…, <c>RBEE_Api__KeysFile</c>.</summary>
    public const string ApiKeysPrefix = ProtocolConstants.EnvironmentPrefix + "Api__Keys";

    public static bool IsSecret(string variable)
    {
        // The environment provider reads "RBEE_Api:Keys:0" as well as "RBEE_Api__Keys__0": compare in one spelling.
        var name = variable.Replace(":", "__", StringComparison.Ordinal);
        return SecretVariables.Any(s => string.Equals(s, name, StringComparison.OrdinalIgnoreCase))
            || name.StartsWith(ApiKeysPrefix, StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>Removes every <see cref="SecretVariables"/> entry from a child's environment (e.g. <c>ProcessStartInfo.Environment</c>).</summary>
    public static void RemoveSecrets(IDictionary<string, string?> environment)
    {
        foreach (var key in environment.Keys.Where(IsSecret).ToList()) environment.Remove(key);
    }
}
