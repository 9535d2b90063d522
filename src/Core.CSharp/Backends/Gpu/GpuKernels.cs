using ILGPU;
using ILGPU.Runtime;

namespace Cotangent.Backends.Gpu;

/// <summary>
/// The kernels of one accelerator (a simulated device, or a CUDA one: the same code). Every
/// input must live in this accelerator's memory: the CPU accelerator would read another's
/// buffers without complaint where CUDA would fault, so ownership is checked here. Inputs are
/// read through their strides; outputs are fresh contiguous buffers. Launches are queued on the
/// accelerator's stream and only a read back to the host waits for them. This part: memory,
/// copies and casts; the others hold elementwise ops, reductions, products and indexing.
/// </summary>
internal sealed partial class GpuKernels(GpuDevice dev) : IKernels
{
    GpuStorage<T> NewStorage<T>(DType dtype, int n) where T : unmanaged =>
        new(dev, dtype, dev.Allocator.Allocate((long)n * System.Runtime.CompilerServices.Unsafe.SizeOf<T>(), OpCall.Blame("alloc")), n);

    GpuStorage<T> Owned<T>(Strided x) where T : unmanaged
    {
        if (x.Storage is GpuStorage<T> s && ReferenceEquals(s.Owner, dev)) return s;
        string op = OpCall.Blame("kernel");
        throw new DeviceMismatchException(op, $"{op}: a tensor on {x.Storage.Device} was handed to {dev.Device}'s kernels; move it with To({dev.Device}) first");
    }

    ArrayView<T> Input<T>(Strided x) where T : unmanaged => Owned<T>(x).View;

    static Layout LayoutOf(Strided x) => Layout.Of(x, OpCall.Blame("kernel"));

    static (string, Type, Type, Type) Key(string kernel, Type a, Type? b = null, Type? c = null) => (kernel, a, b ?? typeof(void), c ?? typeof(void));

    static string Name<TKind>(TKind kind) where TKind : Enum => kind.ToString().ToLowerInvariant();

    static DTypeMismatchException NoKernel(string op, DType dtype) => new(op, $"{op}: no kernel for dtype {dtype.Name()}");

    public Storage Full(DType dtype, int length, double value) => dtype switch
    {
        DType.Float32 => Filled(dtype, length, (float)value),
        DType.Float64 => Filled(dtype, length, value),
        DType.Int64 => Filled(dtype, length, (long)value),
        DType.Bool => Filled(dtype, length, value != 0 ? (byte)1 : (byte)0),
        _ => throw NoKernel("full", dtype),
    };

    GpuStorage<T> Filled<T>(DType dtype, int n, T v) where T : unmanaged
    {
        var o = NewStorage<T>(dtype, n);
        if (n == 0) return o;
        var k = dev.Kernel(Key("fill", typeof(T)), a => a.LoadStreamKernel<ArrayView<T>, T, int>(DeviceCode.Fill));
        using (dev.Enter()) k(dev.Config(n), o.View, v, n);
        return o;
    }

    public Storage Wrap(Array data) => data switch
    {
        float[] f => Upload(DType.Float32, f),
        double[] d => Upload(DType.Float64, d),
        long[] l => Upload(DType.Int64, l),
        bool[] b => Upload(DType.Bool, Array.ConvertAll(b, v => v ? (byte)1 : (byte)0)),
        _ => throw new ArgumentException($"no dtype for arrays of {data.GetType().GetElementType()?.Name}"),
    };

    GpuStorage<T> Upload<T>(DType dtype, T[] values) where T : unmanaged
    {
        var o = NewStorage<T>(dtype, values.Length);
        if (values.Length > 0)
            using (dev.Enter()) o.View.CopyFromCPU(values);
        return o;
    }

    public Array ToArray(Strided x) => x.Storage.DType switch
    {
        DType.Float32 => Download<float>(x),
        DType.Float64 => Download<double>(x),
        DType.Int64 => Download<long>(x),
        DType.Bool => Array.ConvertAll(Download<byte>(x), v => v != 0),
        var t => throw NoKernel("to_array", t),
    };

