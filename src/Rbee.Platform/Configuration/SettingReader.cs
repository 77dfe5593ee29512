using System.Globalization;
using Microsoft.Extensions.Configuration;

namespace Rbee.Platform.Configuration;

/// <summary>
/// Reads settings of one configuration section by hand, each problem a <see cref="StartupException"/> that names the
/// setting the way the operator gave it: its flag when it has one (<c>--port must be an integer, got 'x'</c>), else its
/// key (<c>Worker:Port</c>). For options whose messages are part of a launch contract (the worker's); the daemons'
/// options go through <see cref="OptionsBinding"/>.
/// </summary>
public sealed class SettingReader
{
    private readonly IConfigurationSection _section;
    private readonly Dictionary<string, string> _flags = new(StringComparer.OrdinalIgnoreCase);

    /// <param name="flagAliases">The program's flags (<c>--port</c> → <c>Worker:Port</c>), for the messages.</param>
    public SettingReader(IConfiguration configuration, string section, IReadOnlyDictionary<string, string> flagAliases)
    {
        _section = configuration.GetSection(section);
        foreach (var (flag, key) in flagAliases) _flags.TryAdd(key, flag);
    }

    /// <summary>How a setting is named in messages: its flag, else its configuration key.</summary>
    public string NameOf(string key) => _flags.TryGetValue(ConfigurationPath.Combine(_section.Path, key), out var flag) ? flag : ConfigurationPath.Combine(_section.Path, key);

    /// <summary>The value as given, or null when it is not set. Set but blank is a problem when <paramref name="allowBlank"/> is false.</summary>
    public string? String(string key, bool allowBlank = false)
    {
        var value = _section[key];
        if (value is not null && !allowBlank && string.IsNullOrWhiteSpace(value)) throw new StartupException($"{NameOf(key)} must not be empty");
        return value;
    }

    /// <summary>The value, which must be set.</summary>
    public string Required(string key, string what) =>
        String(key) ?? throw new StartupException($"{NameOf(key)} {what} is required");

    /// <summary>An integer in [<paramref name="min"/>, <paramref name="max"/>], or null when it is not set.</summary>
    public int? Int(string key, int min, int max)
    {
        var text = _section[key];
        if (text is null) return null;
        if (!int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v))
            throw new StartupException($"{NameOf(key)} must be an integer, got '{text}'");
        if (v < min || v > max)
            throw new StartupException($"{NameOf(key)} must be between {min} and {max}, got {v}");
        return v;
    }
}
