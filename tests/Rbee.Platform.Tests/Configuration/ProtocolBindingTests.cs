using Microsoft.Extensions.Configuration;
using Rbee.Contracts.Protocol;
using Rbee.Platform.Configuration;

namespace Rbee.Platform.Tests.Configuration;

public class ProtocolBindingTests
{
    private static ProtocolOptions Bind(params (string Key, string Value)[] settings) =>
        ProtocolBinding.Bind(new ConfigurationBuilder()
            .AddInMemoryCollection(settings.Select(s => new KeyValuePair<string, string?>(s.Key, s.Value)))
            .Build());

    private static TimeSpan S(double s) => TimeSpan.FromSeconds(s);

    [Fact]
    public void NothingConfigured_GivesTheProtocolDefaults()
    {
        var o = Bind();
        Assert.Equal([S(0), S(2), S(4), S(8), S(16)], o.ReadySchedule);
        Assert.Equal(S(1), o.TelemetryInterval);
        Assert.Equal(S(5), o.ReadyTryTimeout);
        Assert.Equal(S(3), o.DegradedAfter);
        Assert.Equal(S(10), o.OfflineAfter);
        Assert.Equal(S(5), o.SubscriptionExpectedWithin);
    }

    [Fact]
    public void ScheduleItems_ReplaceTheDefault_NotAppendToIt()
    {
        var o = Bind(("Protocol:ReadySchedule:0", "00:00:00"), ("Protocol:ReadySchedule:1", "00:00:00.2"));
        Assert.Equal([S(0), S(0.2)], o.ReadySchedule);
    }

    [Fact]
    public void Schedule_AsOneCommaSeparatedValueInSeconds()
    {
        var o = Bind(("Protocol:ReadySchedule", "0, 0.2,0.4,0.8,1.6"));
        Assert.Equal([S(0), S(0.2), S(0.4), S(0.8), S(1.6)], o.ReadySchedule);
    }

    [Fact]
    public void Timers_AsSecondsOrTimeSpans()
    {
        var o = Bind(("Protocol:TelemetryInterval", "0.2"), ("Protocol:DegradedAfter", "00:00:00.6"), ("protocol:offlineafter", "2"));
        Assert.Equal(S(0.2), o.TelemetryInterval);
        Assert.Equal(S(0.6), o.DegradedAfter);
        Assert.Equal(S(2), o.OfflineAfter);
    }

    [Theory]
    [InlineData("Protocol:TelemetryInterval", "soon")]
    [InlineData("Protocol:TelemetryInterval", "0")]
    [InlineData("Protocol:OfflineAfter", "1")]
    [InlineData("Protocol:ReadySchedule", "0,-1")]
    [InlineData("Protocol:NoSuchTimer", "1")]
    public void BadValues_AreStartupErrorsNamingTheSetting(string key, string value)
    {
        var e = Assert.Throws<StartupException>(() => Bind((key, value)));
        Assert.Contains(key.Split(':')[1], e.Message, StringComparison.OrdinalIgnoreCase);
    }
}
