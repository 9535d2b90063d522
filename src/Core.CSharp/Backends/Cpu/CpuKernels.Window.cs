using System.Numerics;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Cotangent.Backends.Cpu;

/// <summary>Sliding-window kernels: unfold (im2col) and its transpose fold (col2im).</summary>
internal sealed partial class CpuKernels
{
    public Storage Unfold(Strided x, Window w) => x.Storage.DType switch
    {
        DType.Float32 => UnfoldT<float>(x, w),
        DType.Float64 => UnfoldT<double>(x, w),
        DType.Int64 => UnfoldT<long>(x, w),
        var t => throw new DTypeMismatchException("unfold", $"unfold: no kernel for dtype {t.Name()}"),
    };

    // cols[n, (c·kh + i)·kw + j, oy·ow + ox] = x[n, c, oy·s + i − p, ox·s + j − p]
    static Storage UnfoldT<T>(Strided x, Window w) where T : unmanaged, INumber<T>
    {
        int n = x.Shape[0], c = x.Shape[1], h = x.Shape[2], wd = x.Shape[3];
        int oh = w.OutH(h), ow = w.OutW(wd), l = oh * ow, rows = c * w.Kh * w.Kw;
        var s = Walk.Span<T>(x);
        var o = Buffers.Zeroed<T>(n * rows * l);
        for (int b = 0; b < n; b++)
            for (int ch = 0; ch < c; ch++)
                for (int i = 0; i < w.Kh; i++)
                    for (int j = 0; j < w.Kw; j++)
                    {
                        int row = (ch * w.Kh + i) * w.Kw + j, dst = (b * rows + row) * l;
                        for (int oy = 0; oy < oh; oy++)
                        {
                            int y = oy * w.Stride + i - w.Padding;
                            if (y < 0 || y >= h) continue;
                            int src = ((b * c + ch) * h + y) * wd;
                            for (int ox = 0; ox < ow; ox++)
                            {
                                int xx = ox * w.Stride + j - w.Padding;
                                if (xx >= 0 && xx < wd) o[dst + oy * ow + ox] = s[src + xx];
                            }
                        }
                    }
        return new CpuStorage<T>(o);
    }

    public Storage Fold(Strided cols, int[] shape, Window w) => cols.Storage.DType switch
    {
        DType.Float32 => FoldT<float>(cols, shape, w),
        DType.Float64 => FoldT<double>(cols, shape, w),
        DType.Int64 => FoldT<long>(cols, shape, w),
        var t => throw new DTypeMismatchException("fold", $"fold: no kernel for dtype {t.Name()}"),
    };

    static Storage FoldT<T>(Strided cols, int[] shape, Window w) where T : unmanaged, INumber<T>
    {
        int n = shape[0], c = shape[1], h = shape[2], wd = shape[3];
        int oh = w.OutH(h), ow = w.OutW(wd), l = oh * ow, rows = c * w.Kh * w.Kw;
        var s = Walk.Span<T>(cols);
        var o = Buffers.Zeroed<T>(n * c * h * wd);
        for (int b = 0; b < n; b++)
            for (int ch = 0; ch < c; ch++)
                for (int i = 0; i < w.Kh; i++)
                    for (int j = 0; j < w.Kw; j++)
                    {
                        int row = (ch * w.Kh + i) * w.Kw + j, src = (b * rows + row) * l;
                        for (int oy = 0; oy < oh; oy++)
                        {
                            int y = oy * w.Stride + i - w.Padding;
                            if (y < 0 || y >= h) continue;
                            int dst = ((b * c + ch) * h + y) * wd;
                            for (int ox = 0; ox < ow; ox++)
                            {
                                int xx = ox * w.Stride + j - w.Padding;
                                if (xx >= 0 && xx < wd) o[dst + xx] += s[src + oy * ow + ox];
                            }
                        }
                    }
        return new CpuStorage<T>(o);
    }

    public (Storage Values, Storage Indices) MaxPool2d(Strided x, Window w) => x.Storage.DType switch
    {
        DType.Float32 => MaxPoolT<float>(x, w),
        DType.Float64 => MaxPoolT<double>(x, w),
        DType.Int64 => MaxPoolT<long>(x, w),
        var t => throw new DTypeMismatchException("max_pool2d", $"max_pool2d: no kernel for dtype {t.Name()}"),
    };

