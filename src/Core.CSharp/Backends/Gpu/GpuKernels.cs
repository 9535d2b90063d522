using ILGPU;
using ILGPU.Runtime;

namespace Cotangent.Backends.Gpu;

/// <summary>
/// The kernels of one accelerator (a simulated device here; the CUDA devices run the same
/// code). Every input must live in this accelerator's memory: the CPU accelerator would read
/// another's buffers without complaint where CUDA would fault, so ownership is checked here.
/// Inputs are read through their strides; outputs are fresh contiguous buffers.
/// </summary>
internal sealed class GpuKernels(GpuDevice dev) : IKernels
{
    // ---- memory ------------------------------------------------------------------------

    GpuStorage<T> Alloc<T>(DType dtype, int n) where T : unmanaged =>
        new(dev, dtype, dev.Allocator.Allocate((long)n * System.Runtime.CompilerServices.Unsafe.SizeOf<T>(), OpCall.Blame("alloc")), n);

    GpuStorage<T> Own<T>(Strided x) where T : unmanaged
    {
        if (x.Storage is GpuStorage<T> s && ReferenceEquals(s.Owner, dev)) return s;
        throw new DeviceMismatchException(OpCall.Blame("kernel"),
            $"{OpCall.Blame("kernel")}: a tensor on {x.Storage.Device} was handed to {dev.Device}'s kernels; move it with To({dev.Device}) first");
    }

    ArrayView<T> In<T>(Strided x) where T : unmanaged => Own<T>(x).View;

    static Layout L(Strided x) => Layout.Of(x, OpCall.Blame("kernel"));

    static (string, Type, Type, Type) Key(string kernel, Type a, Type? b = null, Type? c = null) => (kernel, a, b ?? typeof(void), c ?? typeof(void));

    public Storage Full(DType dtype, int length, double value) => dtype switch
    {
        DType.Float32 => Filled(dtype, length, (float)value),
        DType.Float64 => Filled(dtype, length, value),
        DType.Int64 => Filled(dtype, length, (long)value),
        _ => Filled(dtype, length, value != 0 ? (byte)1 : (byte)0),
    };

    GpuStorage<T> Filled<T>(DType dtype, int n, T v) where T : unmanaged
    {
        var o = Alloc<T>(dtype, n);
        if (n == 0) return o;
        var k = dev.Kernel(Key("fill", typeof(T)), a => a.LoadStreamKernel<ArrayView<T>, T, int>(Kernels.Fill));
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
        var o = Alloc<T>(dtype, values.Length);
        if (values.Length > 0)
            using (dev.Enter()) o.View.CopyFromCPU(values);
        return o;
    }

    public Array ToArray(Strided x) => x.Storage.DType switch
    {
        DType.Float32 => Download<float>(x),
        DType.Float64 => Download<double>(x),
        DType.Int64 => Download<long>(x),
        _ => Array.ConvertAll(Download<byte>(x), v => v != 0),
    };

    T[] Download<T>(Strided x) where T : unmanaged
    {
        int n = x.Numel;
        var src = Own<T>(x);
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
        var dense = (GpuStorage<T>)Contiguous(x);
        using (dev.Enter())
        {
            dev.Accelerator.Synchronize();
            dense.View.CopyToCPU(o);
        }
        dense.Release();
        return o;
    }

    public Storage Contiguous(Strided x) => x.Storage.DType switch
    {
        DType.Float32 => Copy<float>(x),
        DType.Float64 => Copy<double>(x),
        DType.Int64 => Copy<long>(x),
        _ => Copy<byte>(x),
    };

    GpuStorage<T> Copy<T>(Strided x) where T : unmanaged
    {
        int n = x.Numel;
        var src = In<T>(x);
        var o = Alloc<T>(x.Storage.DType, n);
        if (n == 0) return o;
        var k = dev.Kernel(Key("copy", typeof(T)), a => a.LoadStreamKernel<ArrayView<T>, Layout, ArrayView<T>, int>(Kernels.Copy));
        using (dev.Enter()) k(dev.Config(n), src, L(x), o.View, n);
        return o;
    }

    public Storage Cast(Strided x, DType to) => x.Storage.DType switch
    {
        DType.Float32 => CastFrom<float, F32>(x, to),
        DType.Float64 => CastFrom<double, F64>(x, to),
        DType.Int64 => CastFrom<long, I64>(x, to),
        _ => CastFrom<byte, U8>(x, to),
    };

