using Rbee.Hive.Workers;

namespace Rbee.Hive.Tests.Workers;

/// <summary><see cref="WorkerUser"/> and <see cref="UnixAccess"/>: whom a root hive's workers run as, and what that user can read.</summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class WorkerUserTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("rbee-access-");

    [Fact]
    public void ARootHive_RunsWorkersAsNobody_UnlessConfiguredOtherwise()
    {
        Assert.Equal((65534u, 65534u), Ids(WorkerUser.Resolve(null, euid: 0, out var e1)));
        Assert.Null(e1);
        Assert.Equal((1234u, 1234u), Ids(WorkerUser.Resolve("1234", 0, out _)));
        Assert.Equal((1234u, 99u), Ids(WorkerUser.Resolve("1234:99", 0, out _)));
        Assert.Equal((0u, 0u), Ids(WorkerUser.Resolve("root", 0, out var e2)) ?? (0u, 0u));
        Assert.Null(WorkerUser.Resolve("root", 0, out _)); // null: as the hive itself, only when configured so
        Assert.Null(e2);
        Assert.Null(WorkerUser.Resolve("0", 0, out _));
    }

    [Fact]
    public void AnUnprivilegedHive_RunsWorkersAsItself_AndSaysWhyItCannotSwitch()
    {
        Assert.Null(WorkerUser.Resolve("", euid: 1000, out var none));
        Assert.Null(none);
        Assert.Null(WorkerUser.Resolve("1000", 1000, out none));
        Assert.Null(none);
        Assert.Null(WorkerUser.Resolve("65534", 1000, out var error));
        Assert.Contains("only a hive running as root", error, StringComparison.Ordinal);
        Assert.Null(WorkerUser.Resolve("no-such-user-here", 0, out error));
        Assert.Contains("no such user", error, StringComparison.Ordinal);
        Assert.Null(WorkerUser.Resolve("12:x", 0, out error));
        Assert.Contains("must be a number", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Access_FollowsTheModeBits_OfEveryDirectoryOnTheWay_AndOfTheFile()
    {
        var nobody = new WorkerUser(65534, 65534, "nobody");
        var open = Directory.CreateDirectory(Path.Combine(_dir.FullName, "open")).FullName;
        File.SetUnixFileMode(_dir.FullName, (UnixFileMode)0b111_101_101);
        File.SetUnixFileMode(open, (UnixFileMode)0b111_101_101);
        var file = Path.Combine(open, "m.gguf");
        File.WriteAllText(file, "x");
        File.SetUnixFileMode(file, (UnixFileMode)0b110_100_100);
        Assert.Null(UnixAccess.Blocker(file, nobody));
        Assert.StartsWith(file + " (-rw-r--r--", UnixAccess.Blocker(file, nobody, execute: true), StringComparison.Ordinal);

        File.SetUnixFileMode(file, (UnixFileMode)0b110_000_000);
        Assert.StartsWith(file + " (-rw-------, owner uid 0", UnixAccess.Blocker(file, nobody), StringComparison.Ordinal);

        File.SetUnixFileMode(file, (UnixFileMode)0b110_100_100);
        File.SetUnixFileMode(open, (UnixFileMode)0b111_000_000);
        Assert.StartsWith(open + " (drwx------", UnixAccess.Blocker(file, nobody), StringComparison.Ordinal);
        Assert.Null(UnixAccess.Blocker(file, new WorkerUser(0, 0, "root")));
        // The directory's group may pass where others may not (its primary group: a worker has no other).
        File.SetUnixFileMode(open, (UnixFileMode)0b111_101_000);
        Assert.Null(UnixAccess.Blocker(file, new WorkerUser(65534, 0, "nobody-in-root")));
        Assert.NotNull(UnixAccess.Blocker(file, nobody));
    }

    private static (uint, uint)? Ids(WorkerUser? u) => u is null ? null : (u.Uid, u.Gid);

    public void Dispose() => _dir.Delete(recursive: true);
}
