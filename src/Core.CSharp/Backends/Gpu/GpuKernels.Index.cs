using ILGPU;
using ILGPU.Runtime;

namespace Cotangent.Backends.Gpu;

internal sealed partial class GpuKernels
{
    /// <summary>Indices out of range are counted on the device (one number read back, none when the same indices passed before); only a bad one is looked for, to name it.</summary>
    void CheckIndex(string op, Strided index, int size, int axis)
    {
        if (CountOutside(index, 0, size) == 0) return;
        foreach (var v in (long[])ToArray(index))
            if (v < 0 || v >= size)
                throw OpCall.Index(op, $"{op}: index {v} is out of range for axis {axis} of size {size}");
    }

    public Storage IndexSelect(Strided x, int axis, Strided index) => x.Storage.DType switch
    {
        DType.Float32 => IndexSelectT<float>(x, axis, index),
        DType.Float64 => IndexSelectT<double>(x, axis, index),
        DType.Int64 => IndexSelectT<long>(x, axis, index),
        DType.Bool => IndexSelectT<byte>(x, axis, index),
        var t => throw NoKernel("index_select", t),
    };

    GpuStorage<T> IndexSelectT<T>(Strided x, int axis, Strided index) where T : unmanaged
    {
        var (outer, size, inner) = ShapeMath.AroundAxis(x.Shape, axis);
        CheckIndex("index_select", index, size, axis);
        int count = index.Numel;
        var (src, ix) = (Input<T>(x), Input<long>(index));
        var o = NewStorage<T>(x.Storage.DType, outer * count * inner);
        if (o.Length == 0) return o;
        var k = dev.Kernel(Key("index_select", typeof(T)),
            a => a.LoadStreamKernel<ArrayView<T>, Layout, ArrayView<long>, Layout, ArrayView<T>, IndexShape>(DeviceCode.IndexSelect));
        using (dev.Enter())
            k(dev.Config(o.Length), src, LayoutOf(x), ix, LayoutOf(index), o.View, new IndexShape { Outer = outer, Size = size, Inner = inner, Count = count });
        return o;
    }

    public Storage IndexAdd(int[] shape, int axis, Strided index, Strided src) => src.Storage.DType switch
    {
        DType.Float32 => IndexAddT<float, F32>(shape, axis, index, src),
        DType.Float64 => IndexAddT<double, F64>(shape, axis, index, src),
        DType.Int64 => IndexAddT<long, I64>(shape, axis, index, src),
        var t => throw NoKernel("index_add", t),
    };

    /// <summary>
    /// Sorts (index, position) keys on the device (a bitonic sort: no atomics, the same order on
    /// every run), then each output element finds its run of positions by binary search and adds
    /// them in position order, as the CPU does: O(count·log² count + output·log count), where
    /// scanning every index per output element would cost output × count (an embedding's backward).
    /// </summary>
    GpuStorage<T> IndexAddT<T, N>(int[] shape, int axis, Strided index, Strided src) where T : unmanaged where N : struct, IArith<T>
    {
        var (outer, size, inner) = ShapeMath.AroundAxis(shape, axis);
        CheckIndex("index_add", index, size, axis);
        int count = index.Numel;
        var (s, ix) = (Input<T>(src), Input<long>(index));
        var o = NewStorage<T>(src.Storage.DType, outer * size * inner);
        if (o.Length == 0) return o;
        if (count > 1 << 30)
            throw new ShapeMismatchException("index_add", $"index_add: {count} indices; the GPU kernel sorts at most 2^30 of them");
        int padded = 1;
        while (padded < Math.Max(count, 1)) padded *= 2;
        var keys = NewStorage<long>(DType.Int64, padded);
        try
        {
            var fill = dev.Kernel(Key("sort_keys", typeof(long)),
                a => a.LoadStreamKernel<ArrayView<long>, Layout, ArrayView<long>, int, int>(DeviceCode.SortKeys));
            var pass = dev.Kernel(Key("bitonic_pass", typeof(long)),
                a => a.LoadStreamKernel<ArrayView<long>, int, int, int>(DeviceCode.BitonicPass));
            var add = dev.Kernel(Key("index_add_sorted", typeof(T)),
                a => a.LoadStreamKernel<ArrayView<T>, Layout, ArrayView<long>, ArrayView<T>, IndexShape>(DeviceCode.IndexAddSorted<T, N>));
            using (dev.Enter())
            {
                fill(dev.Config(padded), ix, LayoutOf(index), keys.View, count, padded);
                for (int block = 2; block <= padded; block *= 2)
                    for (int span = block / 2; span > 0; span /= 2)
                        pass(dev.Config(padded), keys.View, padded, span, block);
                add(dev.Config(o.Length), s, LayoutOf(src), keys.View, o.View, new IndexShape { Outer = outer, Size = size, Inner = inner, Count = count });
            }
        }
        finally { keys.Release(); }
        return o;
    }

