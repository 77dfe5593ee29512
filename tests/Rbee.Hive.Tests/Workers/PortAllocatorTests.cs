using System.Net;
using System.Net.Sockets;
using Rbee.Hive.Workers;
using Rbee.Testing;

namespace Rbee.Hive.Tests.Workers;

public sealed class PortAllocatorTests : IDisposable
{
    private readonly string _run = Directory.CreateTempSubdirectory("rbee-ports-").FullName;

    public void Dispose() => Directory.Delete(_run, recursive: true);

    [Fact]
    public void LowestFreePortFirst_ThenNext_AndAReleasedPortIsReused()
    {
        var ports = new PortAllocator(_run, _ => true);
        using var a = ports.Acquire(9100, 10)!;
        var b = ports.Acquire(9100, 10)!;
        Assert.Equal(9100, a.Port);
        Assert.Equal(9101, b.Port);
        b.Dispose();
        using var c = ports.Acquire(9100, 10)!;
        Assert.Equal(9101, c.Port);
    }

    [Fact]
    public void TwoAllocators_OnOneRunDirectory_NeverHandOutTheSamePort()
    {
        // two hives on one machine share the run directory; the lock is the file's flock, not memory
        var hiveA = new PortAllocator(_run, _ => true);
        var hiveB = new PortAllocator(_run, _ => true);
        using var a = hiveA.Acquire(9200, 5)!;
        using var b = hiveB.Acquire(9200, 5)!;
        Assert.NotEqual(a.Port, b.Port);
        Assert.Null(hiveB.TryLock(a.Port));
    }

    [Fact]
    public void ALockHeldByAnotherProcess_IsSkipped()
    {
        var ports = new PortAllocator(_run, _ => true);
        var lockFile = Path.Combine(ports.LockDirectory, "9300.lock");
        File.WriteAllText(lockFile, "");
        using var holder = System.Diagnostics.Process.Start("flock", ["-x", lockFile, "sleep", "30"]);
        try
        {
            // wait until the other process holds it (its flock is what we test)
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
            while (ports.TryLock(9300) is { } probe) { probe.Dispose(); Assert.True(DateTime.UtcNow < deadline, "flock(1) never took the lock"); Thread.Sleep(20); }
            using var lease = ports.Acquire(9300, 3)!;
            Assert.Equal(9301, lease.Port);
        }
        finally
        {
            holder.Kill();
            holder.WaitForExit();
        }
    }

    [Fact]
    public void APortSomeoneListensOn_IsSkipped_AndItsLockLetGo()
    {
        var taken = FreePort.Next();
        using var foreign = new TcpListener(IPAddress.Loopback, taken);
        foreign.Start();
        Assert.False(PortAllocator.IsBindable(taken));
        var ports = new PortAllocator(_run);
        using var lease = ports.Acquire(taken, 20)!;
        Assert.NotEqual(taken, lease.Port);
        using var again = ports.TryLock(taken);
        Assert.NotNull(again); // the skipped port's lock was released, not leaked
    }
}
