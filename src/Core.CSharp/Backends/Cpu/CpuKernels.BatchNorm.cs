using System.Numerics;
using System.Numerics.Tensors;

namespace Cotangent.Backends.Cpu;

/// <summary>
/// Batch normalisation forward and backward over x [N, C, L] (L the product of the axes after
/// the channels, 1 for [N, C]): a channel at a time, channels shared over the cores, each
/// channel's N rows of L elements read in place. Statistics are summed in float64 row by row.
/// </summary>
internal sealed partial class CpuKernels
{
    public bool FusesBatchNorm(DType dtype) => dtype is DType.Float32 or DType.Float64;

    public (Storage Y, Storage Mean, Storage Var) BatchNorm(Strided x, int channels, Strided? gamma, Strided? beta, double eps) => x.Storage.DType switch
    {
        DType.Float32 => BatchNormT<float>(x, channels, gamma, beta, eps),
        DType.Float64 => BatchNormT<double>(x, channels, gamma, beta, eps),
        var t => throw new DTypeMismatchException("batch_norm", $"batch_norm: no kernel for dtype {t.Name()}"),
    };

    public (Storage Dx, Storage DGamma, Storage DBeta) BatchNormBackward(Strided g, Strided x, Strided? gamma, int channels, double eps) => x.Storage.DType switch
    {
        DType.Float32 => BatchNormBackwardT<float>(g, x, gamma, channels, eps),
        DType.Float64 => BatchNormBackwardT<double>(g, x, gamma, channels, eps),
        var t => throw new DTypeMismatchException("batch_norm_backward", $"batch_norm_backward: no kernel for dtype {t.Name()}"),
    };

    /// <summary>Channels c in turn, or shared over the cores when the pass is long enough.</summary>
    static void Channels(int channels, long numel, Action<int> channel)
    {
        if (numel < Walk.ParallelThreshold || channels < 2) { for (int c = 0; c < channels; c++) channel(c); return; }
        Team.For(channels, channel);
    }

    /// <summary>
    /// Channel c's (x − μ)·r·scale written into o (o's rows are x's), returning μ, the biased σ²
    /// and r = 1/√(σ² + ε): two passes, the variance of the centred values.
    /// </summary>
    static (double Mean, double Var, T R) CentreChannel<T>(T[] s, int off, T[] o, int n, int channels, int l, int c, T eps, T scale)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        double sum = 0;
        for (int b = 0; b < n; b++) sum += double.CreateTruncating(TensorPrimitives.Sum(new ReadOnlySpan<T>(s, off + (b * channels + c) * l, l)));
        double count = (double)n * l, mean = sum / count, squares = 0;
        T m = T.CreateTruncating(mean);
        for (int b = 0; b < n; b++)
        {
            int at = (b * channels + c) * l;
            var row = o.AsSpan(at, l);
            TensorPrimitives.Subtract(new ReadOnlySpan<T>(s, off + at, l), m, row);
            squares += double.CreateTruncating(TensorPrimitives.SumOfSquares<T>(row));
        }
        double variance = squares / count;
        T r = T.One / T.Sqrt(T.CreateTruncating(variance) + eps), factor = r * scale;
        for (int b = 0; b < n; b++)
        {
            var row = o.AsSpan((b * channels + c) * l, l);
            TensorPrimitives.Multiply(row, factor, row);
        }
        return (mean, variance, r);
    }

    static (Storage, Storage, Storage) BatchNormT<T>(Strided x, int channels, Strided? gamma, Strided? beta, double eps) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (s, off) = Walk.Segment<T>(x);
        var o = Buffers.Uninitialized<T>(x.Numel);
        int n = x.Shape[0], l = channels == 0 || n == 0 ? 0 : x.Numel / (n * channels);
        T e = T.CreateTruncating(eps);
        T[]? g = gamma is { } gv ? Walk.Span<T>(gv).ToArray() : null, bb = beta is { } bv ? Walk.Span<T>(bv).ToArray() : null;
        var means = new T[channels];
        var vars = new T[channels];
        Channels(channels, x.Numel, c =>
        {
            var (mean, variance, _) = CentreChannel(s, off, o, n, channels, l, c, e, g is null ? T.One : g[c]);
            (means[c], vars[c]) = (T.CreateTruncating(mean), T.CreateTruncating(variance));
            if (bb is null) return;
            for (int b = 0; b < n; b++)
            {
                var row = o.AsSpan((b * channels + c) * l, l);
                TensorPrimitives.Add(row, bb[c], row);
            }
        });
        return (new CpuStorage<T>(o), new CpuStorage<T>(means), new CpuStorage<T>(vars));
    }

    /// <summary>
    /// Per channel, with x̂ recomputed into the output: Σ g and Σ g·x̂ in float64 (they are ∂β and
    /// ∂γ), then the output overwritten by γ·r·(g − mean(g) − x̂·mean(g·x̂)) in in-cache passes.
    /// </summary>
    static (Storage, Storage, Storage) BatchNormBackwardT<T>(Strided gv, Strided x, Strided? gamma, int channels, double eps) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (s, off) = Walk.Segment<T>(x);
        var (g, goff) = Walk.Segment<T>(gv);
        var o = Buffers.Uninitialized<T>(x.Numel);
        int n = x.Shape[0], l = channels == 0 || n == 0 ? 0 : x.Numel / (n * channels);
        T e = T.CreateTruncating(eps);
        T[]? gm = gamma is { } gmv ? Walk.Span<T>(gmv).ToArray() : null;
        var dgamma = new T[channels];
        var dbeta = new T[channels];
        Channels(channels, x.Numel, c =>
        {
            var (_, _, r) = CentreChannel(s, off, o, n, channels, l, c, e, T.One);     // o holds x̂
            double sum = 0, dot = 0, count = (double)n * l;
            for (int b = 0; b < n; b++)
            {
                int at = (b * channels + c) * l;
                var gr = new ReadOnlySpan<T>(g, goff + at, l);
                sum += double.CreateTruncating(TensorPrimitives.Sum(gr));
                dot += double.CreateTruncating(TensorPrimitives.Dot(gr, o.AsSpan(at, l)));
            }
            (dgamma[c], dbeta[c]) = (T.CreateTruncating(dot), T.CreateTruncating(sum));
            T mean = T.CreateTruncating(sum / count), m = T.CreateTruncating(dot / count), scale = gm is null ? r : r * gm[c];
            for (int b = 0; b < n; b++)
            {
                int at = (b * channels + c) * l;
                var dst = o.AsSpan(at, l);
                TensorPrimitives.MultiplyAdd(dst, -m, new ReadOnlySpan<T>(g, goff + at, l), dst);   // g − x̂·m
                TensorPrimitives.Subtract(dst, mean, dst);
                TensorPrimitives.Multiply(dst, scale, dst);                                     // ·γr
            }
        });
        return (new CpuStorage<T>(o), new CpuStorage<T>(dgamma), new CpuStorage<T>(dbeta));
    }
}
