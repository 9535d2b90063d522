namespace Cotangent.Backends.Cpu;

/// <summary>The batched factorisations: <see cref="DenseLinalg"/> over host arrays, one matrix after another.</summary>
internal sealed partial class CpuKernels
{
    /// <summary>A fresh row-major float64 copy of x (the factorisations work in place on it).</summary>
    static double[] Working(Strided x)
    {
        var o = Buffers.Uninitialized<double>(x.Numel);
        Walk.Span<double>(x).CopyTo(o);
        return o;
    }

    static (int Count, int M, int N) Batch(Strided a) => (ShapeMath.Numel(a.Shape.AsSpan(0, a.Rank - 2)), a.Shape[^2], a.Shape[^1]);

    public (Storage X, Storage Status) Solve(Strided a, Strided b)
    {
        var (count, n, _) = Batch(a);
        int k = b.Shape[^1];
        var w = Working(a);
        var x = Working(b);
        var status = new long[count];
        for (int i = 0; i < count; i++)
            status[i] = DenseLinalg.Solve(new HostDoubles(w, i * n * n), new HostDoubles(x, i * n * k), n, k);
        return (new CpuStorage<double>(x), new CpuStorage<long>(status));
    }

    public Storage LuPivots(Strided a)
    {
        var (count, n, _) = Batch(a);
        var w = Working(a);
        var o = new double[count * (n + 1)];
        for (int i = 0; i < count; i++) DenseLinalg.Pivots(new HostDoubles(w, i * n * n), n, new HostDoubles(o, i * (n + 1)));
        return new CpuStorage<double>(o);
    }

    public (Storage L, Storage Status) Cholesky(Strided a)
    {
        var (count, n, _) = Batch(a);
        var w = Working(a);
        var l = new double[count * n * n];
        var status = new long[count];
        for (int i = 0; i < count; i++)
            status[i] = DenseLinalg.Cholesky(new HostDoubles(w, i * n * n), n, new HostDoubles(l, i * n * n));
        return (new CpuStorage<double>(l), new CpuStorage<long>(status));
    }

    public Storage Qr(Strided a)
    {
        var (count, m, n) = Batch(a);
        int k = Math.Min(m, n), size = m * k + k * n;
        var w = Working(a);
        var o = new double[count * size];
        var scratch = new double[(int)DenseLinalg.QrScratch(m, n)];
        for (int i = 0; i < count; i++)
            DenseLinalg.Qr(new HostDoubles(w, i * m * n), m, n, new HostDoubles(scratch, 0), 0,
                new HostDoubles(o, i * size), new HostDoubles(o, i * size + m * k));
        return new CpuStorage<double>(o);
    }

    public Storage Eigh(Strided a)
    {
        var (count, n, _) = Batch(a);
        int size = n + n * n;
        var w = Working(a);
        var o = new double[count * size];
        var scratch = new double[(int)DenseLinalg.EighScratch(n)];
        for (int i = 0; i < count; i++)
            DenseLinalg.Eigh(new HostDoubles(w, i * n * n), n, new HostDoubles(scratch, 0), 0,
                new HostDoubles(o, i * size), new HostDoubles(o, i * size + n));
        return new CpuStorage<double>(o);
    }

    public Storage Svd(Strided a)
    {
        var (count, m, n) = Batch(a);
        int k = Math.Min(m, n), size = m * k + k + k * n;
        var w = Working(a);
        var o = new double[count * size];
        var scratch = new double[(int)DenseLinalg.SvdScratch(m, n)];
        for (int i = 0; i < count; i++)
            DenseLinalg.Svd(new HostDoubles(w, i * m * n), m, n, new HostDoubles(scratch, 0), 0,
                new HostDoubles(o, i * size), new HostDoubles(o, i * size + m * k), new HostDoubles(o, i * size + m * k + k));
        return new CpuStorage<double>(o);
    }
}