    Storage CastFrom<TF, NF>(Strided x, DType to) where TF : unmanaged where NF : struct, IArith<TF> => to switch
    {
        DType.Float32 => Convert<TF, NF, float, F32>(x, to),
        DType.Float64 => Convert<TF, NF, double, F64>(x, to),
        DType.Int64 => Convert<TF, NF, long, I64>(x, to),
        _ => Convert<TF, NF, byte, U8>(x, to),
    };

    GpuStorage<TT> Convert<TF, NF, TT, NT>(Strided x, DType to)
        where TF : unmanaged where NF : struct, IArith<TF> where TT : unmanaged where NT : struct, IArith<TT>
    {
        int n = x.Numel;
        var src = In<TF>(x);
        var o = Alloc<TT>(to, n);
        if (n == 0) return o;
        var k = dev.Kernel(Key("convert", typeof(TF), typeof(TT)),
            a => a.LoadStreamKernel<ArrayView<TF>, Layout, ArrayView<TT>, int>(Kernels.Convert<TF, NF, TT, NT>));
        using (dev.Enter()) k(dev.Config(n), src, L(x), o.View, n);
        return o;
    }

    // ---- elementwise -------------------------------------------------------------------

    public Storage Unary(UnaryKind kind, Strided x) => x.Storage.DType switch
    {
        DType.Float32 => UnaryT<float, F32>(kind, x),
        DType.Float64 => UnaryT<double, F64>(kind, x),
        DType.Int64 when kind is UnaryKind.Neg or UnaryKind.Abs or UnaryKind.Relu or UnaryKind.Sign => UnaryT<long, I64>(kind, x),
        DType.Int64 => throw new DTypeMismatchException(Name(kind), $"{Name(kind)}: not defined for int64; cast to a float dtype first"),
        var t => throw new DTypeMismatchException(Name(kind), $"{Name(kind)}: no kernel for dtype {t.Name()}"),
    };

    static string Name<TKind>(TKind kind) where TKind : Enum => kind.ToString().ToLowerInvariant();

    GpuStorage<T> UnaryT<T, N>(UnaryKind kind, Strided x) where T : unmanaged where N : struct, IArith<T>
    {
        int n = x.Numel;
        var src = In<T>(x);
        var o = Alloc<T>(x.Storage.DType, n);
        if (n == 0) return o;
        var k = dev.Kernel(Key("unary", typeof(T)), a => a.LoadStreamKernel<ArrayView<T>, Layout, ArrayView<T>, int, int>(Kernels.Unary<T, N>));
        int code = kind switch
        {
            UnaryKind.Neg => Kernels.Neg,
            UnaryKind.Exp => Kernels.Exp,
            UnaryKind.Log => Kernels.Log,
            UnaryKind.Sqrt => Kernels.Sqrt,
            UnaryKind.Abs => Kernels.Abs,
            UnaryKind.Sin => Kernels.Sin,
            UnaryKind.Cos => Kernels.Cos,
            UnaryKind.Tanh => Kernels.Tanh,
            UnaryKind.Sigmoid => Kernels.Sigmoid,
            UnaryKind.Relu => Kernels.Relu,
            UnaryKind.Softplus => Kernels.Softplus,
            UnaryKind.Gelu => Kernels.Gelu,
            UnaryKind.Erf => Kernels.Erf,
            _ => Kernels.Sign,
        };
        using (dev.Enter()) k(dev.Config(n), src, L(x), o.View, n, code);
        return o;
    }

    public Storage Binary(BinaryKind kind, Strided a, Strided b) => a.Storage.DType switch
    {
        DType.Float32 => BinaryT<float, F32>(kind, a, b),
        DType.Float64 => BinaryT<double, F64>(kind, a, b),
        DType.Int64 when kind != BinaryKind.Pow => BinaryT<long, I64>(kind, a, b),
        DType.Int64 => throw new DTypeMismatchException("pow", "pow: not defined for int64; cast to a float dtype first"),
        var t => throw new DTypeMismatchException(Name(kind), $"{Name(kind)}: no kernel for dtype {t.Name()}"),
    };

