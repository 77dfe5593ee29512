namespace Rbee.SystemTests.Infrastructure;

/// <summary>
/// The one bounded poll, for the few conditions nothing announces (a daemon that starts listening, a hive that gave up
/// its ready tries, a cgroup the kernel is still emptying): asks every 50 ms within a budget and fails naming the
/// phase, what was expected and what was last seen (STYLE.md §8). A check may throw to fail at once (a daemon that
/// exited during start-up).
/// </summary>
public static class Eventually
{
    public static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(50);

    /// <param name="detail">Appended to the time-out message (a daemon's log tail).</param>
    public static async Task HoldsAsync(string phase, string expected, TimeSpan budget, Func<Task<(bool Ok, string Seen)>> check, Func<string>? detail = null)
    {
        var until = DateTime.UtcNow + budget;
        var seen = "";
        while (true)
        {
            try
            {
                (var ok, seen) = await check();
                if (ok) return;
            }
            catch (Exception e) when (e is HttpRequestException or IOException or OperationCanceledException)
            {
                seen = e.Message;
            }
            if (DateTime.UtcNow >= until)
                throw new TimeoutException($"phase {phase}: expected {expected} within {budget.TotalSeconds} s; last seen: {seen}"
                    + (detail is null ? "" : "\n" + detail()));
            await Task.Delay(PollInterval);
        }
    }

    /// <summary>The synchronous form, for conditions read from files.</summary>
    public static Task HoldsAsync(string phase, string expected, TimeSpan budget, Func<(bool Ok, string Seen)> check) =>
        HoldsAsync(phase, expected, budget, () => Task.FromResult(check()));
}