    /// <summary>
    /// Eight 2×2 windows of one output row at a time, without branches: on random data the
    /// three compares a window mispredict about half the time, and the scalar loop ran at
    /// ~17 ns an output (4 ms for LeNet's first pool at batch 256). Each pair of input rows
    /// is split into even and odd columns, the candidates are blended in scan order with the
    /// scalar rules (a NaN wins and stays), and the winning offsets become int64 positions.
    /// The last 1–7 outputs go the same way by masked loads and stores. Returns how many outputs
    /// of the row it wrote (all of them, or none without AVX2 or past the array; the rest go the scalar way).
    /// </summary>
    static unsafe int Pool2x2Avx2(float[] s, int row0, int wd, int q0, int ow, float[] o, long[] idx, int at)
    {
        if (!Avx2.IsSupported) return 0;
        if (row0 < 0 || at < 0 || row0 + wd + 2L * ow > s.Length || (long)at + ow > o.Length || (long)at + ow > idx.Length) return 0;
        int done = 0;
        fixed (float* ps = s, po = o)
        fixed (long* pi = idx)
        {
            var one = Vector256.Create(1);
            var below = Vector256.Create(wd);
            var belowRight = Vector256.Create(wd + 1);
            var twice = Vector256.Create(0, 2, 4, 6, 8, 10, 12, 14);
            for (; done + 8 <= ow; done += 8)
            {
                float* r0 = ps + row0 + 2 * done, r1 = r0 + wd;
                if (row0 + 2 * done + wd + 16 > s.Length) break;
                var (a, b) = EvenOdd(Avx.LoadVector256(r0), Avx.LoadVector256(r0 + 8));
                var (c, d) = EvenOdd(Avx.LoadVector256(r1), Avx.LoadVector256(r1 + 8));
                var m = a;
                var off = Vector256<int>.Zero;
                Take(ref m, ref off, b, one);
                Take(ref m, ref off, c, below);
                Take(ref m, ref off, d, belowRight);
                Avx.Store(po + at + done, m);
                var pos = Avx2.Add(Avx2.Add(off, twice), Vector256.Create(q0 + 2 * done));
                Avx.Store(pi + at + done, Avx2.ConvertToVector256Int64(pos.GetLower()));
                Avx.Store(pi + at + done + 4, Avx2.ConvertToVector256Int64(pos.GetUpper()));
            }
            if (done < ow && done + 8 > ow)
            {
                // the last 1–7 outputs (all of them in LeNet's second pool, 4 a row) the same way:
                // masked loads read only the 2·rest inputs of each row, masked stores write only
                // the rest; the scalar loop's compares mispredict about half the time
                int rest = ow - done;
                var lane = Vector256.Create(0, 1, 2, 3, 4, 5, 6, 7);
                var inLo = Avx2.CompareGreaterThan(Vector256.Create(2 * rest), lane).AsSingle();
                var inHi = Avx2.CompareGreaterThan(Vector256.Create(2 * rest - 8), lane).AsSingle();
                var outMask = Avx2.CompareGreaterThan(Vector256.Create(rest), lane);
                float* r0 = ps + row0 + 2 * done, r1 = r0 + wd;
                var (a, b) = EvenOdd(Avx.MaskLoad(r0, inLo), Avx.MaskLoad(r0 + 8, inHi));
                var (c, d) = EvenOdd(Avx.MaskLoad(r1, inLo), Avx.MaskLoad(r1 + 8, inHi));
                var m = a;
                var off = Vector256<int>.Zero;
                Take(ref m, ref off, b, one);
                Take(ref m, ref off, c, below);
                Take(ref m, ref off, d, belowRight);
                Avx.MaskStore(po + at + done, outMask.AsSingle(), m);
                var pos = Avx2.Add(Avx2.Add(off, twice), Vector256.Create(q0 + 2 * done));
                var lanes4 = Vector256.Create(0L, 1, 2, 3);
                Avx2.MaskStore(pi + at + done, Avx2.CompareGreaterThan(Vector256.Create((long)rest), lanes4), Avx2.ConvertToVector256Int64(pos.GetLower()));
                Avx2.MaskStore(pi + at + done + 4, Avx2.CompareGreaterThan(Vector256.Create((long)rest - 4), lanes4), Avx2.ConvertToVector256Int64(pos.GetUpper()));
                done = ow;
            }
        }
        return done;
    }

