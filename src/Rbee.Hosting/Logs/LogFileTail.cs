namespace Rbee.Hosting.Logs;

/// <summary>
/// Reads a log file the way <c>tail -n N [-f]</c> does: the last lines, then (following) what is appended, as raw bytes.
/// Follows a file that is truncated in place (the hive's copy-and-truncate rotation, <c>LogRotator</c>) from its new
/// start. Following polls the file's length: an inotify watch per reader would spend a per-user resource the hive
/// already budgets (one instance for its monitor), and a quarter second is below what a person watching notices.
/// </summary>
public static class LogFileTail
{
    /// <summary>The most lines one request may ask for.</summary>
    public const int MaxLines = 10_000;

    /// <summary>How far back from the end the last lines are looked for: a file of very long lines yields fewer.</summary>
    public const int MaxTailBytes = 4 << 20;

    public static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(250);

    /// <summary>Where the last <paramref name="lines"/> lines of <paramref name="stream"/> start.</summary>
    public static long StartOfLastLines(Stream stream, int lines)
    {
        var end = stream.Length;
        if (lines <= 0 || end == 0) return end;
        var floor = Math.Max(0, end - MaxTailBytes);
        var buffer = new byte[64 * 1024];
        var position = end;
        // A final newline ends the last line; it does not start an empty one.
        var newlines = 0;
        var skipFinal = true;
        while (position > floor)
        {
            var size = (int)Math.Min(buffer.Length, position - floor);
            position -= size;
            stream.Position = position;
            stream.ReadExactly(buffer, 0, size);
            for (var i = size - 1; i >= 0; i--)
            {
                if (buffer[i] != (byte)'\n') continue;
                if (skipFinal && position + i == end - 1)
                {
                    skipFinal = false;
                    continue;
                }
                if (++newlines == lines) return position + i + 1;
            }
            skipFinal = false;
        }
        if (floor == 0) return 0;
        // Cut off by the byte limit: start at the first whole line inside it.
        stream.Position = floor;
        var first = stream.ReadByte();
        while (first is not (-1 or '\n')) first = stream.ReadByte();
        return stream.Position;
    }

    /// <summary>
    /// Writes the last <paramref name="lines"/> lines of <paramref name="path"/> to <paramref name="output"/>; with
    /// <paramref name="follow"/>, then whatever is appended until <paramref name="ct"/> is cancelled.
    /// </summary>
    public static async Task CopyAsync(string path, int lines, bool follow, Stream output, TimeProvider time, CancellationToken ct)
    {
        var buffer = new byte[64 * 1024];
        // One descriptor for the whole follow: each poll is a length check, not an open. A rotation truncates this very
        // file in place, which the length shows.
        await using var stream = Open(path);
        var position = await CopyRangeAsync(stream, StartOfLastLines(stream, lines), buffer, output, ct).ConfigureAwait(false);
        await output.FlushAsync(ct).ConfigureAwait(false);
        if (!follow) return;
        while (!ct.IsCancellationRequested)
        {
            try { await Task.Delay(PollInterval, time, ct).ConfigureAwait(false); }
            catch (OperationCanceledException) { return; }
            // Truncated in place (rotation): what is there now is new.
            if (stream.Length < position) position = 0;
            if (stream.Length == position) continue;
            position = await CopyRangeAsync(stream, position, buffer, output, ct).ConfigureAwait(false);
            await output.FlushAsync(ct).ConfigureAwait(false);
        }
    }

    private static FileStream Open(string path) =>
        new(path, new FileStreamOptions { Mode = FileMode.Open, Access = FileAccess.Read, Share = FileShare.ReadWrite | FileShare.Delete, Options = FileOptions.Asynchronous });

    private static async Task<long> CopyRangeAsync(FileStream stream, long from, byte[] buffer, Stream output, CancellationToken ct)
    {
        stream.Position = from;
        int n;
        while ((n = await stream.ReadAsync(buffer, ct).ConfigureAwait(false)) > 0)
            await output.WriteAsync(buffer.AsMemory(0, n), ct).ConfigureAwait(false);
        return stream.Position;
    }

    /// <summary>
    /// The regular file this process's standard output is appended to (how <c>rbee up</c> and most service managers
    /// keep a daemon's log), or null with what it is instead (a terminal, a pipe to journald, /dev/null).
    /// </summary>
    public static string? OwnOutputFile(out string what)
    {
        try
        {
            var target = new FileInfo("/proc/self/fd/1").LinkTarget;
            what = target ?? "unknown";
            if (target is null || !target.StartsWith('/') || target.StartsWith("/dev/", StringComparison.Ordinal)) return null;
            if (target.EndsWith(" (deleted)", StringComparison.Ordinal))
            {
                what = target;
                return null;
            }
            return File.Exists(target) ? target : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            what = e.Message;
            return null;
        }
    }
}
