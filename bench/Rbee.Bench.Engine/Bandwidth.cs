using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Rbee.Worker.Kernels;

namespace Rbee.Bench.Engine;

/// <summary>
/// Memory read bandwidth as the kernels see it: a buffer far larger than the caches, summed with 256-bit loads by
/// the same <see cref="ComputePool"/> threads, best of several passes. This is the roofline a memory-bound decode
/// step can approach.
/// </summary>
internal static unsafe class Bandwidth
{
    private struct Job
    {
        public float* Data;
        public long Chunk;
        public long Length;
        public float* Sums;
    }

    public static double MeasureGBps(ComputePool pool, long bytes, int passes)
    {
        var n = bytes / sizeof(float);
        var data = (float*)NativeMemory.AlignedAlloc((nuint)(n * sizeof(float)), 64);
        var sums = stackalloc float[1024];
        try
        {
            new Span<byte>(data, checked((int)Math.Min(bytes, int.MaxValue))).Fill(1);
            if (bytes > int.MaxValue) new Span<byte>((byte*)data + int.MaxValue, (int)(bytes - int.MaxValue)).Fill(1);
            var tasks = pool.Threads * 16;
            var job = new Job { Data = data, Length = n, Chunk = (n / tasks + 63) / 64 * 64, Sums = sums };
            var best = 0.0;
            for (var p = 0; p < passes; p++)
            {
                var sw = Stopwatch.StartNew();
                pool.Run(&Read, &job, tasks);
                var s = sw.Elapsed.TotalSeconds;
                best = Math.Max(best, bytes / s / 1e9);
            }
            return best;
        }
        finally
        {
            NativeMemory.AlignedFree(data);
        }
    }

    private static void Read(void* ctx, int task)
    {
        ref var j = ref *(Job*)ctx;
        var start = task * j.Chunk;
        var end = Math.Min(j.Length, start + j.Chunk);
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
        var p = j.Data;
        for (var i = start; i + 32 <= end; i += 32)
        {
            a0 += Vector256.Load(p + i);
            a1 += Vector256.Load(p + i + 8);
            a2 += Vector256.Load(p + i + 16);
            a3 += Vector256.Load(p + i + 24);
        }
        j.Sums[task % 1024] = Vector256.Sum(a0 + a1 + a2 + a3); // keeps the loads from being elided
    }
}
