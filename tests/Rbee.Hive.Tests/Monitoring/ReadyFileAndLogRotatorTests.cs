using System.Text;
using Rbee.Hive.Monitoring;

namespace Rbee.Hive.Tests.Monitoring;

public sealed class ReadyFileTests
{
    [Theory]
    [InlineData("{\"event\":\"ready\",\"worker_id\":\"w\",\"port\":8080,\"pid\":42}", true)]
    [InlineData("{\"event\":\"ready\",\"pid\":7}", false)] // a stale file of an earlier worker on the port
    [InlineData("{\"event\":\"loading\",\"pid\":42}", false)]
    [InlineData("{\"event\":\"ready\"}", true)] // an engine that names no pid
    [InlineData("{\"event\":\"ready\",\"pi", false)] // half-written
    [InlineData("[]", false)]
    public void NamesOneOfTheWorkersPids(string text, bool ready) =>
        Assert.Equal(ready, ReadyFile.Parse(Encoding.UTF8.GetBytes(text), [41, 42]));

    [Fact]
    public void AMissingOrEmptyFile_IsNotReady()
    {
        var dir = Directory.CreateTempSubdirectory("rbee-ready-").FullName;
        try
        {
            var path = Path.Combine(dir, "ready.json");
            Assert.False(ReadyFile.NamesOneOf(path, [1]));
            File.WriteAllText(path, "");
            Assert.False(ReadyFile.NamesOneOf(path, [1]));
            File.WriteAllText(path, "{\"event\":\"ready\",\"pid\":1}\n");
            Assert.True(ReadyFile.NamesOneOf(path, [1]));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}

public sealed class LogRotatorTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("rbee-log-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void ALogOverTheLimit_IsCopiedToDot1_AndTruncatedInPlace_ForAnAppendingWriter()
    {
        var log = Path.Combine(_dir, "worker.log");
        // The worker's descriptor, opened O_APPEND as the shim's ">>" does: it must keep writing to the same file.
        var fd = Libc.open(log, 0x1 /* O_WRONLY */ | 0x400 /* O_APPEND */ | Libc.O_CREAT | Libc.O_CLOEXEC, 0x1A4 /* 0644 */);
        Assert.True(fd >= 0);
        try
        {
            Write(fd, new string('x', 5000));
            Assert.Equal(5000, LogRotator.RotateIfLarger(log, 4096));
            Assert.Equal(0, new FileInfo(log).Length);
            Assert.Equal(new string('x', 5000), File.ReadAllText(log + ".1"));

            Write(fd, "after");
            Assert.Equal("after", File.ReadAllText(log));
        }
        finally
        {
            Libc.close(fd);
        }
    }

    private static unsafe void Write(int fd, string text)
    {
        var bytes = Encoding.ASCII.GetBytes(text);
        fixed (byte* p = bytes) Assert.Equal(bytes.Length, (int)Libc.write(fd, p, bytes.Length));
    }

    [Fact]
    public void ASmallOrMissingLog_IsLeftAlone()
    {
        var log = Path.Combine(_dir, "worker.log");
        Assert.Null(LogRotator.RotateIfLarger(log, 4096));
        File.WriteAllText(log, new string('y', 4096));
        Assert.Null(LogRotator.RotateIfLarger(log, 4096));
        Assert.False(File.Exists(log + ".1"));
    }
}
