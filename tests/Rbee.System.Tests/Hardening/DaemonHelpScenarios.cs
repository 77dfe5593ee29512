using System.Diagnostics;
using Rbee.Testing;

namespace Rbee.SystemTests.Hardening;

/// <summary>Issue 12 §4: "llm-worker-rbee --help" was reported to fail with "unknown flag --help". Every program prints its
/// usage on --help or -h and exits 0, before reading any configuration (DaemonMain).</summary>
[Trait("Category", "System")]
[Collection("System")]
public sealed class DaemonHelpScenarios
{
    [Theory]
    [InlineData("llm-worker-rbee", "--help")]
    [InlineData("llm-worker-rbee", "-h")]
    [InlineData("queen-rbee", "--help")]
    [InlineData("rbee-hive", "--help")]
    public async Task Help_PrintsUsageAndExitsZero(string program, string flag)
    {
        var psi = new ProcessStartInfo(RepoPaths.Executable(program), flag) { RedirectStandardOutput = true, RedirectStandardError = true };
        // A stray setting in the developer's shell must not matter: --help reads none.
        foreach (var key in psi.Environment.Keys.Where(k => k.StartsWith("RBEE_", StringComparison.Ordinal)).ToList()) psi.Environment.Remove(key);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await p.WaitForExitAsync(cts.Token);
        Assert.True(p.ExitCode == 0, $"{program} {flag} exited {p.ExitCode}: {await stderr}");
        Assert.StartsWith($"usage: {program}", await stdout, StringComparison.Ordinal);
        Assert.Equal("", await stderr);
    }
}
