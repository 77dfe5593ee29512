using Microsoft.Extensions.Time.Testing;

namespace Rbee.Worker.Tests.ChatTemplates;

internal static class TemplateClock
{
    /// <summary>A clock stopped at one instant (nothing advances it), in UTC, so strftime_now renders the same date everywhere.</summary>
    public static FakeTimeProvider Stopped { get; } = Create();

    private static FakeTimeProvider Create()
    {
        var clock = new FakeTimeProvider(new DateTimeOffset(2026, 1, 15, 12, 0, 0, TimeSpan.Zero));
        clock.SetLocalTimeZone(TimeZoneInfo.Utc);
        return clock;
    }
}
