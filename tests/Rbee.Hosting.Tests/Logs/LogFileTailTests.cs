using System.Text;
using Microsoft.Extensions.Time.Testing;
using Rbee.Hosting.Logs;

namespace Rbee.Hosting.Tests.Logs;

public sealed class LogFileTailTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("rbee-tail-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Write(string text)
    {
        var path = Path.Combine(_dir, "worker.log");
        File.WriteAllText(path, text);
        return path;
    }

    private static string Tail(string path, int lines)
    {
        using var stream = File.OpenRead(path);
        stream.Position = LogFileTail.StartOfLastLines(stream, lines);
        return new StreamReader(stream).ReadToEnd();
    }

    [Theory]
    [InlineData("a\nb\nc\n", 2, "b\nc\n")]
    [InlineData("a\nb\nc", 2, "b\nc")]
    [InlineData("a\nb\nc\n", 3, "a\nb\nc\n")]
    [InlineData("a\nb\nc\n", 10, "a\nb\nc\n")]
    [InlineData("a\nb\nc\n", 0, "")]
    [InlineData("", 5, "")]
    [InlineData("\n\n", 1, "\n")]
    public void TheLastLines_AsTailCountsThem(string text, int lines, string expected) =>
        Assert.Equal(expected, Tail(Write(text), lines));

    [Fact]
    public void LinesAcrossReadBlocks_AreCountedWhole()
    {
        // Lines of 1000 bytes: the 64 KiB blocks read backwards end mid-line.
        var all = Enumerable.Range(0, 300).Select(i => i.ToString("D4") + new string('x', 995) + "\n").ToList();
        var path = Write(string.Concat(all));
        Assert.Equal(string.Concat(all.TakeLast(150)), Tail(path, 150));
    }

    [Fact]
    public void AFileLongerThanTheLimit_StartsAtAWholeLineInsideIt()
    {
        var line = new string('y', 1023) + "\n";
        var path = Write(string.Concat(Enumerable.Repeat(line, (LogFileTail.MaxTailBytes / 1024) + 100)));
        var tail = Tail(path, LogFileTail.MaxLines);
        Assert.StartsWith("yyy", tail);
        Assert.True(Encoding.UTF8.GetByteCount(tail) <= LogFileTail.MaxTailBytes);
        Assert.Equal(0, Encoding.UTF8.GetByteCount(tail) % 1024);
    }

    [Fact]
    public async Task Following_WritesWhatIsAppended_AndStartsOverAfterATruncation()
    {
        var path = Write("old 1\nold 2\n");
        var time = new FakeTimeProvider();
        var output = new MemoryStream();
        using var stop = new CancellationTokenSource();
        var follow = LogFileTail.CopyAsync(path, 1, follow: true, new SynchronizedStream(output), time, stop.Token);
        Assert.Equal("old 2\n", await ReadWhenAsync(output, "old 2\n", time));

        File.AppendAllText(path, "new 3\n");
        Assert.Equal("old 2\nnew 3\n", await ReadWhenAsync(output, "old 2\nnew 3\n", time));

        // Rotated the hive's way: copied aside and truncated in place; what is written next is read from the start.
        using (var fs = new FileStream(path, FileMode.Open, FileAccess.Write, FileShare.ReadWrite)) fs.SetLength(0);
        File.AppendAllText(path, "after\n");
        Assert.Equal("old 2\nnew 3\nafter\n", await ReadWhenAsync(output, "old 2\nnew 3\nafter\n", time));

        await stop.CancelAsync();
        await follow;
    }

    [Fact]
    public async Task WithoutFollow_ItEndsAfterTheLastLines()
    {
        var path = Write("one\ntwo\n");
        var output = new MemoryStream();
        await LogFileTail.CopyAsync(path, 5, follow: false, output, TimeProvider.System, CancellationToken.None);
        Assert.Equal("one\ntwo\n", Encoding.UTF8.GetString(output.ToArray()));
    }

    /// <summary>Advances the fake clock one poll at a time until the output reads <paramref name="expected"/>.</summary>
    private static async Task<string> ReadWhenAsync(MemoryStream output, string expected, FakeTimeProvider time)
    {
        for (var i = 0; i < 400; i++)
        {
            string text;
            lock (output) text = Encoding.UTF8.GetString(output.ToArray());
            if (text == expected) return text;
            time.Advance(LogFileTail.PollInterval);
            await Task.Delay(5);
        }
        lock (output) return Encoding.UTF8.GetString(output.ToArray());
    }

    /// <summary>The follower writes from its own task while the test reads.</summary>
    private sealed class SynchronizedStream(MemoryStream inner) : Stream
    {
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count)
        {
            lock (inner) inner.Write(buffer, offset, count);
        }
    }
}