    /// <summary>The even and odd elements of 16 consecutive floats, each in order.</summary>
    static (Vector256<float> Even, Vector256<float> Odd) EvenOdd(Vector256<float> lo, Vector256<float> hi)
    {
        // per 128-bit lane: [lo0 lo2 hi0 hi2 | lo4 lo6 hi4 hi6]; then 64-bit pieces reordered 0 2 1 3
        var even = Avx.Shuffle(lo, hi, 0b10_00_10_00);
        var odd = Avx.Shuffle(lo, hi, 0b11_01_11_01);
        return (Avx2.Permute4x64(even.AsDouble(), 0b11_01_10_00).AsSingle(), Avx2.Permute4x64(odd.AsDouble(), 0b11_01_10_00).AsSingle());
    }

    /// <summary>m, off ← v, its offset where m is not NaN and v &gt; m or v is NaN: the scalar rule, lane-wise.</summary>
    static void Take(ref Vector256<float> m, ref Vector256<int> off, Vector256<float> v, Vector256<int> at)
    {
        var mNumber = Avx.CompareOrdered(m, m);
        var wins = Avx.And(mNumber, Avx.Or(Avx.CompareGreaterThan(v, m), Avx.CompareUnordered(v, v)));
        m = Avx.BlendVariable(m, v, wins);
        off = Avx.BlendVariable(off.AsSingle(), at.AsSingle(), wins).AsInt32();
    }

    /// <summary>One pass over each plane, planes shared over the cores; no columns materialised.</summary>
    static (Storage, Storage) MaxPoolT<T>(Strided x, Window w) where T : unmanaged, INumber<T>
    {
        int planes = x.Shape[0] * x.Shape[1], h = x.Shape[2], wd = x.Shape[3];
        int oh = w.OutH(h), ow = w.OutW(wd), l = oh * ow;
        var (s, off) = Walk.Segment<T>(x);
        var o = Buffers.Uninitialized<T>(planes * l);
        var idx = Buffers.Uninitialized<long>(planes * l);
        void Plane(int p)
        {
            int src = off + p * h * wd, dst = p * l;
            if (w.Kh == 2 && w.Kw == 2 && w.Stride == 2 && w.Padding == 0)
            {
                // LeNet's and VGG's pool: four reads, the same first-maximum and NaN rules
                for (int oy = 0; oy < oh; oy++)
                    for (int ox = typeof(T) == typeof(float) ? Pool2x2Avx2((float[])(object)s, src + 2 * oy * wd, wd, 2 * oy * wd, ow, (float[])(object)o, idx, dst + oy * ow) : 0; ox < ow; ox++)
                    {
                        int q = 2 * oy * wd + 2 * ox, best = q;
                        T m = s[src + q], b = s[src + q + 1], c = s[src + q + wd], d = s[src + q + wd + 1];
                        // written out: a loop over the three offsets ran at ~3 ns an element
                        if (!T.IsNaN(m) && (b > m || T.IsNaN(b))) { m = b; best = q + 1; }
                        if (!T.IsNaN(m) && (c > m || T.IsNaN(c))) { m = c; best = q + wd; }
                        if (!T.IsNaN(m) && (d > m || T.IsNaN(d))) { m = d; best = q + wd + 1; }
                        o[dst + oy * ow + ox] = m;
                        idx[dst + oy * ow + ox] = best;
                    }
                return;
            }
            for (int oy = 0; oy < oh; oy++)
            {
                int y0 = oy * w.Stride - w.Padding, ya = Math.Max(0, y0), yb = Math.Min(h, y0 + w.Kh);
                for (int ox = 0; ox < ow; ox++)
                {
                    int x0 = ox * w.Stride - w.Padding, xa = Math.Max(0, x0), xb = Math.Min(wd, x0 + w.Kw);
                    int best = ya * wd + xa;
                    T m = s[src + best];
                    for (int yy = ya; yy < yb && !T.IsNaN(m); yy++)
                        for (int xx = yy == ya ? xa + 1 : xa; xx < xb; xx++)
                        {
                            T v = s[src + yy * wd + xx];
                            if (v > m || T.IsNaN(v)) { m = v; best = yy * wd + xx; if (T.IsNaN(v)) break; }
                        }
                    o[dst + oy * ow + ox] = m;
                    idx[dst + oy * ow + ox] = best;
                }
            }
        }
        if ((long)planes * l * w.Kh * w.Kw < Walk.ParallelThreshold || planes < 2) for (int p = 0; p < planes; p++) Plane(p);
        else Team.For(planes, Plane);
        return (new CpuStorage<T>(o), new CpuStorage<long>(idx));
    }
}
