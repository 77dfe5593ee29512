using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Configuration.CommandLine;
using Microsoft.Extensions.Configuration.EnvironmentVariables;
using Microsoft.Extensions.Configuration.Json;
using Rbee.Contracts.Json;
using Rbee.Contracts.Wire;
using Rbee.Hosting.Security;
using Rbee.Platform.Configuration;

namespace Rbee.Hosting.Configuration;

/// <summary>
/// A daemon's effective configuration as <c>rbee config show</c> prints it: each key set by some source, the value
/// that won (later sources win, <see cref="DaemonConfiguration"/>) and which source that was. Values of keys that name
/// a secret (token, key, password, secret) are masked: the report says where a secret comes from, never what it is.
/// </summary>
public static class ConfigurationReport
{
    private static readonly string[] SecretWords = ["token", "key", "password", "secret"];

    public static ConfigReport Build(IConfigurationRoot root, DaemonSpec spec)
    {
        var entries = new List<ConfigEntry>();
        string? file = null;
        foreach (var (key, value) in root.AsEnumerable().Where(p => p.Value is not null).OrderBy(p => p.Key, StringComparer.OrdinalIgnoreCase))
        {
            var provider = root.Providers.LastOrDefault(p => p.TryGet(key, out _));
            if (provider is null) continue;
            entries.Add(new ConfigEntry(key, IsSecret(key) ? ConfigEntry.Masked : value, SourceOf(provider, key, root, spec)));
        }
        foreach (var provider in root.Providers)
            if (provider is JsonConfigurationProvider json) file = PathOf(json);
        return new ConfigReport(spec.ProgramName, file, entries);
    }

    /// <summary>A key any of whose names says secret (<c>Api:Keys:0</c> too); a file or path that holds one is not one.</summary>
    public static bool IsSecret(string key) =>
        key.Split(':').Any(name => SecretWords.Any(w => name.Contains(w, StringComparison.OrdinalIgnoreCase))
            && !name.EndsWith("File", StringComparison.OrdinalIgnoreCase) && !name.EndsWith("Path", StringComparison.OrdinalIgnoreCase));

    private static string SourceOf(IConfigurationProvider provider, string key, IConfigurationRoot root, DaemonSpec spec)
    {
        switch (provider)
        {
            case JsonConfigurationProvider json:
                return "file " + PathOf(json);
            case CommandLineConfigurationProvider:
                return "flag";
            case EnvironmentVariablesConfigurationProvider:
                return "env " + Rbee.Contracts.Protocol.ProtocolConstants.EnvironmentPrefix + key.Replace(":", "__", StringComparison.Ordinal);
        }
        // The spec's defaults come first; the rest is the environment (the RBEE_ variables and the named ones).
        if (ReferenceEquals(provider, root.Providers.First())) return "default";
        var variable = spec.EnvironmentAliases?.FirstOrDefault(a => string.Equals(a.Value, key, StringComparison.OrdinalIgnoreCase)).Key;
        return "env " + (variable ?? Rbee.Contracts.Protocol.ProtocolConstants.EnvironmentPrefix + key.Replace(":", "__", StringComparison.Ordinal));
    }

    private static string PathOf(JsonConfigurationProvider json) =>
        json.Source.FileProvider?.GetFileInfo(json.Source.Path ?? "").PhysicalPath ?? json.Source.Path ?? "?";

    /// <summary><c>GET /v1/config</c>, protected by the cluster token.</summary>
    public static IEndpointRouteBuilder MapConfigReport(this IEndpointRouteBuilder app, DaemonSpec spec)
    {
        app.MapGet("/v1/config", (IConfiguration configuration) =>
            Results.Json(Build((IConfigurationRoot)configuration, spec), RbeeJsonContext.Default.ConfigReport)).RequireClusterToken();
        return app;
    }
}
