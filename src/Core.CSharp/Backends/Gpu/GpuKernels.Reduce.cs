using ILGPU;
using ILGPU.Runtime;

namespace Cotangent.Backends.Gpu;

internal sealed partial class GpuKernels
{
    /// <summary>Rows up to this long are reduced by one thread each; longer ones by a thread group each (and pieces of a group each, when rows are few).</summary>
    const int ShortRow = 32;

    public Storage Reduce(ReduceKind kind, Strided x, int trailing) => x.Storage.DType switch
    {
        DType.Float32 => ReduceT<float, F32>(kind, x, trailing),
        DType.Float64 => ReduceT<double, F64>(kind, x, trailing),
        DType.Int64 => ReduceT<long, I64>(kind, x, trailing),
        var t => throw NoKernel(Name(kind), t),
    };

    static int Code(ReduceKind kind) => kind switch
    {
        ReduceKind.Sum => DeviceCode.Sum,
        ReduceKind.Max => DeviceCode.RMax,
        ReduceKind.Min => DeviceCode.RMin,
        ReduceKind.Prod => DeviceCode.Prod,
        _ => throw new InvalidOperationException($"{Name(kind)}: the GPU backend has no kernel for this reduction"),
    };

    static (int Rows, int Len) Rows(Strided x, int trailing)
    {
        int len = 1, rows = 1;
        for (int i = x.Rank - trailing; i < x.Rank; i++) len *= x.Shape[i];
        for (int i = 0; i < x.Rank - trailing; i++) rows *= x.Shape[i];
        return (rows, len);
    }

    GpuStorage<T> ReduceT<T, N>(ReduceKind kind, Strided x, int trailing) where T : unmanaged where N : struct, IArith<T>
    {
        var (rows, len) = Rows(x, trailing);
        var src = Input<T>(x);
        var o = NewStorage<T>(x.Storage.DType, rows);
        if (rows == 0) return o;
        ReduceInto<T, N>(src, LayoutOf(x), o, rows, len, Code(kind));
        return o;
    }

    /// <summary>
    /// Reduces rows × len elements to o[rows]. The order of every sum depends only on the shape
    /// and this device's grid, so the same input gives the same bits on every run: a short row
    /// is one thread's loop; a long one is split over a thread group (or, for few rows, into
    /// pieces over several groups whose results a second launch combines).
    /// </summary>
    void ReduceInto<T, N>(ArrayView<T> src, Layout layout, GpuStorage<T> o, int rows, int len, int code) where T : unmanaged where N : struct, IArith<T>
    {
        if (len <= ShortRow)
        {
            var k = dev.Kernel(Key("reduce", typeof(T)),
                a => a.LoadStreamKernel<ArrayView<T>, Layout, ArrayView<T>, int, int, int>(DeviceCode.Reduce<T, N>));
            using (dev.Enter()) k(dev.Config(rows), src, layout, o.View, rows, len, code);
            return;
        }
        var rowsKernel = dev.Kernel(Key("reduce_rows", typeof(T)),
            a => a.LoadStreamKernel<ArrayView<T>, Layout, ArrayView<T>, int, int, int, int>(DeviceCode.ReduceRows<T, N>));
        int pieces = rows >= dev.Groups ? 1 : Math.Clamp(dev.Groups / rows, 1, (len + 4 * dev.GroupSize - 1) / (4 * dev.GroupSize));
        if (pieces == 1)
        {
            using (dev.Enter()) rowsKernel(dev.GroupConfig<T>(rows), src, layout, o.View, rows, len, 1, code);
            return;
        }
        var partial = NewStorage<T>(o.DType, rows * pieces);
        try
        {
            using (dev.Enter())
            {
                rowsKernel(dev.GroupConfig<T>(rows * pieces), src, layout, partial.View, rows, len, pieces, code);
                rowsKernel(dev.GroupConfig<T>(rows), partial.View, Layout.Dense(rows * pieces), o.View, rows, pieces, 1, code);
            }
        }
        finally { partial.Release(); }
    }

