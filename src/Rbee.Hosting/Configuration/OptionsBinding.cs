using Microsoft.Extensions.Configuration;

namespace Rbee.Hosting.Configuration;

/// <summary>Binds an options section at start-up and validates it, turning every problem into a <see cref="StartupException"/>.</summary>
public static class OptionsBinding
{
    public static T Bind<T>(IConfiguration configuration, string? section, Func<T, string?>? validate = null) where T : class, new()
    {
        var options = new T();
        try
        {
            (section is null ? configuration : configuration.GetSection(section)).Bind(options);
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
