using ILGPU;

namespace Cotangent.Backends.Gpu;

/// <summary>A device view's float64 values from <c>offset</c> on, for <see cref="DenseLinalg"/>'s algorithms.</summary>
internal readonly struct DeviceDoubles : IDoubles
{
    readonly ArrayView<double> values;
    readonly int offset;

    public DeviceDoubles(ArrayView<double> values, int offset)
    {
        this.values = values;
        this.offset = offset;
    }

    public double this[int i]
    {
        get => values[offset + i];
        set => values[offset + i] = value;
    }
}

/// <summary>
/// The factorisations, one thread a matrix: each runs <see cref="DenseLinalg"/>'s code (the
/// CPU kernels' code, so both give the same numbers up to the device's rounding of square
/// roots) on its own slice of the working copy, the output and the scratch.
/// </summary>
internal static partial class DeviceCode
{
    public static void LinalgSolve(ArrayView<double> a, ArrayView<double> x, ArrayView<long> status, int count, int n, int k)
    {
        for (int b = Grid.GlobalIndex.X; b < count; b += Step)
            status[b] = DenseLinalg.Solve(new DeviceDoubles(a, b * n * n), new DeviceDoubles(x, b * n * k), n, k);
    }

    public static void LinalgPivots(ArrayView<double> a, ArrayView<double> o, int count, int n)
    {
        for (int b = Grid.GlobalIndex.X; b < count; b += Step)
            DenseLinalg.Pivots(new DeviceDoubles(a, b * n * n), n, new DeviceDoubles(o, b * (n + 1)));
    }

    public static void LinalgCholesky(ArrayView<double> a, ArrayView<double> l, ArrayView<long> status, int count, int n)
    {
        for (int b = Grid.GlobalIndex.X; b < count; b += Step)
            status[b] = DenseLinalg.Cholesky(new DeviceDoubles(a, b * n * n), n, new DeviceDoubles(l, b * n * n));
    }

    public static void LinalgQr(ArrayView<double> a, ArrayView<double> scratch, ArrayView<double> o, int count, int m, int n, int size, int per)
    {
        int k = m < n ? m : n;
        for (int b = Grid.GlobalIndex.X; b < count; b += Step)
            DenseLinalg.Qr(new DeviceDoubles(a, b * m * n), m, n, new DeviceDoubles(scratch, b * per), 0,
                new DeviceDoubles(o, b * size), new DeviceDoubles(o, b * size + m * k));
    }

    public static void LinalgEigh(ArrayView<double> a, ArrayView<double> scratch, ArrayView<double> o, int count, int n, int size, int per)
    {
        for (int b = Grid.GlobalIndex.X; b < count; b += Step)
            DenseLinalg.Eigh(new DeviceDoubles(a, b * n * n), n, new DeviceDoubles(scratch, b * per), 0,
                new DeviceDoubles(o, b * size), new DeviceDoubles(o, b * size + n));
    }

    public static void LinalgSvd(ArrayView<double> a, ArrayView<double> scratch, ArrayView<double> o, int count, int m, int n, int size, int per)
    {
        int k = m < n ? m : n;
        for (int b = Grid.GlobalIndex.X; b < count; b += Step)
            DenseLinalg.Svd(new DeviceDoubles(a, b * m * n), m, n, new DeviceDoubles(scratch, b * per), 0,
                new DeviceDoubles(o, b * size), new DeviceDoubles(o, b * size + m * k), new DeviceDoubles(o, b * size + m * k + k));
    }
}
