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
}
