using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Rbee.Testing;

/// <summary>
/// The release programs a remote hive gets (<c>artifacts/release/&lt;rid&gt;/</c>, built by <c>scripts/publish.sh</c>):
/// built once per test run, before the first test that installs a hive over SSH, so that install copies what this
/// checkout's sources make (the tests then prove the Native AOT hive, not the development build). Runs publish.sh, which
/// takes a lock and rebuilds only what changed; minutes the first time on two cores.
/// </summary>
public static class ReleaseArtefacts
{
    private static readonly Lazy<Task<string>> Built = new(BuildAsync);

    public static string Rid => RuntimeInformation.OSArchitecture == Architecture.Arm64 ? "linux-arm64" : "linux-x64";

    /// <summary>The folder holding rbee-hive and llm-worker-rbee for this machine's architecture.</summary>
    public static Task<string> EnsureAsync() => Built.Value;

    private static async Task<string> BuildAsync()
    {
        var psi = new ProcessStartInfo(Path.Combine(RepoPaths.Root, "scripts", "publish.sh"))
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = RepoPaths.Root,
        };
        foreach (var a in new[] { "--rid", Rid, "--programs", "rbee-hive,llm-worker-rbee" }) psi.ArgumentList.Add(a);
        using var process = Process.Start(psi)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        using var bound = new CancellationTokenSource(TimeSpan.FromMinutes(20));
        await process.WaitForExitAsync(bound.Token);
        if (process.ExitCode != 0)
            throw new InvalidOperationException($"scripts/publish.sh failed ({process.ExitCode}): {await output}\n{await errors}");
        return Path.Combine(RepoPaths.Root, "artifacts", "release", Rid);
    }
}
