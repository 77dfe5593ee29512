using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace Rbee.Hive.Tests.Support;

internal sealed record LogEntry(LogLevel Level, int EventId, string Message);

/// <summary>Keeps every log line, to assert how many lines an operator sees (one after five failures, not five).</summary>
internal sealed class RecordingLogger<T> : ILogger<T>
{
    public ConcurrentQueue<LogEntry> Entries { get; } = new();

    public IReadOnlyList<LogEntry> AtLeast(LogLevel level) => Entries.Where(e => e.Level >= level).ToList();

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
        Entries.Enqueue(new LogEntry(logLevel, eventId.Id, formatter(state, exception)));
}
