using System.Numerics;

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
                    for (int ox = 0; ox < ow; ox++)
                    {
                        int q = 2 * oy * wd + 2 * ox, best = q;
                        T m = s[src + q];
                        if (!T.IsNaN(m))
                            foreach (int d in (ReadOnlySpan<int>)[1, wd, wd + 1])
                            {
                                T v = s[src + q + d];
                                if (v > m || T.IsNaN(v)) { m = v; best = q + d; if (T.IsNaN(v)) break; }
                            }
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
