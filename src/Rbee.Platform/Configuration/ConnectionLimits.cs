namespace Rbee.Platform.Configuration;

/// <summary>
/// How many connections a daemon holds and how long an idle one may stay (issue 12 §2; docs/security.md "Limits").
/// Queen and hive bind it from section <c>Limits</c>; the worker from its own section (<c>--max-connections</c>...).
/// Every open connection costs a file descriptor and a few KB: without a bound, about 20,000 idle sockets exhausted the
/// descriptors and the daemons died. At the limit Kestrel accepts a new connection and closes it at once, so the
/// listen queue keeps moving and the daemon stays up; idle connections are closed by the two time-outs.
/// </summary>
public sealed class ConnectionLimits
{
    public const string SectionName = "Limits";

    /// <summary>Concurrent connections; null: half the process's descriptor limit (the other half is for the daemon's
    /// own files and outgoing sockets, and for connections accepted only to be closed at the limit).</summary>
    public long? MaxConnections { get; set; }

    /// <summary>A connection that has not sent complete request headers within this time is closed (Kestrel's
    /// <c>RequestHeadersTimeout</c>).</summary>
    public TimeSpan RequestHeadersTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>An idle connection, before its first request or between requests, is closed after this time (Kestrel's
    /// <c>KeepAliveTimeout</c>). It never applies while a response is being written, so SSE streams (long responses)
    /// are not affected.</summary>
    public TimeSpan KeepAliveTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Used when the descriptor limit cannot be read.</summary>
    public const long FallbackMaxConnections = 4096;

    /// <summary>The limit in force for a process allowed <paramref name="descriptorLimit"/> open descriptors.</summary>
    public long EffectiveMaxConnections(long? descriptorLimit) =>
        MaxConnections ?? (descriptorLimit is { } d ? Math.Max(1, d / 2) : FallbackMaxConnections);

    /// <summary>The first problem, one line naming the setting (<paramref name="prefix"/>: <c>Limits:</c> or a worker flag), or null.</summary>
    public string? Validate(string prefix = SectionName + ":")
    {
        if (MaxConnections is < 1) return $"{prefix}MaxConnections must be at least 1 (unset: half the descriptor limit)";
        if (RequestHeadersTimeout <= TimeSpan.Zero) return $"{prefix}RequestHeadersTimeout must be positive";
        if (KeepAliveTimeout <= TimeSpan.Zero) return $"{prefix}KeepAliveTimeout must be positive";
        return null;
    }
}
