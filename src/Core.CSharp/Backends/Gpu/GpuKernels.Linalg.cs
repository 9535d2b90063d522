using ILGPU;
using ILGPU.Runtime;

namespace Cotangent.Backends.Gpu;

/// <summary>
/// The batched factorisations on the device: a working copy of the matrices, scratch for every
/// matrix at once, one thread a matrix. Parallel over the batch only: a single large matrix
/// runs on one thread (the op layer's cost, stated in the README).
/// </summary>
internal sealed partial class GpuKernels
{
    static (int Count, int M, int N) Batch(Strided a) => (ShapeMath.Numel(a.Shape.AsSpan(0, a.Rank - 2)), a.Shape[^2], a.Shape[^1]);

    public (Storage X, Storage Status) Solve(Strided a, Strided b)
    {
        var (count, n, _) = Batch(a);
        int k = b.Shape[^1];
        var x = Copy<double>(b);
        var status = NewStorage<long>(DType.Int64, count);
        if (count == 0) return (x, status);
        var w = Copy<double>(a);
        try
        {
            var kernel = dev.Kernel(Key("linalg_solve", typeof(double)),
                acc => acc.LoadStreamKernel<ArrayView<double>, ArrayView<double>, ArrayView<long>, int, int, int>(DeviceCode.LinalgSolve));
            using (dev.Enter()) kernel(dev.Config(count), w.View, x.View, status.View, count, n, k);
        }
        finally { w.Release(); }
        return (x, status);
    }

    public Storage LuPivots(Strided a)
    {
        var (count, n, _) = Batch(a);
        var o = NewStorage<double>(DType.Float64, count * (n + 1));
        if (count == 0) return o;
        var w = Copy<double>(a);
        try
        {
            var kernel = dev.Kernel(Key("linalg_pivots", typeof(double)),
                acc => acc.LoadStreamKernel<ArrayView<double>, ArrayView<double>, int, int>(DeviceCode.LinalgPivots));
            using (dev.Enter()) kernel(dev.Config(count), w.View, o.View, count, n);
        }
        finally { w.Release(); }
        return o;
    }

    public (Storage L, Storage Status) Cholesky(Strided a)
    {
        var (count, n, _) = Batch(a);
        var l = NewStorage<double>(DType.Float64, count * n * n);
        var status = NewStorage<long>(DType.Int64, count);
        if (count == 0) return (l, status);
        var w = Copy<double>(a);
        try
        {
            var kernel = dev.Kernel(Key("linalg_cholesky", typeof(double)),
                acc => acc.LoadStreamKernel<ArrayView<double>, ArrayView<double>, ArrayView<long>, int, int>(DeviceCode.LinalgCholesky));
            using (dev.Enter()) kernel(dev.Config(count), w.View, l.View, status.View, count, n);
        }
        finally { w.Release(); }
        return (l, status);
    }

    public Storage Qr(Strided a)
    {
        var (count, m, n) = Batch(a);
        int k = Math.Min(m, n);
        return Packed(a, m * k + k * n, (int)DenseLinalg.QrScratch(m, n),
            (w, s, o, size, per) => dev.Kernel(Key("linalg_qr", typeof(double)),
                acc => acc.LoadStreamKernel<ArrayView<double>, ArrayView<double>, ArrayView<double>, int, int, int, int, int>(DeviceCode.LinalgQr))(
                dev.Config(count), w, s, o, count, m, n, size, per));
    }

    public Storage Eigh(Strided a)
    {
        var (count, n, _) = Batch(a);
        return Packed(a, n + n * n, (int)DenseLinalg.EighScratch(n),
            (w, s, o, size, per) => dev.Kernel(Key("linalg_eigh", typeof(double)),
                acc => acc.LoadStreamKernel<ArrayView<double>, ArrayView<double>, ArrayView<double>, int, int, int, int>(DeviceCode.LinalgEigh))(
                dev.Config(count), w, s, o, count, n, size, per));
    }

    public Storage Svd(Strided a)
    {
        var (count, m, n) = Batch(a);
        int k = Math.Min(m, n);
        return Packed(a, m * k + k + k * n, (int)DenseLinalg.SvdScratch(m, n),
            (w, s, o, size, per) => dev.Kernel(Key("linalg_svd", typeof(double)),
                acc => acc.LoadStreamKernel<ArrayView<double>, ArrayView<double>, ArrayView<double>, int, int, int, int, int>(DeviceCode.LinalgSvd))(
                dev.Config(count), w, s, o, count, m, n, size, per));
    }

    /// <summary>A factorisation with a packed output of <paramref name="size"/> doubles and <paramref name="per"/> scratch doubles a matrix; the launch gets (working copy, scratch, output, size, per).</summary>
    GpuStorage<double> Packed(Strided a, int size, int per, Action<ArrayView<double>, ArrayView<double>, ArrayView<double>, int, int> launch)
    {
        // the op layer checked DenseLinalg.LargestBuffer: these products fit in an int
        int count = Batch(a).Count;
        var o = NewStorage<double>(DType.Float64, count * size);
        if (count == 0) return o;
        var w = Copy<double>(a);
        var scratch = NewStorage<double>(DType.Float64, Math.Max(count * per, 1));
        try
        {
            using (dev.Enter()) launch(w.View, scratch.View, o.View, size, per);
        }
        finally
        {
            w.Release();
            scratch.Release();
        }
        return o;
    }
}
