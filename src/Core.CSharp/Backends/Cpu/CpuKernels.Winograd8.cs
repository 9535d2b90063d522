using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Cotangent.Backends.Cpu;

/// <summary>
/// Winograd's three transforms eight tiles at a time, for machines with AVX2 and no AVX-512:
/// the same arithmetic as the 16-tile ones (CpuKernels.Winograd.cs) in the same order, with
/// the even and odd columns split by shuffles, masked loads for the padding, and plain stores
/// except in a row's last chunk (AVX's masked stores are slow on AMD's cores).
/// </summary>
internal sealed partial class CpuKernels
{
    /// <summary>Lanes t of a run of 8 at x = from that lie inside a row of wd: 0 ≤ from + t &lt; wd.</summary>
    static Vector256<float> Inside8(int from, int wd) =>
        Vector256.GreaterThanOrEqual(ImageColumns.Lanes8, Vector256.Create((float)-from)) & Vector256.LessThan(ImageColumns.Lanes8, Vector256.Create((float)(wd - from)));

    /// <summary>dst[0..8) = v, all of it or the lanes of <paramref name="keep"/> when <paramref name="all"/> is false.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static unsafe void Put8(float* dst, bool all, Vector256<float> keep, Vector256<float> v)
    {
        if (all) v.Store(dst);
        else Avx.MaskStore(dst, keep, v);
    }

    /// <summary><see cref="InputTransform"/> eight tiles at a time.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static unsafe void InputTransform8(float[] xs, int off, int cin, int h, int wd, int pad, int ty0, int rows, int tw, float[] v, int tiles)
    {
        if (off < 0 || (long)off + (long)cin * h * wd > xs.Length || 16L * cin * tiles > v.Length)
            throw new IndexOutOfRangeException("conv2d: an input tile outside the image");
        var zero = Vector256<float>.Zero;
        var d = stackalloc Vector256<float>[16];
        long plane16 = (long)cin * tiles;
        fixed (float* px = xs, pv = v)
            for (int tx0 = 0; tx0 < tw; tx0 += 8)
            {
                int x0 = 2 * tx0 - pad;
                Vector256<float> m0 = Inside8(x0, wd), m1 = Inside8(x0 + 8, wd), m2 = Inside8(x0 + 2, wd), m3 = Inside8(x0 + 10, wd);
                bool all = tw - tx0 >= 8;
                var keep = Vector256.LessThan(ImageColumns.Lanes8, Vector256.Create((float)(tw - tx0)));
                for (int ch = 0; ch < cin; ch++)
                {
                    float* plane = px + off + (long)ch * h * wd;
                    for (int r = 0; r < rows; r++)
                    {
                        int ty = ty0 + r;
                        for (int i = 0; i < 4; i++)
                        {
                            int yy = 2 * ty - pad + i;
                            if ((uint)yy >= (uint)h)
                            {
                                d[4 * i] = d[4 * i + 1] = d[4 * i + 2] = d[4 * i + 3] = zero;
                                continue;
                            }
                            float* row = plane + (long)yy * wd + x0;
                            (d[4 * i], d[4 * i + 1]) = EvenOdd(Avx.MaskLoad(row, m0), Avx.MaskLoad(row + 8, m1));
                            (d[4 * i + 2], d[4 * i + 3]) = EvenOdd(Avx.MaskLoad(row + 2, m2), Avx.MaskLoad(row + 10, m3));
                        }
                        for (int k = 0; k < 4; k++)
                        {
                            var t0 = d[k] - d[8 + k];
                            var t1 = d[4 + k] + d[8 + k];
                            var t2 = d[8 + k] - d[4 + k];
                            var t3 = d[4 + k] - d[12 + k];
                            d[k] = t0;
                            d[4 + k] = t1;
                            d[8 + k] = t2;
                            d[12 + k] = t3;
                        }
                        float* dst = pv + (long)ch * tiles + r * tw + tx0;
                        for (int i = 0; i < 4; i++)
                        {
                            Vector256<float> a = d[4 * i], b = d[4 * i + 1], c = d[4 * i + 2], e = d[4 * i + 3];
                            Put8(dst + (4 * i + 0) * plane16, all, keep, a - c);
                            Put8(dst + (4 * i + 1) * plane16, all, keep, b + c);
                            Put8(dst + (4 * i + 2) * plane16, all, keep, c - b);
                            Put8(dst + (4 * i + 3) * plane16, all, keep, b - e);
                        }
                    }
                }
            }
    }