    public Storage ProdOfOthers(Strided x, int trailing) => x.Storage.DType switch
    {
        DType.Float32 => ProdOfOthersT<float, F32>(x, trailing),
        DType.Float64 => ProdOfOthersT<double, F64>(x, trailing),
        DType.Int64 => ProdOfOthersT<long, I64>(x, trailing),
        var t => throw NoKernel("prod", t),
    };

    GpuStorage<T> ProdOfOthersT<T, N>(Strided x, int trailing) where T : unmanaged where N : struct, IArith<T>
    {
        var (rows, len) = Rows(x, trailing);
        var src = Input<T>(x);
        var o = NewStorage<T>(x.Storage.DType, x.Numel);
        if (x.Numel == 0) return o;
        var k = dev.Kernel(Key("prod_of_others", typeof(T)),
            a => a.LoadStreamKernel<ArrayView<T>, Layout, ArrayView<T>, int, int>(DeviceCode.ProdOfOthers<T, N>));
        using (dev.Enter()) k(dev.Config(rows), src, LayoutOf(x), o.View, rows, len);
        return o;
    }

    public Storage LogSoftmax(Strided x) => x.Storage.DType switch
    {
        DType.Float32 => LogSoftmaxT<float, F32>(x),
        DType.Float64 => LogSoftmaxT<double, F64>(x),
        var t => throw NoKernel("log_softmax", t),
    };

    GpuStorage<T> LogSoftmaxT<T, N>(Strided x) where T : unmanaged where N : struct, IArith<T>
    {
        int n = x.Numel, len = x.Rank == 0 ? 1 : x.Shape[^1];
        var src = Input<T>(x);
        var o = NewStorage<T>(x.Storage.DType, n);
        if (n == 0 || len == 0) return o;
        int rows = n / len;
        if (len <= ShortRow)
        {
            var k = dev.Kernel(Key("log_softmax", typeof(T)),
                a => a.LoadStreamKernel<ArrayView<T>, Layout, ArrayView<T>, int, int>(DeviceCode.LogSoftmax<T, N>));
            using (dev.Enter()) k(dev.Config(rows), src, LayoutOf(x), o.View, rows, len);
        }
        else
        {
            var k = dev.Kernel(Key("log_softmax_rows", typeof(T)),
                a => a.LoadStreamKernel<ArrayView<T>, Layout, ArrayView<T>, int, int>(DeviceCode.LogSoftmaxRows<T, N>));
            using (dev.Enter()) k(dev.GroupConfig<T>(rows), src, LayoutOf(x), o.View, rows, len);
        }
        return o;
    }

    /// <summary>
    /// Counts on the device, then reads one number back. A contiguous int64 buffer found in
    /// range is remembered on its (immutable) storage, so the gathers and scatters that reuse
    /// the same labels or indices skip the device read.
    /// </summary>
    public long CountOutside(Strided x, long low, long high)
    {
        int n = x.Numel;
        if (n == 0) return 0;
        var s = Owned<long>(x);
        if (x.IsContiguous && s.CheckedRange is { } r && r.Offset == x.Offset && r.Numel == n && r.Low >= low && r.High <= high) return 0;
        var config = dev.Config(n);
        int slots = config.GridDim.X * config.GroupDim.X;
        var counts = NewStorage<long>(DType.Int64, slots);
        var total = NewStorage<long>(DType.Int64, 1);
        long[] host = new long[1];
        try
        {
            var k = dev.Kernel(Key("count_outside", typeof(long)),
                a => a.LoadStreamKernel<ArrayView<long>, Layout, long, long, ArrayView<long>, int>(DeviceCode.CountOutside));
            using (dev.Enter()) k(config, s.View, LayoutOf(x), low, high, counts.View, n);
            ReduceInto<long, I64>(counts.View, Layout.Dense(slots), total, 1, slots, DeviceCode.Sum);
            using (dev.Enter())
            {
                dev.Accelerator.Synchronize();
                total.View.CopyToCPU(host);
            }
        }
        finally
        {
            counts.Release();
            total.Release();
        }
        if (host[0] == 0 && x.IsContiguous) s.CheckedRange = new CheckedSpan(x.Offset, n, low, high);
        return host[0];
    }
}
