using System.Globalization;

namespace Rbee.Hive.Monitoring;

/// <summary>Where one worker's figures are read: its cgroup files (null in process-group mode) and its pids.</summary>
public sealed class SampleSource
{
    public SampleSource(string? cgroupPath)
    {
        if (cgroupPath is null) return;
        // Paths are built once: the scan reads them every second for every worker.
        ProcsFile = Path.Combine(cgroupPath, "cgroup.procs");
        CpuStatFile = Path.Combine(cgroupPath, "cpu.stat");
        var memory = Path.Combine(cgroupPath, "memory.current");
        var io = Path.Combine(cgroupPath, "io.stat");
        // Whether the memory and io controllers are on for this cgroup (hybrid hosts have neither): asked once.
        MemoryCurrentFile = File.Exists(memory) ? memory : null;
        IoStatFile = File.Exists(io) ? io : null;
    }

    public string? ProcsFile { get; }
    public string? CpuStatFile { get; }
    public string? MemoryCurrentFile { get; }
    public string? IoStatFile { get; }
}

/// <summary>
/// The counters of one worker at its last full sample: the baseline of the next rates. Immutable; the scan loop keeps
/// the one <see cref="WorkerSampler.Sample"/> returns and hands it back next time.
/// </summary>
public readonly record struct SampleBaseline(long Timestamp, long? CpuUsec, (long Read, long Write)? Io, double? CpuPct, double? IoReadBps, double? IoWriteBps)
{
    public bool IsEmpty => Timestamp == 0;
}

/// <summary>The measured figures of one worker (a value that cannot be read is null).</summary>
public readonly record struct WorkerFigures(double? CpuPct, long? RssMb, double? IoReadBps, double? IoWriteBps);

/// <summary>
/// Measures one worker (DESIGN.md "Workers under the hive", Monitor): CPU % from <c>cpu.stat</c> deltas (or the sum of
/// its processes' <c>/proc/&lt;pid&gt;/stat</c> times), RSS from <c>memory.current</c> (or the sum of
/// <c>/proc/&lt;pid&gt;/statm</c>), IO rates from <c>io.stat</c> (or <c>/proc/&lt;pid&gt;/io</c>). It holds no state: the
/// baseline goes in and comes out, and the clock is the loop's <see cref="TimeProvider"/>.
/// </summary>
public sealed class WorkerSampler(TimeProvider time)
{
    /// <summary>A scan woken by an event may come milliseconds after the last: such a short window says little, so the
    /// rates of the last full window stand until the next one.</summary>
    public static readonly TimeSpan MinimumWindow = TimeSpan.FromMilliseconds(250);

    public WorkerFigures Sample(SampleSource source, IReadOnlyList<int> pids, ref SampleBaseline baseline)
    {
        var now = time.GetTimestamp();
        var cpuUsec = CpuUsec(source, pids);
        var io = IoOf(source, pids);
        var figures = Rates(baseline, now, cpuUsec, io, out var next);
        baseline = next;
        return figures with { RssMb = RssBytes(source, pids) is { } b ? b / (1024 * 1024) : null };
    }

    /// <summary>The rate arithmetic alone: a window shorter than <see cref="MinimumWindow"/> keeps the last rates and
    /// baseline; a counter that went backwards (a new process on the port) gives null, never a negative rate.</summary>
    public WorkerFigures Rates(SampleBaseline last, long now, long? cpuUsec, (long Read, long Write)? io, out SampleBaseline next)
    {
        var elapsedS = last.IsEmpty ? 0 : time.GetElapsedTime(last.Timestamp, now).TotalSeconds;
        if (!last.IsEmpty && elapsedS < MinimumWindow.TotalSeconds)
        {
            next = last;
            return new WorkerFigures(last.CpuPct, null, last.IoReadBps, last.IoWriteBps);
        }
        double? cpuPct = last.CpuUsec is { } prev && cpuUsec is { } cur && elapsedS > 0 && cur >= prev
            ? Math.Round((cur - prev) / (elapsedS * 1e6) * 100.0, 1)
            : null;
        double? ioR = null, ioW = null;
        if (last.Io is { } pio && io is { } cio && elapsedS > 0 && cio.Read >= pio.Read && cio.Write >= pio.Write)
        {
            ioR = Math.Round((cio.Read - pio.Read) / elapsedS, 0);
            ioW = Math.Round((cio.Write - pio.Write) / elapsedS, 0);
        }
        next = new SampleBaseline(now, cpuUsec, io, cpuPct, ioR, ioW);
        return new WorkerFigures(cpuPct, null, ioR, ioW);
    }

    private static long? CpuUsec(SampleSource source, IReadOnlyList<int> pids)
    {
        if (source.CpuStatFile is not null)
            return KernelFile.TryRead(source.CpuStatFile, out var cpuStat) ? ProcFiles.CpuUsageUsec(cpuStat) : null;
        long ticks = 0;
        foreach (var pid in pids)
            if (KernelFile.TryReadProc(pid, "stat", out var s) && ProcFiles.StatCpuTicks(s) is { } t) ticks += t;
        return ticks * 1_000_000 / Libc.ClockTicks;
    }

    private static long? RssBytes(SampleSource source, IReadOnlyList<int> pids)
    {
        if (source.MemoryCurrentFile is not null && KernelFile.TryRead(source.MemoryCurrentFile, out var mem)
            && long.TryParse(mem.Trim(" \t\n\r\v\f"u8), NumberStyles.Integer, CultureInfo.InvariantCulture, out var memBytes))
            return memBytes;
        long? rss = null;
        foreach (var pid in pids)
            if (KernelFile.TryReadProc(pid, "statm", out var st) && ProcFiles.StatmRssBytes(st, Environment.SystemPageSize) is { } r)
                rss = (rss ?? 0) + r;
        return rss;
    }

    private static (long Read, long Write)? IoOf(SampleSource source, IReadOnlyList<int> pids)
    {
        if (source.IoStatFile is not null && KernelFile.TryRead(source.IoStatFile, out var ioStat) && ProcFiles.IoStat(ioStat) is { } cg)
            return cg;
        // No io controller on this cgroup (hybrid hosts): sum the storage bytes of its processes.
        (long, long)? sum = null;
        foreach (var pid in pids)
            if (KernelFile.TryReadProc(pid, "io", out var s) && ProcFiles.ProcIo(s) is { } io)
                sum = ((sum?.Item1 ?? 0) + io.Read, (sum?.Item2 ?? 0) + io.Write);
        return sum;
    }

    /// <summary>Seconds since <paramref name="startTicks"/> (field 22 of <c>/proc/&lt;pid&gt;/stat</c>) at <paramref name="bootUptime"/>.</summary>
    public static double? UptimeS(double? bootUptime, long? startTicks) =>
        bootUptime is { } boot && startTicks is { } start ? Math.Round(Math.Max(0, boot - (double)start / Libc.ClockTicks), 1) : null;

    /// <summary>VRAM of the worker's pids, from one GPU sample of the scan; null without a GPU tool.</summary>
    public static long? VramMb(IReadOnlyDictionary<int, long>? gpu, IReadOnlyList<int> pids)
    {
        if (gpu is null) return null;
        long? vram = null;
        foreach (var pid in pids)
            if (gpu.TryGetValue(pid, out var mb)) vram = (vram ?? 0) + mb;
        return vram;
    }
}