    GpuStorage<T> BinaryT<T, N>(BinaryKind kind, Strided x, Strided y) where T : unmanaged where N : struct, IArith<T>
    {
        int n = x.Numel;
        var (u, v) = (In<T>(x), In<T>(y));
        var o = Alloc<T>(x.Storage.DType, n);
        if (n == 0) return o;
        var k = dev.Kernel(Key("binary", typeof(T)),
            a => a.LoadStreamKernel<ArrayView<T>, Layout, ArrayView<T>, Layout, ArrayView<T>, int, int>(Kernels.Binary<T, N>));
        int code = kind switch
        {
            BinaryKind.Add => Kernels.Add,
            BinaryKind.Sub => Kernels.Sub,
            BinaryKind.Mul => Kernels.Mul,
            BinaryKind.Div => Kernels.Div,
            BinaryKind.Pow => Kernels.Pow,
            BinaryKind.Max => Kernels.Max,
            BinaryKind.Min => Kernels.Min,
            BinaryKind.ReluGrad => Kernels.ReluGrad,
            _ => Kernels.FloorDiv,
        };
        using (dev.Enter()) k(dev.Config(n), u, L(x), v, L(y), o.View, n, code);
        return o;
    }

    public Storage Compare(CompareKind kind, Strided a, Strided b) => a.Storage.DType switch
    {
        DType.Float32 => CompareT<float, F32>(kind, a, b),
        DType.Float64 => CompareT<double, F64>(kind, a, b),
        DType.Int64 => CompareT<long, I64>(kind, a, b),
        _ => CompareT<byte, U8>(kind, a, b),
    };

    GpuStorage<byte> CompareT<T, N>(CompareKind kind, Strided x, Strided y) where T : unmanaged where N : struct, IArith<T>
    {
        int n = x.Numel;
        var (u, v) = (In<T>(x), In<T>(y));
        var o = Alloc<byte>(DType.Bool, n);
        if (n == 0) return o;
        var k = dev.Kernel(Key("compare", typeof(T)),
            a => a.LoadStreamKernel<ArrayView<T>, Layout, ArrayView<T>, Layout, ArrayView<byte>, int, int>(Kernels.Compare<T, N>));
        using (dev.Enter()) k(dev.Config(n), u, L(x), v, L(y), o.View, n, (int)kind);
        return o;
    }

    public Storage Where(Strided cond, Strided a, Strided b) => a.Storage.DType switch
    {
        DType.Float32 => WhereT<float>(cond, a, b),
        DType.Float64 => WhereT<double>(cond, a, b),
        DType.Int64 => WhereT<long>(cond, a, b),
        _ => WhereT<byte>(cond, a, b),
    };

    GpuStorage<T> WhereT<T>(Strided c, Strided x, Strided y) where T : unmanaged
    {
        int n = x.Numel;
        var (m, u, v) = (In<byte>(c), In<T>(x), In<T>(y));
        var o = Alloc<T>(x.Storage.DType, n);
        if (n == 0) return o;
        var k = dev.Kernel(Key("where", typeof(T)),
            a => a.LoadStreamKernel<ArrayView<byte>, Layout, ArrayView<T>, Layout, ArrayView<T>, Layout, ArrayView<T>, int>(Kernels.Where));
        using (dev.Enter()) k(dev.Config(n), m, L(c), u, L(x), v, L(y), o.View, n);
        return o;
    }

    public long CountOutside(Strided x, long low, long high)
    {
        int n = x.Numel;
        if (n == 0) return 0;
        var src = In<long>(x);
        var config = dev.Config(n);
        var counts = Alloc<int>(DType.Int64, config.GridDim.X * config.GroupDim.X);
        var k = dev.Kernel(Key("count_outside", typeof(long)),
            a => a.LoadStreamKernel<ArrayView<long>, Layout, long, long, ArrayView<int>, int>(Kernels.CountOutside));
        int[] host = new int[counts.Length];
        using (dev.Enter())
        {
            k(config, src, L(x), low, high, counts.View, n);
            dev.Accelerator.Synchronize();
            counts.View.CopyToCPU(host);
        }
        counts.Release();
        long total = 0;
        foreach (var c in host) total += c;
        return total;
    }

    public Storage AddScaled(Strided y, double alpha, Strided x) => y.Storage.DType switch
    {
        DType.Float32 => AddScaledT<float, F32>(y, (float)alpha, x),
        DType.Float64 => AddScaledT<double, F64>(y, alpha, x),
        var t => throw new DTypeMismatchException("add_scaled", $"add_scaled: no kernel for dtype {t.Name()}"),
    };

