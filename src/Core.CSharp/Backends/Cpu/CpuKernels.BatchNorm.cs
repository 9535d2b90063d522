using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;

namespace Cotangent.Backends.Cpu;

/// <summary>
/// Batch normalisation forward and backward over x [N, C, L] (L the product of the axes after
/// the channels, 1 for [N, C]): a channel at a time, channels shared over the cores, each
/// channel's N rows of L elements read in place, each pass one vector loop over them (while a
/// channel's N·L elements fit in L2 they stay there between its passes; larger ones stream from
/// memory each pass). Statistics are summed in float64 row by row.
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
    /// Channel c's mean and biased variance over its n rows of l at s[off + (b·channels + c)·l],
    /// and the mean rounded to T (M) that the passes after subtract: two passes, the variance
    /// of the centred values; the sums in float64 row by row.
    /// </summary>
    static (double Mean, double Var, T M) ChannelStats<T>(T[] s, int off, int n, int channels, int l, int c) where T : unmanaged, IFloatingPointIeee754<T>
    {
        double sum = 0;
        for (int b = 0; b < n; b++) sum += double.CreateTruncating(TensorPrimitives.Sum(new ReadOnlySpan<T>(s, off + (b * channels + c) * l, l)));
        double count = (double)n * l, mean = sum / count, squares = 0;
        T m = T.CreateTruncating(mean);
        for (int b = 0; b < n; b++) squares += double.CreateTruncating(SquaredDeviations(new ReadOnlySpan<T>(s, off + (b * channels + c) * l, l), m));
        return (mean, squares / count, m);
    }

    /// <summary>Σ (x − m)², two vector accumulators.</summary>
    static T SquaredDeviations<T>(ReadOnlySpan<T> x, T m) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var v = MemoryMarshal.Cast<T, Vector<T>>(x);
        Vector<T> vm = new(m), a0 = Vector<T>.Zero, a1 = Vector<T>.Zero;
        int i = 0;
        for (; i + 1 < v.Length; i += 2)
        {
            var (d0, d1) = (v[i] - vm, v[i + 1] - vm);
            (a0, a1) = (a0 + d0 * d0, a1 + d1 * d1);
        }
        if (i < v.Length) a0 += (v[i] - vm) * (v[i] - vm);
        T sum = Vector.Sum(a0 + a1);
        for (int j = v.Length * Vector<T>.Count; j < x.Length; j++) sum += (x[j] - m) * (x[j] - m);
        return sum;
    }

    /// <summary>(Σ g, Σ g·(x − m)) in one pass over both.</summary>
    static (T Sum, T Dot) SumAndCentredDot<T>(ReadOnlySpan<T> g, ReadOnlySpan<T> x, T m) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var vg = MemoryMarshal.Cast<T, Vector<T>>(g);
        var vx = MemoryMarshal.Cast<T, Vector<T>>(x);
        Vector<T> vm = new(m), sum = Vector<T>.Zero, dot = Vector<T>.Zero;
        for (int i = 0; i < vg.Length; i++) (sum, dot) = (sum + vg[i], dot + vg[i] * (vx[i] - vm));
        var (s, d) = (Vector.Sum(sum), Vector.Sum(dot));
        for (int j = vg.Length * Vector<T>.Count; j < g.Length; j++) (s, d) = (s + g[j], d + g[j] * (x[j] - m));
        return (s, d);
    }

    /// <summary>o = (x − m)·a + b.</summary>
    static void CentredAffine<T>(ReadOnlySpan<T> x, T m, T a, T b, Span<T> o) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var vx = MemoryMarshal.Cast<T, Vector<T>>(x);
        var vo = MemoryMarshal.Cast<T, Vector<T>>(o);
        Vector<T> vm = new(m), va = new(a), vb = new(b);
        for (int i = 0; i < vx.Length; i++) vo[i] = (vx[i] - vm) * va + vb;
        for (int j = vx.Length * Vector<T>.Count; j < x.Length; j++) o[j] = (x[j] - m) * a + b;
    }

    /// <summary>o = (g − mg)·s + (x − m)·k: batch norm's input pullback with x̂ = (x − m)·r folded into k.</summary>
    static void Pullback<T>(ReadOnlySpan<T> g, T mg, T s, ReadOnlySpan<T> x, T m, T k, Span<T> o) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var vg = MemoryMarshal.Cast<T, Vector<T>>(g);
        var vx = MemoryMarshal.Cast<T, Vector<T>>(x);
        var vo = MemoryMarshal.Cast<T, Vector<T>>(o);
        Vector<T> vmg = new(mg), vs = new(s), vm = new(m), vk = new(k);
        for (int i = 0; i < vg.Length; i++) vo[i] = (vg[i] - vmg) * vs + (vx[i] - vm) * vk;
        for (int j = vg.Length * Vector<T>.Count; j < g.Length; j++) o[j] = (g[j] - mg) * s + (x[j] - m) * k;
    }

    /// <summary>Per channel: the statistics (two read passes), then (x − μ)·r·γ + β in one.</summary>
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
            var (mean, variance, m) = ChannelStats(s, off, n, channels, l, c);
            (means[c], vars[c]) = (T.CreateTruncating(mean), T.CreateTruncating(variance));
            T r = T.One / T.Sqrt(T.CreateTruncating(variance) + e), a = g is null ? r : r * g[c], b = bb is null ? T.Zero : bb[c];
            for (int i = 0; i < n; i++)
            {
                int at = (i * channels + c) * l;
                CentredAffine(new ReadOnlySpan<T>(s, off + at, l), m, a, b, o.AsSpan(at, l));
            }
        });
        return (new CpuStorage<T>(o), new CpuStorage<T>(means), new CpuStorage<T>(vars));
    }

    /// <summary>
    /// Per channel: the statistics again (two read passes), Σ g and Σ g·(x − μ) in one (r times
    /// the second is Σ g·x̂: ∂γ; the first is ∂β, both in float64 row by row), then
    /// γ·r·(g − mean(g) − x̂·mean(g·x̂)) in one pass with x̂ never written.
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
            var (_, variance, m) = ChannelStats(s, off, n, channels, l, c);
            T r = T.One / T.Sqrt(T.CreateTruncating(variance) + e);
            double sum = 0, dot = 0, count = (double)n * l;
            for (int b = 0; b < n; b++)
            {
                int at = (b * channels + c) * l;
                var (rs, rd) = SumAndCentredDot(new ReadOnlySpan<T>(g, goff + at, l), new ReadOnlySpan<T>(s, off + at, l), m);
                (sum, dot) = (sum + double.CreateTruncating(rs), dot + double.CreateTruncating(rd));
            }
            double rd64 = double.CreateTruncating(r), gx = dot * rd64;      // Σ g·x̂
            (dgamma[c], dbeta[c]) = (T.CreateTruncating(gx), T.CreateTruncating(sum));
            T mg = T.CreateTruncating(sum / count), scale = gm is null ? r : r * gm[c];
            T k = -scale * r * T.CreateTruncating(gx / count);                // −γr·mean(g·x̂)·r, for x − μ
            for (int b = 0; b < n; b++)
            {
                int at = (b * channels + c) * l;
                Pullback(new ReadOnlySpan<T>(g, goff + at, l), mg, scale, new ReadOnlySpan<T>(s, off + at, l), m, k, o.AsSpan(at, l));
            }
        });
        return (new CpuStorage<T>(o), new CpuStorage<T>(dgamma), new CpuStorage<T>(dbeta));
    }
}
