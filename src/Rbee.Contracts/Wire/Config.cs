namespace Rbee.Contracts.Wire;

/// <summary>
/// <c>GET /v1/config</c> of a daemon: every configuration value set somewhere (a value not listed is the built-in
/// default, docs/architecture.md, "Configuration") with where it came from; secrets are masked.
/// </summary>
public sealed record ConfigReport(string Program, string? ConfigFile, IReadOnlyList<ConfigEntry> Entries);

/// <summary>
/// One value: its key (<c>Section:Key</c>), the value in force (<see cref="ConfigEntry.Masked"/> for a secret) and its
/// source: <c>default</c>, <c>file PATH</c>, <c>env NAME</c> or <c>flag</c>.
/// </summary>
public sealed record ConfigEntry(string Key, string? Value, string Source)
{
    public const string Masked = "********";
}