    GpuStorage<T> AddScaledT<T, N>(Strided y, T alpha, Strided x) where T : unmanaged where N : struct, IArith<T>
    {
        int n = y.Numel;
        var (u, v) = (In<T>(y), In<T>(x));
        var o = Alloc<T>(y.Storage.DType, n);
        if (n == 0) return o;
        var k = dev.Kernel(Key("add_scaled", typeof(T)),
            a => a.LoadStreamKernel<ArrayView<T>, Layout, T, ArrayView<T>, Layout, ArrayView<T>, int>(Kernels.AddScaled<T, N>));
        using (dev.Enter()) k(dev.Config(n), u, L(y), alpha, v, L(x), o.View, n);
        return o;
    }

    // ---- reductions --------------------------------------------------------------------

    public Storage Reduce(ReduceKind kind, Strided x, int trailing) => x.Storage.DType switch
    {
        DType.Float32 => ReduceT<float, F32>(kind, x, trailing),
        DType.Float64 => ReduceT<double, F64>(kind, x, trailing),
        DType.Int64 => ReduceT<long, I64>(kind, x, trailing),
        var t => throw new DTypeMismatchException(Name(kind), $"{Name(kind)}: no kernel for dtype {t.Name()}"),
    };

    static (int Groups, int Group) Groups(Strided x, int trailing)
    {
        int group = 1, groups = 1;
        for (int i = x.Rank - trailing; i < x.Rank; i++) group *= x.Shape[i];
        for (int i = 0; i < x.Rank - trailing; i++) groups *= x.Shape[i];
        return (groups, group);
    }

    GpuStorage<T> ReduceT<T, N>(ReduceKind kind, Strided x, int trailing) where T : unmanaged where N : struct, IArith<T>
    {
        var (groups, group) = Groups(x, trailing);
        var src = In<T>(x);
        var o = Alloc<T>(x.Storage.DType, groups);
        if (groups == 0) return o;
        var k = dev.Kernel(Key("reduce", typeof(T)),
            a => a.LoadStreamKernel<ArrayView<T>, Layout, ArrayView<T>, int, int, int>(Kernels.Reduce<T, N>));
        int code = kind switch { ReduceKind.Sum => Kernels.Sum, ReduceKind.Max => Kernels.RMax, ReduceKind.Min => Kernels.RMin, _ => Kernels.Prod };
        using (dev.Enter()) k(dev.Config(groups), src, L(x), o.View, groups, group, code);
        return o;
    }

    public Storage ProdOfOthers(Strided x, int trailing) => x.Storage.DType switch
    {
        DType.Float32 => ProdOfOthersT<float, F32>(x, trailing),
        DType.Float64 => ProdOfOthersT<double, F64>(x, trailing),
        DType.Int64 => ProdOfOthersT<long, I64>(x, trailing),
        var t => throw new DTypeMismatchException("prod", $"prod: no kernel for dtype {t.Name()}"),
    };

    GpuStorage<T> ProdOfOthersT<T, N>(Strided x, int trailing) where T : unmanaged where N : struct, IArith<T>
    {
        var (groups, group) = Groups(x, trailing);
        var src = In<T>(x);
        var o = Alloc<T>(x.Storage.DType, x.Numel);
        if (x.Numel == 0) return o;
        var k = dev.Kernel(Key("prod_of_others", typeof(T)),
            a => a.LoadStreamKernel<ArrayView<T>, Layout, ArrayView<T>, int, int>(Kernels.ProdOfOthers<T, N>));
        using (dev.Enter()) k(dev.Config(groups), src, L(x), o.View, groups, group);
        return o;
    }

    public Storage LogSoftmax(Strided x) => x.Storage.DType switch
    {
        DType.Float32 => LogSoftmaxT<float, F32>(x),
        DType.Float64 => LogSoftmaxT<double, F64>(x),
        var t => throw new DTypeMismatchException("log_softmax", $"log_softmax: no kernel for dtype {t.Name()}"),
    };

    GpuStorage<T> LogSoftmaxT<T, N>(Strided x) where T : unmanaged where N : struct, IArith<T>
    {
        int n = x.Numel, len = x.Rank == 0 ? 1 : x.Shape[^1];
        var src = In<T>(x);
        var o = Alloc<T>(x.Storage.DType, n);
        if (n == 0 || len == 0) return o;
        int rows = n / len;
        var k = dev.Kernel(Key("log_softmax", typeof(T)),
            a => a.LoadStreamKernel<ArrayView<T>, Layout, ArrayView<T>, int, int>(Kernels.LogSoftmax<T, N>));
        using (dev.Enter()) k(dev.Config(rows), src, L(x), o.View, rows, len);
        return o;
    }

