using ILGPU;
using ILGPU.Runtime;

namespace Cotangent.Backends.Gpu;

internal sealed partial class GpuKernels
{
    public Storage Scan(ScanKind kind, Strided x) => (kind, x.Storage.DType) switch
    {
        (_, DType.Float32) => ScanT<float, F32>(kind, x),
        (_, DType.Float64) => ScanT<double, F64>(kind, x),
        (not ScanKind.LogSumExp, DType.Int64) => ScanT<long, I64>(kind, x),
        var (_, t) => throw NoKernel(Cpu.CpuKernels.ScanName(kind), t),
    };

    /// <summary>One thread a row, each running along its row: parallel over rows, sequential within one.</summary>
    GpuStorage<T> ScanT<T, N>(ScanKind kind, Strided x) where T : unmanaged where N : struct, IArith<T>
    {
        int n = x.Numel, len = x.Rank == 0 ? 1 : x.Shape[^1];
        var src = Input<T>(x);
        var o = NewStorage<T>(x.Storage.DType, n);
        if (n == 0) return o;
        int code = kind switch { ScanKind.Sum => DeviceCode.ScanSum, ScanKind.Prod => DeviceCode.ScanProd, _ => DeviceCode.ScanLogSumExp };
        var k = dev.Kernel(Key("scan", typeof(T)),
            a => a.LoadStreamKernel<ArrayView<T>, Layout, ArrayView<T>, int, int, int>(DeviceCode.Scan<T, N>));
        using (dev.Enter()) k(dev.Config(n / len), src, LayoutOf(x), o.View, n / len, len, code);
        return o;
    }

    public Storage ArgSort(Strided x, bool descending) => x.Storage.DType switch
    {
        DType.Float32 => ArgSortT<float, F32>(x, descending),
        DType.Float64 => ArgSortT<double, F64>(x, descending),
        DType.Int64 => ArgSortT<long, I64>(x, descending),
        var t => throw NoKernel("sort", t),
    };

    /// <summary>
    /// Every row padded to a power of two and bitonic-sorted in place, all rows in each pass:
    /// O(n·log² n) compare-exchanges a row, no atomics, the same order on every run.
    /// </summary>
    GpuStorage<long> ArgSortT<T, N>(Strided x, bool descending) where T : unmanaged where N : struct, IArith<T>
    {
        int n = x.Numel, len = x.Rank == 0 ? 1 : x.Shape[^1];
        var src = Input<T>(x);
        var o = NewStorage<long>(DType.Int64, n);
        if (n == 0) return o;
        int rows = n / len, padded = 1;
        while (padded < len) padded *= 2;
        if ((long)rows * padded > Array.MaxLength)
            throw new ShapeMismatchException("sort", $"sort: {rows} rows of {len} need {(long)rows * padded} sort slots, more than one buffer holds");
        var idx = NewStorage<long>(DType.Int64, rows * padded);
        try
        {
            var init = dev.Kernel(Key("sort_init", typeof(long)),
                a => a.LoadStreamKernel<ArrayView<long>, int, int>(DeviceCode.SortInit));
            var pass = dev.Kernel(Key("row_bitonic_pass", typeof(T)),
                a => a.LoadStreamKernel<ArrayView<T>, Layout, ArrayView<long>, int, int, int, int, int, int>(DeviceCode.RowBitonicPass<T, N>));
            var take = dev.Kernel(Key("sort_take", typeof(long)),
                a => a.LoadStreamKernel<ArrayView<long>, ArrayView<long>, int, int, int>(DeviceCode.SortTake));
            using (dev.Enter())
            {
                init(dev.Config(rows * padded), idx.View, rows * padded, padded);
                for (int block = 2; block <= padded; block *= 2)
                    for (int span = block / 2; span > 0; span /= 2)
                        pass(dev.Config(rows * padded), src, LayoutOf(x), idx.View, rows, len, padded, span, block, descending ? 1 : 0);
                take(dev.Config(n), idx.View, o.View, rows, len, padded);
            }
        }
        finally { idx.Release(); }
        return o;
    }
}