    public Storage Gather(Strided x, int axis, Strided index) => x.Storage.DType switch
    {
        DType.Float32 => GatherT<float>(x, axis, index),
        DType.Float64 => GatherT<double>(x, axis, index),
        DType.Int64 => GatherT<long>(x, axis, index),
        DType.Bool => GatherT<byte>(x, axis, index),
        var t => throw NoKernel("gather", t),
    };

    GpuStorage<T> GatherT<T>(Strided x, int axis, Strided index) where T : unmanaged
    {
        var (outer, size, inner) = ShapeMath.AroundAxis(x.Shape, axis);
        CheckIndex("gather", index, size, axis);
        int count = index.Rank == 0 ? 1 : index.Shape[axis];
        var (src, ix) = (Input<T>(x), Input<long>(index));
        var o = NewStorage<T>(x.Storage.DType, index.Numel);
        if (o.Length == 0) return o;
        var k = dev.Kernel(Key("gather", typeof(T)),
            a => a.LoadStreamKernel<ArrayView<T>, Layout, ArrayView<long>, Layout, ArrayView<T>, IndexShape>(DeviceCode.Gather));
        using (dev.Enter())
            k(dev.Config(o.Length), src, LayoutOf(x), ix, LayoutOf(index), o.View, new IndexShape { Outer = outer, Size = size, Inner = inner, Count = count });
        return o;
    }

    public Storage ScatterAdd(int[] shape, int axis, Strided index, Strided src) => src.Storage.DType switch
    {
        DType.Float32 => ScatterAddT<float, F32>(shape, axis, index, src),
        DType.Float64 => ScatterAddT<double, F64>(shape, axis, index, src),
        DType.Int64 => ScatterAddT<long, I64>(shape, axis, index, src),
        var t => throw NoKernel("scatter_add", t),
    };

    GpuStorage<T> ScatterAddT<T, N>(int[] shape, int axis, Strided index, Strided src) where T : unmanaged where N : struct, IArith<T>
    {
        var (outer, size, inner) = ShapeMath.AroundAxis(shape, axis);
        CheckIndex("scatter_add", index, size, axis);
        int count = index.Rank == 0 ? 1 : index.Shape[axis];
        var (s, ix) = (Input<T>(src), Input<long>(index));
        var o = NewStorage<T>(src.Storage.DType, outer * size * inner);
        if (o.Length == 0) return o;
        var k = dev.Kernel(Key("scatter_add", typeof(T)),
            a => a.LoadStreamKernel<ArrayView<T>, Layout, ArrayView<long>, Layout, ArrayView<T>, IndexShape>(DeviceCode.ScatterAdd<T, N>));
        using (dev.Enter())
            k(dev.Config(o.Length), s, LayoutOf(src), ix, LayoutOf(index), o.View, new IndexShape { Outer = outer, Size = size, Inner = inner, Count = count });
        return o;
    }

    public Storage SliceScatter(int[] shape, int axis, int start, int step, Strided src) => src.Storage.DType switch
    {
        DType.Float32 => SliceScatterT<float, F32>(shape, axis, start, step, src),
        DType.Float64 => SliceScatterT<double, F64>(shape, axis, start, step, src),
        DType.Int64 => SliceScatterT<long, I64>(shape, axis, start, step, src),
        DType.Bool => SliceScatterT<byte, Bool8>(shape, axis, start, step, src),
        var t => throw NoKernel("slice_scatter", t),
    };

    GpuStorage<T> SliceScatterT<T, N>(int[] shape, int axis, int start, int step, Strided src) where T : unmanaged where N : struct, IArith<T>
    {
        var (outer, size, inner) = ShapeMath.AroundAxis(shape, axis);
        var s = Input<T>(src);
        var o = NewStorage<T>(src.Storage.DType, ShapeMath.Numel(shape));
        if (o.Length == 0) return o;
        var k = dev.Kernel(Key("slice_scatter", typeof(T)),
            a => a.LoadStreamKernel<ArrayView<T>, Layout, ArrayView<T>, SliceShape>(DeviceCode.SliceScatter<T, N>));
        var d = new SliceShape { Outer = outer, Size = size, Inner = inner, Start = start, Step = step, Count = src.Rank == 0 ? 1 : src.Shape[axis] };
        using (dev.Enter()) k(dev.Config(o.Length), s, LayoutOf(src), o.View, d);
        return o;
    }

    public Storage Cat(Strided[] parts, int axis, int[] shape) => parts[0].Storage.DType switch
    {
        DType.Float32 => CatT<float>(parts, axis, shape),
        DType.Float64 => CatT<double>(parts, axis, shape),
        DType.Int64 => CatT<long>(parts, axis, shape),
        DType.Bool => CatT<byte>(parts, axis, shape),
        var t => throw NoKernel("cat", t),
    };

