using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Rbee.Worker.Kernels;

/// <summary>Vectorised F16/BF16 → F32 conversion and F32 dot products (portable <see cref="Vector256"/>).</summary>
internal static unsafe class FastConvert
{
    /// <summary>
    /// Half → float without a lookup table: shifting the 15 magnitude bits into a float's place and multiplying by
    /// 2^112 rebases the exponent and normalises subnormals in one step (exact for every finite half; weights hold
    /// no inf/NaN, and the scalar reference stays <c>(float)Half</c>).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void HalfToSingle(ushort* src, Span<float> dst)
    {
        var n = dst.Length;
        var i = 0;
        fixed (float* d = dst)
        {
            if (Vector256.IsHardwareAccelerated)
            {
                var scale = Vector256.Create(5.192297e33f); // 2^112
                for (; i + 8 <= n; i += 8)
                    Vector256.Store(HalfToSingle8(Vector128.Load(src + i), scale), d + i);
            }
            for (; i < n; i++) d[i] = (float)BitConverter.UInt16BitsToHalf(src[i]);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> HalfToSingle8(Vector128<ushort> h, Vector256<float> scale112)
    {
        var w = Vector256.Create(Vector128.WidenLower(h), Vector128.WidenUpper(h));
        var mag = (w & Vector256.Create(0x7FFFu)) << 13;
        var f = mag.AsSingle() * scale112;
        return (f.AsUInt32() | ((w & Vector256.Create(0x8000u)) << 16)).AsSingle();
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void BFloat16ToSingle(ushort* src, Span<float> dst)
    {
        var n = dst.Length;
        var i = 0;
        fixed (float* d = dst)
        {
            if (Vector256.IsHardwareAccelerated)
            {
                for (; i + 8 <= n; i += 8)
                {
                    var h = Vector128.Load(src + i);
                    var w = Vector256.Create(Vector128.WidenLower(h), Vector128.WidenUpper(h));
                    Vector256.Store((w << 16).AsSingle(), d + i);
                }
            }
            for (; i < n; i++) d[i] = BitConverter.Int32BitsToSingle(src[i] << 16);
        }
    }

    /// <summary>Σ a[i]·b[i] with four independent FMA chains.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float Dot(float* a, float* b, int n)
    {
        var i = 0;
        float s = 0;
        if (Vector256.IsHardwareAccelerated && n >= 32)
        {
            Vector256<float> s0 = default, s1 = default, s2 = default, s3 = default;
            for (; i + 32 <= n; i += 32)
            {
                s0 = Vector256.FusedMultiplyAdd(Vector256.Load(a + i), Vector256.Load(b + i), s0);
                s1 = Vector256.FusedMultiplyAdd(Vector256.Load(a + i + 8), Vector256.Load(b + i + 8), s1);
                s2 = Vector256.FusedMultiplyAdd(Vector256.Load(a + i + 16), Vector256.Load(b + i + 16), s2);
                s3 = Vector256.FusedMultiplyAdd(Vector256.Load(a + i + 24), Vector256.Load(b + i + 24), s3);
            }
            for (; i + 8 <= n; i += 8) s0 = Vector256.FusedMultiplyAdd(Vector256.Load(a + i), Vector256.Load(b + i), s0);
            s = Vector256.Sum((s0 + s1) + (s2 + s3));
        }
        for (; i < n; i++) s += a[i] * b[i];
        return s;
    }
}
