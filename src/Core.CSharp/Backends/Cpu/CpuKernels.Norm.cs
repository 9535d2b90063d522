using System.Numerics;
using System.Numerics.Tensors;

namespace Cotangent.Backends.Cpu;

/// <summary>Layer normalisation forward and backward, a row at a time, rows shared over the cores.</summary>
internal sealed partial class CpuKernels
{
    public Storage LayerNorm(Strided x, int d, Strided? gamma, Strided? beta, double eps) => x.Storage.DType switch
    {
        DType.Float32 => LayerNormT<float>(x, d, gamma, beta, eps),
        DType.Float64 => LayerNormT<double>(x, d, gamma, beta, eps),
        var t => throw new DTypeMismatchException("layer_norm", $"layer_norm: no kernel for dtype {t.Name()}"),
    };

    /// <summary>Rows [start, start + count) of a pass, the rows split so each core gets a run of whole rows.</summary>
    static void Rows(int rows, int d, Action<int> row)
    {
        if ((long)rows * d < Walk.ParallelThreshold || rows < 2) { for (int r = 0; r < rows; r++) row(r); return; }
        Team.For(rows, row);
    }

    /// <summary>(row − μ)·r into o, returning r = 1/√(σ² + ε): two passes, the variance of the centred row.</summary>
    static T Normalize<T>(ReadOnlySpan<T> row, Span<T> o, T eps) where T : unmanaged, IFloatingPointIeee754<T>
    {
        T n = T.CreateTruncating(row.Length);
        T mean = TensorPrimitives.Sum(row) / n;
        TensorPrimitives.Subtract(row, mean, o);
        T r = T.One / T.Sqrt(TensorPrimitives.SumOfSquares<T>(o) / n + eps);
        TensorPrimitives.Multiply(o, r, o);
        return r;
    }

