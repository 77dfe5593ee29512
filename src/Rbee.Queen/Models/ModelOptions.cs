using System.Text.RegularExpressions;
using Rbee.Models.Sources;

namespace Rbee.Queen.Models;

/// <summary>
/// Models across the cluster at the queen (section <c>Models</c>; DESIGN.md "Scheduling and routing", issue 10): short
/// names for model sources, and whether a request for one that no hive has makes the queen pull it. Validated at start-up
/// (STYLE.md §5): an alias whose source <see cref="ModelReference.TryParse"/> refuses stops the queen with one line naming it.
/// </summary>
public sealed partial class ModelOptions
{
    public const string SectionName = "Models";

    /// <summary>
    /// Alias → model source (<c>tinyllama</c> → <c>TheBloke/TinyLlama-1.1B-Chat-v1.0-GGUF:Q4_K_M</c>). A request for the
    /// alias is served by the model of that id, else by a model whose origin is the source (pulled by hand with
    /// <c>rbee pull &lt;source&gt;</c>); with <see cref="PullOnDemand"/> the queen pulls it as the alias.
    /// </summary>
    public Dictionary<string, string> Aliases { get; set; } = new(StringComparer.Ordinal);

    /// <summary>A request for an alias that no hive has pulls it onto one hive first (Ollama's habit), instead of 404.</summary>
    public bool PullOnDemand { get; set; }

    /// <summary>Longest a pull on demand may take, from choosing a hive to the model in the queen's view of its catalog.
    /// The scheduler's <c>Scheduling:MaxWait</c> starts after it.</summary>
    public TimeSpan PullTimeout { get; set; } = TimeSpan.FromHours(1);

    /// <summary>The first problem with these values, as one line naming the setting, or null.</summary>
    public string? Validate()
    {
        foreach (var (alias, source) in Aliases.OrderBy(a => a.Key, StringComparer.Ordinal))
        {
            if (!AliasName().IsMatch(alias))
                return $"Models:Aliases:{alias}: an alias is a model id: 1-128 letters, digits, '.', '_' and '-', starting with a letter or digit";
            if (!ModelReference.TryParse(source, out _, out var error))
                return $"Models:Aliases:{alias}: {error}";
        }
        if (PullTimeout <= TimeSpan.Zero) return "Models:PullTimeout must be positive";
        return null;
    }

    /// <summary>The id the pulled file gets (<c>&lt;alias&gt;.gguf</c> in the hive's models directory): no path, no hidden name.</summary>
    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")]
    private static partial Regex AliasName();
}
