using System.Diagnostics;
using Rbee.Keeper.Lifecycle;
using Rbee.Platform.Processes;

namespace Rbee.Keeper.Tests;

/// <summary>
/// <see cref="DaemonLauncher.HasExited"/>, what <c>rbee up</c> asks while a daemon starts: alive through its execs
/// (the shim, setsid, the daemon), ended once it is gone.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class DaemonLauncherTests
{
    [Fact]
    public void ALiveProcess_HasNotExited() => Assert.False(DaemonLauncher.HasExited(Environment.ProcessId));

    [Fact]
    public void AProcessThroughItsExecs_HasNotExited_UntilItEnds()
    {
        // The same chain as a daemon's start (DaemonLauncher.Start): the shim, which execs setsid, which execs the program.
        var log = Path.GetTempFileName();
        using var child = Process.Start(DetachedProcess.StartInfo("/bin/sleep", ["30"], log, shimName: "rbee-daemon-shim"))!;
        try
        {
            var deadline = Stopwatch.StartNew();
            // Sampled as fast as the loop runs while the execs happen: never reads as exited.
            while (deadline.ElapsedMilliseconds < 300) Assert.False(DaemonLauncher.HasExited(child.Id));
        }
        finally
        {
            child.Kill();
            child.WaitForExit();
            File.Delete(log);
        }
        Assert.True(DaemonLauncher.HasExited(child.Id));
    }
}
