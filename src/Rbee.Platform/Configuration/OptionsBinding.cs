using Microsoft.Extensions.Configuration;

namespace Rbee.Platform.Configuration;

/// <summary>Binds an options section at start-up and validates it, turning every problem into a <see cref="StartupException"/>.</summary>
public static class OptionsBinding
{
    /// <param name="bind">The binder call, written where the options type is concrete (<c>static (c, o) => c.Bind(o)</c>):
    /// the configuration binding source generator only sees calls on concrete types, and under Native AOT a binder call
    /// it cannot see has no code at all.</param>
    public static T Bind<T>(IConfiguration configuration, string? section, Action<IConfiguration, T> bind, Func<T, string?>? validate = null)
        where T : class, new()
    {
        var options = new T();
        try
        {
            bind(section is null ? configuration : configuration.GetSection(section), options);
        }
        catch (InvalidOperationException e)
        {
            // The binder names the key and the value it could not convert.
            throw new StartupException($"invalid configuration{(section is null ? "" : $" in {section}")}: {e.Message}{(e.InnerException is { } inner ? " (" + inner.Message + ")" : "")}");
        }
        if (validate?.Invoke(options) is { } problem) throw new StartupException(problem);
        return options;
    }
}