    GpuStorage<T> CatT<T>(Strided[] parts, int axis, int[] shape) where T : unmanaged
    {
        var (_, size, inner) = ShapeMath.AroundAxis(shape, axis);
        var views = parts.Select(Input<T>).ToArray();
        var o = NewStorage<T>(parts[0].Storage.DType, ShapeMath.Numel(shape));
        if (o.Length == 0) return o;
        var k = dev.Kernel(Key("copy_into", typeof(T)),
            a => a.LoadStreamKernel<ArrayView<T>, Layout, ArrayView<T>, PartShape>(DeviceCode.CopyInto));
        int at = 0;
        for (int i = 0; i < parts.Length; i++)
        {
            var p = parts[i];
            int n = p.Numel, partSize = p.Shape[axis];
            if (n > 0)
                using (dev.Enter()) k(dev.Config(n), views[i], LayoutOf(p), o.View, new PartShape { Size = partSize, Inner = inner, OutSize = size, At = at, Count = n });
            at += partSize;
        }
        return o;
    }

    public Storage Unfold(Strided x, Window w) => x.Storage.DType switch
    {
        DType.Float32 => UnfoldT<float, F32>(x, w),
        DType.Float64 => UnfoldT<double, F64>(x, w),
        DType.Int64 => UnfoldT<long, I64>(x, w),
        var t => throw NoKernel("unfold", t),
    };

    static WindowShape Geometry(int[] image, Window w) => new()
    {
        Batch = image[0],
        Channels = image[1],
        Height = image[2],
        Width = image[3],
        Kh = w.Kh,
        Kw = w.Kw,
        Stride = w.Stride,
        Padding = w.Padding,
        OutH = w.OutH(image[2]),
        OutW = w.OutW(image[3]),
    };

    GpuStorage<T> UnfoldT<T, N>(Strided x, Window w) where T : unmanaged where N : struct, IArith<T>
    {
        var g = Geometry(x.Shape, w);
        var src = Input<T>(x);
        var o = NewStorage<T>(x.Storage.DType, g.Batch * g.Channels * w.Kh * w.Kw * g.OutH * g.OutW);
        if (o.Length == 0) return o;
        var k = dev.Kernel(Key("unfold", typeof(T)),
            a => a.LoadStreamKernel<ArrayView<T>, Layout, ArrayView<T>, WindowShape>(DeviceCode.Unfold<T, N>));
        using (dev.Enter()) k(dev.Config(o.Length), src, LayoutOf(x), o.View, g);
        return o;
    }

    public Storage Fold(Strided cols, int[] shape, Window w) => cols.Storage.DType switch
    {
        DType.Float32 => FoldT<float, F32>(cols, shape, w),
        DType.Float64 => FoldT<double, F64>(cols, shape, w),
        DType.Int64 => FoldT<long, I64>(cols, shape, w),
        var t => throw NoKernel("fold", t),
    };

    GpuStorage<T> FoldT<T, N>(Strided cols, int[] shape, Window w) where T : unmanaged where N : struct, IArith<T>
    {
        var src = Input<T>(cols);
        var o = NewStorage<T>(cols.Storage.DType, ShapeMath.Numel(shape));
        if (o.Length == 0) return o;
        var k = dev.Kernel(Key("fold", typeof(T)),
            a => a.LoadStreamKernel<ArrayView<T>, Layout, ArrayView<T>, WindowShape>(DeviceCode.Fold<T, N>));
        using (dev.Enter()) k(dev.Config(o.Length), src, LayoutOf(cols), o.View, Geometry(shape, w));
        return o;
    }

    public (Storage Values, Storage Indices) MaxPool2d(Strided x, Window w) => x.Storage.DType switch
    {
        DType.Float32 => MaxPoolT<float, F32>(x, w),
        DType.Float64 => MaxPoolT<double, F64>(x, w),
        DType.Int64 => MaxPoolT<long, I64>(x, w),
        var t => throw NoKernel("max_pool2d", t),
    };

    (Storage, Storage) MaxPoolT<T, N>(Strided x, Window w) where T : unmanaged where N : struct, IArith<T>
    {
        var g = Geometry(x.Shape, w);
        var src = Input<T>(x);
        int n = g.Batch * g.Channels * g.OutH * g.OutW;
        var o = NewStorage<T>(x.Storage.DType, n);
        var at = NewStorage<long>(DType.Int64, n);
        if (n == 0) return (o, at);
        var k = dev.Kernel(Key("max_pool2d", typeof(T)),
            a => a.LoadStreamKernel<ArrayView<T>, Layout, ArrayView<T>, ArrayView<long>, WindowShape>(DeviceCode.MaxPool<T, N>));
        using (dev.Enter()) k(dev.Config(n), src, LayoutOf(x), o.View, at.View, g);
        return (o, at);
    }
}
