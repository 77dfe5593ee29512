using System.Globalization;
using Microsoft.Extensions.Configuration;
using Rbee.Contracts.Protocol;

namespace Rbee.Platform.Configuration;

/// <summary>
/// Binds <see cref="ProtocolOptions"/> (section <c>Protocol</c>) and validates it. The ready schedule is read by hand:
/// the configuration binder appends configured array items to the default array instead of replacing it, which
/// would turn a scaled-down schedule into ten tries. It accepts items (<c>Protocol:ReadySchedule:0=00:00:00</c>,
/// JSON arrays) or one comma-separated value in seconds or as TimeSpans (<c>RBEE_Protocol__ReadySchedule=0,0.2,0.4,0.8,1.6</c>).
/// </summary>
public static class ProtocolBinding
{
    public static ProtocolOptions Bind(IConfiguration configuration)
    {
        var section = configuration.GetSection(ProtocolOptions.SectionName);
        var scheduleSection = section.GetSection(nameof(ProtocolOptions.ReadySchedule));
        var schedule = ReadSchedule(scheduleSection);
        var options = new ProtocolOptions();
        try
        {
            foreach (var child in section.GetChildren())
            {
                if (child.Key.Equals(nameof(ProtocolOptions.ReadySchedule), StringComparison.OrdinalIgnoreCase)) continue;
                var property = typeof(ProtocolOptions).GetProperty(child.Key,
                    System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Instance | System.Reflection.BindingFlags.IgnoreCase);
                if (property is null || property.PropertyType != typeof(TimeSpan))
                    throw new StartupException($"unknown setting Protocol:{child.Key}");
                property.SetValue(options, ParseDuration(child.Value, $"Protocol:{child.Key}"));
            }
        }
        catch (System.Reflection.TargetInvocationException e) when (e.InnerException is { } inner)
        {
            throw new StartupException(inner.Message);
        }
        if (schedule is not null) options.ReadySchedule = schedule;
        if (options.Validate() is { } problem) throw new StartupException(problem);
        return options;
    }

    private static TimeSpan[]? ReadSchedule(IConfigurationSection section)
    {
        if (section.Value is { } flat)
            return flat.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
                .Select(v => ParseDuration(v, "Protocol:ReadySchedule")).ToArray();
        var items = section.GetChildren().ToList();
        if (items.Count == 0) return null;
        if (items.Any(i => !int.TryParse(i.Key, NumberStyles.None, CultureInfo.InvariantCulture, out _)))
            throw new StartupException("Protocol:ReadySchedule items must be numbered 0, 1, 2...");
        return items.OrderBy(i => int.Parse(i.Key, CultureInfo.InvariantCulture))
            .Select(i => ParseDuration(i.Value, $"Protocol:ReadySchedule:{i.Key}")).ToArray();
    }

    /// <summary>A duration as a TimeSpan (<c>00:00:02.5</c>) or as seconds (<c>2.5</c>).</summary>
    public static TimeSpan ParseDuration(string? value, string key)
    {
        if (value is not null)
        {
            var v = value.Trim();
            if (!v.Contains(':', StringComparison.Ordinal)
                && double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds) && double.IsFinite(seconds))
                return TimeSpan.FromSeconds(seconds);
            if (TimeSpan.TryParse(v, CultureInfo.InvariantCulture, out var span)) return span;
        }
        throw new StartupException($"{key} '{value}' is not a duration (seconds like 2.5, or 00:00:02.5)");
    }
}