    // ---- matrix product ----------------------------------------------------------------

    public Storage MatMul(Strided a, Strided b) => a.Storage.DType switch
    {
        DType.Float32 => MatMulT<float, F32>(a, b),
        DType.Float64 => MatMulT<double, F64>(a, b),
        DType.Int64 => MatMulT<long, I64>(a, b),
        var t => throw new DTypeMismatchException("matmul", $"matmul: no kernel for dtype {t.Name()}"),
    };

    GpuStorage<T> MatMulT<T, N>(Strided x, Strided y) where T : unmanaged where N : struct, IArith<T>
    {
        int r = x.Rank, m = x.Shape[r - 2], k = x.Shape[r - 1], n = y.Shape[r - 1];
        int nb = ShapeMath.Numel(x.Shape[..^2]);
        var (u, v) = (In<T>(x), In<T>(y));
        var o = Alloc<T>(x.Storage.DType, nb * m * n);
        if (o.Length == 0) return o;
        var kernel = dev.Kernel(Key("matmul", typeof(T)),
            a => a.LoadStreamKernel<ArrayView<T>, Layout, ArrayView<T>, Layout, ArrayView<T>, Dims>(Kernels.MatMul<T, N>));
        var d = new Dims { A = nb, B = m, C = k, D = n, E = x.Strides[r - 2], F = x.Strides[r - 1], G = y.Strides[r - 2], H = y.Strides[r - 1] };
        using (dev.Enter()) kernel(dev.Config(o.Length), u, L(x), v, L(y), o.View, d);
        return o;
    }

    public bool FusesLinear(DType dtype) => false;

    public Storage Linear(Strided x, Strided w, Strided? b) =>
        throw new InvalidOperationException("linear: the GPU backend has no fused kernel; the op composes matmul and add (FusesLinear is false)");

    // ---- indexing ----------------------------------------------------------------------

    static (int outer, int dim, int inner) Split3(int[] shape, int axis)
    {
        int outer = 1, inner = 1;
        for (int i = 0; i < axis; i++) outer *= shape[i];
        for (int i = axis + 1; i < shape.Length; i++) inner *= shape[i];
        return (outer, shape.Length == 0 ? 1 : shape[axis], inner);
    }