    T[] Download<T>(Strided x) where T : unmanaged
    {
        int n = x.Numel;
        var src = Owned<T>(x);
        if (n == 0) return [];
        var o = new T[n];
        if (x.IsContiguous)
        {
            using (dev.Enter())
            {
                dev.Accelerator.Synchronize();
                src.View.SubView(x.Offset, n).CopyToCPU(o);
            }
            return o;
        }
        var dense = Copy<T>(x);
        try
        {
            using (dev.Enter())
            {
                dev.Accelerator.Synchronize();
                dense.View.CopyToCPU(o);
            }
        }
        finally { dense.Release(); }
        return o;
    }

    public Storage Contiguous(Strided x) => x.Storage.DType switch
    {
        DType.Float32 => Copy<float>(x),
        DType.Float64 => Copy<double>(x),
        DType.Int64 => Copy<long>(x),
        DType.Bool => Copy<byte>(x),
        var t => throw NoKernel("contiguous", t),
    };

    GpuStorage<T> Copy<T>(Strided x) where T : unmanaged
    {
        int n = x.Numel;
        var src = Input<T>(x);
        var o = NewStorage<T>(x.Storage.DType, n);
        if (n == 0) return o;
        var k = dev.Kernel(Key("copy", typeof(T)), a => a.LoadStreamKernel<ArrayView<T>, Layout, ArrayView<T>, int>(DeviceCode.Copy));
        using (dev.Enter()) k(dev.Config(n), src, LayoutOf(x), o.View, n);
        return o;
    }

    public Storage Cast(Strided x, DType to) => x.Storage.DType switch
    {
        DType.Float32 => CastFrom<float, F32>(x, to),
        DType.Float64 => CastFrom<double, F64>(x, to),
        DType.Int64 when to == DType.Float32 => LongToFloat(x),
        DType.Int64 => CastFrom<long, I64>(x, to),
        DType.Bool => CastFrom<byte, Bool8>(x, to),
        var t => throw NoKernel("to", t),
    };

    Storage CastFrom<TF, NF>(Strided x, DType to) where TF : unmanaged where NF : struct, IArith<TF> => to switch
    {
        DType.Float32 => Convert<TF, NF, float, F32>(x, to),
        DType.Float64 => Convert<TF, NF, double, F64>(x, to),
        DType.Int64 => Convert<TF, NF, long, I64>(x, to),
        DType.Bool => Convert<TF, NF, byte, Bool8>(x, to),
        _ => throw NoKernel("to", to),
    };

    GpuStorage<TT> Convert<TF, NF, TT, NT>(Strided x, DType to)
        where TF : unmanaged where NF : struct, IArith<TF> where TT : unmanaged where NT : struct, IArith<TT>
    {
        int n = x.Numel;
        var src = Input<TF>(x);
        var o = NewStorage<TT>(to, n);
        if (n == 0) return o;
        var k = dev.Kernel(Key("convert", typeof(TF), typeof(TT)),
            a => a.LoadStreamKernel<ArrayView<TF>, Layout, ArrayView<TT>, int>(DeviceCode.Convert<TF, NF, TT, NT>));
        using (dev.Enter()) k(dev.Config(n), src, LayoutOf(x), o.View, n);
        return o;
    }

    GpuStorage<float> LongToFloat(Strided x)
    {
        int n = x.Numel;
        var src = Input<long>(x);
        var o = NewStorage<float>(DType.Float32, n);
        if (n == 0) return o;
        var k = dev.Kernel(Key("long_to_float", typeof(long)), a => a.LoadStreamKernel<ArrayView<long>, Layout, ArrayView<float>, int>(DeviceCode.LongToFloat));
        using (dev.Enter()) k(dev.Config(n), src, LayoutOf(x), o.View, n);
        return o;
    }
}