    static Storage LayerNormT<T>(Strided x, int d, Strided? gamma, Strided? beta, double eps) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (s, off) = Walk.Segment<T>(x);
        var o = Buffers.Uninitialized<T>(x.Numel);
        int rows = d == 0 ? 0 : o.Length / d;
        T e = T.CreateTruncating(eps);
        T[]? g = gamma is { } gv ? Walk.Span<T>(gv).ToArray() : null, b = beta is { } bv ? Walk.Span<T>(bv).ToArray() : null;
        Rows(rows, d, r =>
        {
            var dst = o.AsSpan(r * d, d);
            Normalize(new ReadOnlySpan<T>(s, off + r * d, d), dst, e);
            if (g is not null) TensorPrimitives.Multiply(dst, g, dst);
            if (b is not null) TensorPrimitives.Add(dst, b, dst);
        });
        return new CpuStorage<T>(o);
    }

    public Storage LayerNormBackward(Strided gh, Strided x, int d, double eps) => x.Storage.DType switch
    {
        DType.Float32 => LayerNormBackwardT<float>(gh, x, d, eps),
        DType.Float64 => LayerNormBackwardT<double>(gh, x, d, eps),
        var t => throw new DTypeMismatchException("layer_norm_backward", $"layer_norm_backward: no kernel for dtype {t.Name()}"),
    };

    static Storage LayerNormBackwardT<T>(Strided gh, Strided x, int d, double eps) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (s, off) = Walk.Segment<T>(x);
        var (g, goff) = Walk.Segment<T>(gh);
        var o = Buffers.Uninitialized<T>(x.Numel);
        int rows = d == 0 ? 0 : o.Length / d;
        T e = T.CreateTruncating(eps), n = T.CreateTruncating(d);
        Rows(rows, d, r =>
        {
            var dst = o.AsSpan(r * d, d);
            var gr = new ReadOnlySpan<T>(g, goff + r * d, d);
            T rs = Normalize(new ReadOnlySpan<T>(s, off + r * d, d), dst, e);   // dst holds x̂
            T mean = TensorPrimitives.Sum(gr) / n, m = TensorPrimitives.Dot(gr, dst) / n;
            TensorPrimitives.MultiplyAdd(dst, -m, gr, dst);                      // gh − x̂·m
            TensorPrimitives.Subtract(dst, mean, dst);
            TensorPrimitives.Multiply(dst, rs, dst);
        });
        return new CpuStorage<T>(o);
    }

    public bool FusesLayerNormGrads(DType dtype) => dtype is DType.Float32 or DType.Float64;

    public (Storage Dx, Storage DGamma, Storage DBeta) LayerNormGrads(Strided g, Strided x, int d, Strided? gamma, double eps) => x.Storage.DType switch
    {
        DType.Float32 => LayerNormGradsT<float>(g, x, d, gamma, eps),
        DType.Float64 => LayerNormGradsT<double>(g, x, d, gamma, eps),
        var t => throw new DTypeMismatchException("layer_norm_backward", $"layer_norm_backward: no kernel for dtype {t.Name()}"),
    };

    /// <summary>
    /// Rows in parts of 64, spread over the cores: x̂ into the output row, g·x̂ and g added into
    /// the part's column sums, then the row overwritten by ∂x. A part's sums gather 32 rows in
    /// the element type, then go into float64, and the parts' sums are added in order, so ∂γ
    /// and ∂β come out the same bits on any number of cores.
    /// </summary>
    static (Storage, Storage, Storage) LayerNormGradsT<T>(Strided gv, Strided x, int d, Strided? gamma, double eps) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (s, off) = Walk.Segment<T>(x);
        var (g, goff) = Walk.Segment<T>(gv);
        var o = Buffers.Uninitialized<T>(x.Numel);
        int rows = d == 0 ? 0 : o.Length / d;
        T e = T.CreateTruncating(eps), n = T.CreateTruncating(d);
        T[]? gm = gamma is { } gmv ? Walk.Span<T>(gmv).ToArray() : null;
        const int partRows = 64;
        int parts = (rows + partRows - 1) / partRows;
        var sums = new (double[] Gamma, double[] Beta)[parts];
        Action<int> part = t =>
        {
            int r0 = t * partRows, r1 = Math.Min(rows, r0 + partRows);
            var (sg, sb) = (new double[d], new double[d]);
            var (bg, bb) = (new T[d], new T[d]);
            var scaled = gm is null ? null : new T[d];
            for (int r = r0; r < r1; r++)
            {
                var dst = o.AsSpan(r * d, d);
                var gr = new ReadOnlySpan<T>(g, goff + r * d, d);
                T rs = Normalize(new ReadOnlySpan<T>(s, off + r * d, d), dst, e);   // dst holds x̂
                TensorPrimitives.MultiplyAdd(gr, dst, bg, bg);
                TensorPrimitives.Add(gr, bb, bb);
                ReadOnlySpan<T> gh = gr;
                if (scaled is not null)
                {
                    TensorPrimitives.Multiply(gr, gm, scaled);
                    gh = scaled;
                }
                T mean = TensorPrimitives.Sum(gh) / n, m = TensorPrimitives.Dot(gh, dst) / n;
                TensorPrimitives.MultiplyAdd(dst, -m, gh, dst);                      // gh − x̂·m
                TensorPrimitives.Subtract(dst, mean, dst);
                TensorPrimitives.Multiply(dst, rs, dst);
                if ((r - r0) % 32 == 31 || r == r1 - 1)
                {
                    for (int j = 0; j < d; j++)
                    {
                        sg[j] += double.CreateTruncating(bg[j]);
                        sb[j] += double.CreateTruncating(bb[j]);
                    }
                    Array.Clear(bg);
                    Array.Clear(bb);
                }
            }
            sums[t] = (sg, sb);
        };
        if ((long)rows * d < Walk.ParallelThreshold) for (int t = 0; t < parts; t++) part(t);
        else Team.For(parts, part);
        var (dgamma, dbeta) = (new T[d], new T[d]);
        for (int j = 0; j < d; j++)
        {
            double a = 0, b = 0;
            foreach (var (sg, sb) in sums) (a, b) = (a + sg[j], b + sb[j]);
            (dgamma[j], dbeta[j]) = (T.CreateTruncating(a), T.CreateTruncating(b));
        }
        return (new CpuStorage<T>(o), new CpuStorage<T>(dgamma), new CpuStorage<T>(dbeta));
    }

    public Storage SoftmaxBackward(Strided g, Strided y) => y.Storage.DType switch
    {
        DType.Float32 => SoftmaxBackwardT<float>(g, y),
        DType.Float64 => SoftmaxBackwardT<double>(g, y),
        var t => throw new DTypeMismatchException("softmax_backward", $"softmax_backward: no kernel for dtype {t.Name()}"),
    };

    static Storage SoftmaxBackwardT<T>(Strided g, Strided y) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (gs, go) = Walk.Segment<T>(g);
        var (ys, yo) = Walk.Segment<T>(y);
        var o = Buffers.Uninitialized<T>(y.Numel);
        int d = y.Rank == 0 ? 1 : y.Shape[^1], rows = d == 0 ? 0 : o.Length / d;
        Rows(rows, d, r =>
        {
            var gr = new ReadOnlySpan<T>(gs, go + r * d, d);
            var yr = new ReadOnlySpan<T>(ys, yo + r * d, d);
            var dst = o.AsSpan(r * d, d);
            TensorPrimitives.Subtract(gr, TensorPrimitives.Dot(gr, yr), dst);
            TensorPrimitives.Multiply(dst, yr, dst);
        });
        return new CpuStorage<T>(o);
    }
}