    /// <summary>Indices out of range are counted on the device; only a bad one is read back, to name it.</summary>
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
        _ => IndexSelectT<byte>(x, axis, index),
    };

    GpuStorage<T> IndexSelectT<T>(Strided x, int axis, Strided index) where T : unmanaged
    {
        var (outer, dim, inner) = Split3(x.Shape, axis);
        CheckIndex("index_select", index, dim, axis);
        int len = index.Numel;
        var (src, ix) = (In<T>(x), In<long>(index));
        var o = Alloc<T>(x.Storage.DType, outer * len * inner);
        if (o.Length == 0) return o;
        var k = dev.Kernel(Key("index_select", typeof(T)),
            a => a.LoadStreamKernel<ArrayView<T>, Layout, ArrayView<long>, Layout, ArrayView<T>, Dims>(Kernels.IndexSelect));
        using (dev.Enter()) k(dev.Config(o.Length), src, L(x), ix, L(index), o.View, new Dims { A = outer, B = dim, C = inner, D = len });
        return o;
    }

    public Storage IndexAdd(int[] shape, int axis, Strided index, Strided src) => src.Storage.DType switch
    {
        DType.Float32 => IndexAddT<float, F32>(shape, axis, index, src),
        DType.Float64 => IndexAddT<double, F64>(shape, axis, index, src),
        DType.Int64 => IndexAddT<long, I64>(shape, axis, index, src),
        var t => throw new DTypeMismatchException("index_add", $"index_add: no kernel for dtype {t.Name()}"),
    };

    GpuStorage<T> IndexAddT<T, N>(int[] shape, int axis, Strided index, Strided src) where T : unmanaged where N : struct, IArith<T>
    {
        var (outer, dim, inner) = Split3(shape, axis);
        CheckIndex("index_add", index, dim, axis);
        var (s, ix) = (In<T>(src), In<long>(index));
        var o = Alloc<T>(src.Storage.DType, outer * dim * inner);
        if (o.Length == 0) return o;
        var k = dev.Kernel(Key("index_add", typeof(T)),
            a => a.LoadStreamKernel<ArrayView<T>, Layout, ArrayView<long>, Layout, ArrayView<T>, Dims>(Kernels.IndexAdd<T, N>));
        using (dev.Enter()) k(dev.Config(o.Length), s, L(src), ix, L(index), o.View, new Dims { A = outer, B = dim, C = inner, D = index.Numel });
        return o;
    }

    public Storage Gather(Strided x, int axis, Strided index) => x.Storage.DType switch
    {
        DType.Float32 => GatherT<float>(x, axis, index),
        DType.Float64 => GatherT<double>(x, axis, index),
        DType.Int64 => GatherT<long>(x, axis, index),
        _ => GatherT<byte>(x, axis, index),
    };

    GpuStorage<T> GatherT<T>(Strided x, int axis, Strided index) where T : unmanaged
    {
        var (outer, dim, inner) = Split3(x.Shape, axis);
        CheckIndex("gather", index, dim, axis);
        int len = index.Rank == 0 ? 1 : index.Shape[axis];
        var (src, ix) = (In<T>(x), In<long>(index));
        var o = Alloc<T>(x.Storage.DType, index.Numel);
        if (o.Length == 0) return o;
        var k = dev.Kernel(Key("gather", typeof(T)),
            a => a.LoadStreamKernel<ArrayView<T>, Layout, ArrayView<long>, Layout, ArrayView<T>, Dims>(Kernels.Gather));
        using (dev.Enter()) k(dev.Config(o.Length), src, L(x), ix, L(index), o.View, new Dims { A = outer, B = dim, C = inner, D = len });
        return o;
    }

    public Storage ScatterAdd(int[] shape, int axis, Strided index, Strided src) => src.Storage.DType switch
    {
        DType.Float32 => ScatterAddT<float, F32>(shape, axis, index, src),
        DType.Float64 => ScatterAddT<double, F64>(shape, axis, index, src),
        DType.Int64 => ScatterAddT<long, I64>(shape, axis, index, src),
        var t => throw new DTypeMismatchException("scatter_add", $"scatter_add: no kernel for dtype {t.Name()}"),
    };

    GpuStorage<T> ScatterAddT<T, N>(int[] shape, int axis, Strided index, Strided src) where T : unmanaged where N : struct, IArith<T>
    {
        var (outer, dim, inner) = Split3(shape, axis);
        CheckIndex("scatter_add", index, dim, axis);
        int len = index.Rank == 0 ? 1 : index.Shape[axis];
        var (s, ix) = (In<T>(src), In<long>(index));
        var o = Alloc<T>(src.Storage.DType, outer * dim * inner);
        if (o.Length == 0) return o;
        var k = dev.Kernel(Key("scatter_add", typeof(T)),
            a => a.LoadStreamKernel<ArrayView<T>, Layout, ArrayView<long>, Layout, ArrayView<T>, Dims>(Kernels.ScatterAdd<T, N>));
        using (dev.Enter()) k(dev.Config(o.Length), s, L(src), ix, L(index), o.View, new Dims { A = outer, B = dim, C = inner, D = len });
        return o;
    }

    // ---- placement ---------------------------------------------------------------------

    public Storage SliceScatter(int[] shape, int axis, int start, int step, Strided src) => src.Storage.DType switch
    {
        DType.Float32 => SliceScatterT<float, F32>(shape, axis, start, step, src),
        DType.Float64 => SliceScatterT<double, F64>(shape, axis, start, step, src),
        DType.Int64 => SliceScatterT<long, I64>(shape, axis, start, step, src),
        _ => SliceScatterT<byte, U8>(shape, axis, start, step, src),
    };

    GpuStorage<T> SliceScatterT<T, N>(int[] shape, int axis, int start, int step, Strided src) where T : unmanaged where N : struct, IArith<T>
    {
        var (outer, dim, inner) = Split3(shape, axis);
        var s = In<T>(src);
        var o = Alloc<T>(src.Storage.DType, ShapeMath.Numel(shape));
        if (o.Length == 0) return o;
        var k = dev.Kernel(Key("slice_scatter", typeof(T)),
            a => a.LoadStreamKernel<ArrayView<T>, Layout, ArrayView<T>, Dims>(Kernels.SliceScatter<T, N>));
        var d = new Dims { A = outer, B = dim, C = inner, D = start, E = step, F = src.Rank == 0 ? 1 : src.Shape[axis] };
        using (dev.Enter()) k(dev.Config(o.Length), s, L(src), o.View, d);
        return o;
    }

    public Storage Cat(Strided[] parts, int axis, int[] shape) => parts[0].Storage.DType switch
    {
        DType.Float32 => CatT<float>(parts, axis, shape),
        DType.Float64 => CatT<double>(parts, axis, shape),
        DType.Int64 => CatT<long>(parts, axis, shape),
        _ => CatT<byte>(parts, axis, shape),
    };

    GpuStorage<T> CatT<T>(Strided[] parts, int axis, int[] shape) where T : unmanaged
    {
        var (_, dim, inner) = Split3(shape, axis);
        var views = parts.Select(In<T>).ToArray();
        var o = Alloc<T>(parts[0].Storage.DType, ShapeMath.Numel(shape));
        if (o.Length == 0) return o;
        var k = dev.Kernel(Key("copy_into", typeof(T)),
            a => a.LoadStreamKernel<ArrayView<T>, Layout, ArrayView<T>, Dims>(Kernels.CopyInto));
        int at = 0;
        for (int i = 0; i < parts.Length; i++)
        {
            var p = parts[i];
            int n = p.Numel, size = p.Shape[axis];
            if (n > 0)
                using (dev.Enter()) k(dev.Config(n), views[i], L(p), o.View, new Dims { A = size, B = inner, C = dim, D = at, E = n });
            at += size;
        }
        return o;
    }

    // ---- sliding windows ---------------------------------------------------------------

    public Storage Unfold(Strided x, Window w) => x.Storage.DType switch
    {
        DType.Float32 => UnfoldT<float, F32>(x, w),
        DType.Float64 => UnfoldT<double, F64>(x, w),
        DType.Int64 => UnfoldT<long, I64>(x, w),
        var t => throw new DTypeMismatchException("unfold", $"unfold: no kernel for dtype {t.Name()}"),
    };

    static Dims Geometry(int[] image, Window w) =>
        new() { A = image[0], B = image[1], C = image[2], D = image[3], E = w.Kh, F = w.Kw, G = w.Stride, H = w.Padding };

    GpuStorage<T> UnfoldT<T, N>(Strided x, Window w) where T : unmanaged where N : struct, IArith<T>
    {
        int oh = w.OutH(x.Shape[2]), ow = w.OutW(x.Shape[3]);
        var src = In<T>(x);
        var o = Alloc<T>(x.Storage.DType, x.Shape[0] * x.Shape[1] * w.Kh * w.Kw * oh * ow);
        if (o.Length == 0) return o;
        var k = dev.Kernel(Key("unfold", typeof(T)),
            a => a.LoadStreamKernel<ArrayView<T>, Layout, ArrayView<T>, Dims, int, int>(Kernels.Unfold<T, N>));
        using (dev.Enter()) k(dev.Config(o.Length), src, L(x), o.View, Geometry(x.Shape, w), oh, ow);
        return o;
    }

    public Storage Fold(Strided cols, int[] shape, Window w) => cols.Storage.DType switch
    {
        DType.Float32 => FoldT<float, F32>(cols, shape, w),
        DType.Float64 => FoldT<double, F64>(cols, shape, w),
        DType.Int64 => FoldT<long, I64>(cols, shape, w),
        var t => throw new DTypeMismatchException("fold", $"fold: no kernel for dtype {t.Name()}"),
    };

    GpuStorage<T> FoldT<T, N>(Strided cols, int[] shape, Window w) where T : unmanaged where N : struct, IArith<T>
    {
        int oh = w.OutH(shape[2]), ow = w.OutW(shape[3]);
        var src = In<T>(cols);
        var o = Alloc<T>(cols.Storage.DType, ShapeMath.Numel(shape));
        if (o.Length == 0) return o;
        var k = dev.Kernel(Key("fold", typeof(T)),
            a => a.LoadStreamKernel<ArrayView<T>, Layout, ArrayView<T>, Dims, int, int>(Kernels.Fold<T, N>));
        using (dev.Enter()) k(dev.Config(o.Length), src, L(cols), o.View, Geometry(shape, w), oh, ow);
        return o;
    }
}