    /// <summary><see cref="OutputTransform"/> eight tiles at a time.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static unsafe void OutputTransform8(float[] m, int cout, int tiles, int ty0, int rows, int tw, float[]? bias, float[] y, int off, int oh, int ow)
    {
        if (off < 0 || (long)off + (long)cout * oh * ow > y.Length || 16L * cout * tiles > m.Length)
            throw new IndexOutOfRangeException("conv2d: an output tile outside the image");
        var lanes = ImageColumns.Lanes8;
        var s = stackalloc Vector256<float>[8];
        long plane16 = (long)cout * tiles;
        fixed (float* pm = m, py = y)
            for (int co = 0; co < cout; co++)
            {
                var b = Vector256.Create(bias is null ? 0f : bias[co]);
                for (int r = 0; r < rows; r++)
                {
                    int oy = 2 * (ty0 + r);
                    for (int tx0 = 0; tx0 < tw; tx0 += 8)
                    {
                        float* src = pm + (long)co * tiles + r * tw + tx0;
                        bool full = tw - tx0 >= 8;
                        var valid = Vector256.LessThan(lanes, Vector256.Create((float)(tw - tx0)));
                        for (int j = 0; j < 4; j++)
                        {
                            Vector256<float> Get(int xi) => full ? Vector256.Load(src + xi * plane16) : Avx.MaskLoad(src + xi * plane16, valid);
                            Vector256<float> m0 = Get(j), m1 = Get(4 + j), m2 = Get(8 + j), m3 = Get(12 + j);
                            s[j] = m0 + m1 + m2;
                            s[4 + j] = m1 - m2 - m3;
                        }
                        int x = 2 * tx0;
                        bool whole = x + 16 <= ow;
                        var lo = Vector256.LessThan(lanes, Vector256.Create((float)(ow - x)));
                        var hi = Vector256.LessThan(lanes, Vector256.Create((float)(ow - x - 8)));
                        for (int i = 0; i < 2 && oy + i < oh; i++)
                        {
                            Vector256<float> a = s[4 * i], c = s[4 * i + 1], e = s[4 * i + 2], f = s[4 * i + 3];
                            var left = a + c + e + b;
                            var right = c - e - f + b;
                            // interleave: l0 r0 l1 r1 … in two runs of 8
                            var low = Avx.UnpackLow(left, right);
                            var high = Avx.UnpackHigh(left, right);
                            float* dst = py + off + ((long)co * oh + oy + i) * ow + x;
                            Put8(dst, whole, lo, Avx.Permute2x128(low, high, 0x20));
                            Put8(dst + 8, whole, hi, Avx.Permute2x128(low, high, 0x31));
                        }
                    }
                }
            }
    }

    /// <summary><see cref="GradTransform"/> eight tiles at a time.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static unsafe void GradTransform8(float[] gs, int off, int cout, int oh, int ow, int ty0, int rows, int tw, float[] yh, int tiles)
    {
        if (off < 0 || (long)off + (long)cout * oh * ow > gs.Length || 16L * cout * tiles > yh.Length)
            throw new IndexOutOfRangeException("conv2d_weight_grad: a gradient tile outside the output");
        var lanes = ImageColumns.Lanes8;
        var zero = Vector256<float>.Zero;
        long plane16 = (long)cout * tiles;
        fixed (float* pg = gs, py = yh)
            for (int tx0 = 0; tx0 < tw; tx0 += 8)
            {
                int x = 2 * tx0;
                var lo = Vector256.LessThan(lanes, Vector256.Create((float)(ow - x)));
                var hi = Vector256.LessThan(lanes, Vector256.Create((float)(ow - x - 8)));
                bool all = tw - tx0 >= 8;
                var keep = Vector256.LessThan(lanes, Vector256.Create((float)(tw - tx0)));
                for (int co = 0; co < cout; co++)
                    for (int r = 0; r < rows; r++)
                    {
                        int oy = 2 * (ty0 + r);
                        float* row0 = pg + off + ((long)co * oh + oy) * ow + x;
                        var (tp, tq) = EvenOdd(Avx.MaskLoad(row0, lo), Avx.MaskLoad(row0 + 8, hi));
                        var (ts, tu) = oy + 1 < oh ? EvenOdd(Avx.MaskLoad(row0 + ow, lo), Avx.MaskLoad(row0 + ow + 8, hi)) : (zero, zero);
                        float* dst = py + (long)co * tiles + r * tw + tx0;
                        GradRow8(dst, plane16, all, keep, tp, tq);
                        GradRow8(dst + 4 * plane16, plane16, all, keep, tp + ts, tq + tu);
                        GradRow8(dst + 8 * plane16, plane16, all, keep, tp - ts, tq - tu);
                        GradRow8(dst + 12 * plane16, plane16, all, keep, -ts, -tu);
                    }
            }
    }

    /// <summary><see cref="GradRow"/> for eight tiles.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static unsafe void GradRow8(float* dst, long plane, bool all, Vector256<float> keep, Vector256<float> a, Vector256<float> b)
    {
        Put8(dst, all, keep, a);
        Put8(dst + plane, all, keep, a + b);
        Put8(dst + 2 * plane, all, keep, a - b);
        Put8(dst + 3 * plane, all, keep, -b);
    }
}
