namespace Rbee.SystemTests.Infrastructure;

/// <summary>
/// For the few conditions no stream announces (a hive that gave up its ready tries, a process gone): asks every
/// 50 ms within a budget and fails naming the phase and what was last seen.
/// </summary>
public static class Eventually
{
    public static async Task HoldsAsync(string phase, string expected, TimeSpan budget, Func<Task<(bool Ok, string Seen)>> check)
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
            if (DateTime.UtcNow >= until) throw new TimeoutException($"phase {phase}: expected {expected} within {budget.TotalSeconds} s; last seen: {seen}");
            await Task.Delay(50);
        }
    }
}
