using ILGPU;
using ILGPU.Runtime;

namespace Cotangent.Backends.Gpu;

internal sealed partial class GpuKernels
{
    public Storage Unary(UnaryKind kind, Strided x) => x.Storage.DType switch
    {
        DType.Float32 => UnaryT<float, F32>(kind, x),
        DType.Float64 => UnaryT<double, F64>(kind, x),
        DType.Int64 when kind is UnaryKind.Neg or UnaryKind.Abs or UnaryKind.Relu or UnaryKind.Sign => UnaryT<long, I64>(kind, x),
        // integers are their own floor, ceiling, rounding and truncation
        DType.Int64 when kind is UnaryKind.Floor or UnaryKind.Ceil or UnaryKind.Round or UnaryKind.Trunc => Contiguous(x),
        DType.Int64 => throw new DTypeMismatchException(Name(kind), $"{Name(kind)}: not defined for int64; cast to a float dtype first"),
        var t => throw NoKernel(Name(kind), t),
    };

    static int Code(UnaryKind kind) => kind switch
    {
        UnaryKind.Neg => DeviceCode.Neg,
        UnaryKind.Exp => DeviceCode.Exp,
        UnaryKind.Log => DeviceCode.Log,
        UnaryKind.Sqrt => DeviceCode.Sqrt,
        UnaryKind.Abs => DeviceCode.Abs,
        UnaryKind.Sin => DeviceCode.Sin,
        UnaryKind.Cos => DeviceCode.Cos,
        UnaryKind.Tanh => DeviceCode.Tanh,
        UnaryKind.Sigmoid => DeviceCode.Sigmoid,
        UnaryKind.Relu => DeviceCode.Relu,
        UnaryKind.Softplus => DeviceCode.Softplus,
        UnaryKind.Gelu => DeviceCode.Gelu,
        UnaryKind.Erf => DeviceCode.Erf,
        UnaryKind.Sign => DeviceCode.Sign,
        UnaryKind.Log1p => DeviceCode.Log1p,
        UnaryKind.Expm1 => DeviceCode.Expm1,
        UnaryKind.Tan => DeviceCode.Tan,
        UnaryKind.Asin => DeviceCode.Asin,
        UnaryKind.Acos => DeviceCode.Acos,
        UnaryKind.Atan => DeviceCode.Atan,
        UnaryKind.Sinh => DeviceCode.Sinh,
        UnaryKind.Cosh => DeviceCode.Cosh,
        UnaryKind.Floor => DeviceCode.Floor,
        UnaryKind.Ceil => DeviceCode.Ceil,
        UnaryKind.Round => DeviceCode.Round,
        UnaryKind.Trunc => DeviceCode.Trunc,
        _ => throw new InvalidOperationException($"{Name(kind)}: the GPU backend has no kernel for this unary op"),
    };

    static int Code(BinaryKind kind) => kind switch
    {
        BinaryKind.Add => DeviceCode.Add,
        BinaryKind.Sub => DeviceCode.Sub,
        BinaryKind.Mul => DeviceCode.Mul,
        BinaryKind.Div => DeviceCode.Div,
        BinaryKind.Pow => DeviceCode.Pow,
        BinaryKind.Max => DeviceCode.Max,
        BinaryKind.Min => DeviceCode.Min,
        BinaryKind.ReluGrad => DeviceCode.ReluGrad,
        BinaryKind.FloorDiv => DeviceCode.FloorDiv,
        BinaryKind.GeluGrad => DeviceCode.GeluGrad,
        BinaryKind.Atan2 => DeviceCode.Atan2,
        BinaryKind.Hypot => DeviceCode.Hypot,
        BinaryKind.Fmod => DeviceCode.Fmod,
        BinaryKind.Remainder => DeviceCode.Remainder,
        _ => throw new InvalidOperationException($"{Name(kind)}: the GPU backend has no kernel for this binary op"),
    };

    static int Code(CompareKind kind) => kind switch
    {
        CompareKind.Eq => DeviceCode.Eq,
        CompareKind.Ne => DeviceCode.Ne,
        CompareKind.Lt => DeviceCode.Lt,
        CompareKind.Le => DeviceCode.Le,
        CompareKind.Gt => DeviceCode.Gt,
        CompareKind.Ge => DeviceCode.Ge,
        _ => throw new InvalidOperationException($"{Name(kind)}: the GPU backend has no kernel for this comparison"),
    };

    GpuStorage<T> UnaryT<T, N>(UnaryKind kind, Strided x) where T : unmanaged where N : struct, IArith<T>
    {
        int n = x.Numel, code = Code(kind);
        var src = Input<T>(x);
        var o = NewStorage<T>(x.Storage.DType, n);
        if (n == 0) return o;
        var k = dev.Kernel(Key("unary", typeof(T)), a => a.LoadStreamKernel<ArrayView<T>, Layout, ArrayView<T>, int, int>(DeviceCode.Unary<T, N>));
        using (dev.Enter()) k(dev.Config(n), src, LayoutOf(x), o.View, n, code);
        return o;
    }

    public Storage Binary(BinaryKind kind, Strided a, Strided b) => a.Storage.DType switch
    {
        DType.Float32 => BinaryT<float, F32>(kind, a, b),
        DType.Float64 => BinaryT<double, F64>(kind, a, b),
        DType.Int64 when kind is not (BinaryKind.Pow or BinaryKind.Atan2 or BinaryKind.Hypot or BinaryKind.Fmod or BinaryKind.Remainder) => BinaryT<long, I64>(kind, a, b),
        DType.Int64 => throw new DTypeMismatchException(Name(kind), $"{Name(kind)}: not defined for int64; cast to a float dtype first"),
        var t => throw NoKernel(Name(kind), t),
    };

    GpuStorage<T> BinaryT<T, N>(BinaryKind kind, Strided x, Strided y) where T : unmanaged where N : struct, IArith<T>
    {
        int n = x.Numel, code = Code(kind);
        var (u, v) = (Input<T>(x), Input<T>(y));
        var o = NewStorage<T>(x.Storage.DType, n);
        if (n == 0) return o;
        var k = dev.Kernel(Key("binary", typeof(T)),
            a => a.LoadStreamKernel<ArrayView<T>, Layout, ArrayView<T>, Layout, ArrayView<T>, int, int>(DeviceCode.Binary<T, N>));
        using (dev.Enter()) k(dev.Config(n), u, LayoutOf(x), v, LayoutOf(y), o.View, n, code);
        return o;
    }

    public Storage Compare(CompareKind kind, Strided a, Strided b) => a.Storage.DType switch
    {
        DType.Float32 => CompareT<float, F32>(kind, a, b),
        DType.Float64 => CompareT<double, F64>(kind, a, b),
        DType.Int64 => CompareT<long, I64>(kind, a, b),
        DType.Bool => CompareT<byte, Bool8>(kind, a, b),
        var t => throw NoKernel(Name(kind), t),
    };

    GpuStorage<byte> CompareT<T, N>(CompareKind kind, Strided x, Strided y) where T : unmanaged where N : struct, IArith<T>
    {
        int n = x.Numel, code = Code(kind);
        var (u, v) = (Input<T>(x), Input<T>(y));
        var o = NewStorage<byte>(DType.Bool, n);
        if (n == 0) return o;
        var k = dev.Kernel(Key("compare", typeof(T)),
            a => a.LoadStreamKernel<ArrayView<T>, Layout, ArrayView<T>, Layout, ArrayView<byte>, int, int>(DeviceCode.Compare<T, N>));
        using (dev.Enter()) k(dev.Config(n), u, LayoutOf(x), v, LayoutOf(y), o.View, n, code);
        return o;
    }

    public Storage Where(Strided cond, Strided a, Strided b) => a.Storage.DType switch
    {
        DType.Float32 => WhereT<float>(cond, a, b),
        DType.Float64 => WhereT<double>(cond, a, b),
        DType.Int64 => WhereT<long>(cond, a, b),
        DType.Bool => WhereT<byte>(cond, a, b),
        var t => throw NoKernel("where", t),
    };

    GpuStorage<T> WhereT<T>(Strided c, Strided x, Strided y) where T : unmanaged
    {
        int n = x.Numel;
        var (m, u, v) = (Input<byte>(c), Input<T>(x), Input<T>(y));
        var o = NewStorage<T>(x.Storage.DType, n);
        if (n == 0) return o;
        var k = dev.Kernel(Key("where", typeof(T)),
            a => a.LoadStreamKernel<ArrayView<byte>, Layout, ArrayView<T>, Layout, ArrayView<T>, Layout, ArrayView<T>, int>(DeviceCode.Where));
        using (dev.Enter()) k(dev.Config(n), m, LayoutOf(c), u, LayoutOf(x), v, LayoutOf(y), o.View, n);
        return o;
    }

    public Storage AddScaled(Strided y, double alpha, Strided x) => y.Storage.DType switch
    {
        DType.Float32 => AddScaledT<float, F32>(y, (float)alpha, x),
        DType.Float64 => AddScaledT<double, F64>(y, alpha, x),
        var t => throw NoKernel("add_scaled", t),
    };

    GpuStorage<T> AddScaledT<T, N>(Strided y, T alpha, Strided x) where T : unmanaged where N : struct, IArith<T>
    {
        int n = y.Numel;
        var (u, v) = (Input<T>(y), Input<T>(x));
        var o = NewStorage<T>(y.Storage.DType, n);
        if (n == 0) return o;
        var k = dev.Kernel(Key("add_scaled", typeof(T)),
            a => a.LoadStreamKernel<ArrayView<T>, Layout, T, ArrayView<T>, Layout, ArrayView<T>, int>(DeviceCode.AddScaled<T, N>));
        using (dev.Enter()) k(dev.Config(n), u, LayoutOf(y), alpha, v, LayoutOf(x), o.View, n);
        return o;
    }

    public (Storage Value, Storage M, Storage V) Adam(Strided p, Strided g, Strided? m, Strided? v, AdamStep step) => p.Storage.DType switch
    {
        DType.Float32 => AdamT<float, F32>(p, g, m, v, step),
        DType.Float64 => AdamT<double, F64>(p, g, m, v, step),
        var t => throw NoKernel("adam", t),
    };

    (Storage, Storage, Storage) AdamT<T, N>(Strided p, Strided g, Strided? m, Strided? v, AdamStep h) where T : unmanaged where N : struct, IArith<T>
    {
        int n = p.Numel;
        bool first = m is null || v is null;
        var (pv, gv) = (Input<T>(p), Input<T>(g));
        // the first step reads no moments: p stands in for them, unread
        var (mv, vv) = first ? (pv, pv) : (Input<T>(m!.Value), Input<T>(v!.Value));
        var (lm, lv) = first ? (LayoutOf(p), LayoutOf(p)) : (LayoutOf(m!.Value), LayoutOf(v!.Value));
        var (op, om, ov) = (NewStorage<T>(p.Storage.DType, n), NewStorage<T>(p.Storage.DType, n), NewStorage<T>(p.Storage.DType, n));
        if (n == 0) return (op, om, ov);
        int mode = h.WeightDecay == 0 ? 0 : h.Decoupled ? 1 : 2;
        var numbers = new AdamNumbers(h.Lr, h.Beta1, h.Beta2, h.Eps, h.Decoupled ? 1 - h.Lr * h.WeightDecay : h.WeightDecay, h.C1, h.C2, mode, first ? 0 : 1);
        var k = dev.Kernel(Key("adam", typeof(T)),
            a => a.LoadStreamKernel<ArrayView<T>, Layout, ArrayView<T>, Layout, ArrayView<T>, Layout, ArrayView<T>, Layout, AdamNumbers, ArrayView<T>, ArrayView<T>, ArrayView<T>, int>(DeviceCode.Adam<T, N>));
        using (dev.Enter()) k(dev.Config(n), pv, LayoutOf(p), gv, LayoutOf(g), mv, lm, vv, lv, numbers, op.View, om.View, ov.View, n);
        return (op, om, ov);
    }

    public Storage LayerNorm(Strided x, int d, Strided? gamma, Strided? beta, double eps) => x.Storage.DType switch
    {
        DType.Float32 => LayerNormT<float, F32>(x, d, gamma, beta, eps),
        DType.Float64 => LayerNormT<double, F64>(x, d, gamma, beta, eps),
        var t => throw NoKernel("layer_norm", t),
    };

    GpuStorage<T> LayerNormT<T, N>(Strided x, int d, Strided? gamma, Strided? beta, double eps) where T : unmanaged where N : struct, IArith<T>
    {
        int n = x.Numel, rows = d == 0 ? 0 : n / d;
        var src = Input<T>(x);
        var o = NewStorage<T>(x.Storage.DType, n);
        if (rows == 0) return o;
        // absent γ or β: the output stands in, never read
        ArrayView<T> g = gamma is { } gv ? Input<T>(gv) : o.View;   // the op hands γ and β over contiguous from offset 0
        ArrayView<T> b = beta is { } bv ? Input<T>(bv) : o.View;
        int affine = (gamma is null ? 0 : 1) | (beta is null ? 0 : 2);
        var k = dev.Kernel(Key("layer_norm", typeof(T)),
            a => a.LoadStreamKernel<ArrayView<T>, Layout, ArrayView<T>, ArrayView<T>, int, ArrayView<T>, int, int, double>(DeviceCode.LayerNorm<T, N>));
        using (dev.Enter()) k(dev.Config(rows), src, LayoutOf(x), g, b, affine, o.View, rows, d, eps);
        return o;
    }

    public Storage LayerNormBackward(Strided gh, Strided x, int d, double eps) => x.Storage.DType switch
    {
        DType.Float32 => LayerNormBackwardT<float, F32>(gh, x, d, eps),
        DType.Float64 => LayerNormBackwardT<double, F64>(gh, x, d, eps),
        var t => throw NoKernel("layer_norm_backward", t),
    };

    GpuStorage<T> LayerNormBackwardT<T, N>(Strided gh, Strided x, int d, double eps) where T : unmanaged where N : struct, IArith<T>
    {
        int n = x.Numel, rows = d == 0 ? 0 : n / d;
        var (g, src) = (Input<T>(gh), Input<T>(x));
        var o = NewStorage<T>(x.Storage.DType, n);
        if (rows == 0) return o;
        var k = dev.Kernel(Key("layer_norm_backward", typeof(T)),
            a => a.LoadStreamKernel<ArrayView<T>, Layout, ArrayView<T>, Layout, ArrayView<T>, int, int, double>(DeviceCode.LayerNormBackward<T, N>));
        using (dev.Enter()) k(dev.Config(rows), g, LayoutOf(gh), src, LayoutOf(x), o.View, rows, d, eps);
        return o;
    }

    public bool FusesBatchNorm(DType dtype) => dtype is DType.Float32 or DType.Float64;

    public (Storage Y, Storage Mean, Storage Var) BatchNorm(Strided x, int channels, Strided? gamma, Strided? beta, double eps) => x.Storage.DType switch
    {
        DType.Float32 => BatchNormT<float, F32>(x, channels, gamma, beta, eps),
        DType.Float64 => BatchNormT<double, F64>(x, channels, gamma, beta, eps),
        var t => throw NoKernel("batch_norm", t),
    };

    /// <summary>One thread a channel, each walking its channel's n·l elements: parallel over channels only.</summary>
    (Storage, Storage, Storage) BatchNormT<T, N>(Strided x, int channels, Strided? gamma, Strided? beta, double eps) where T : unmanaged where N : struct, IArith<T>
    {
        int numel = x.Numel, n = x.Shape[0], l = channels == 0 || n == 0 ? 0 : numel / (n * channels);
        var src = Input<T>(x);
        var o = NewStorage<T>(x.Storage.DType, numel);
        var mean = NewStorage<T>(x.Storage.DType, channels);
        var variance = NewStorage<T>(x.Storage.DType, channels);
        if (numel == 0) return (o, mean, variance);
        // absent γ or β: the output stands in, never read
        ArrayView<T> g = gamma is { } gv ? Input<T>(gv) : o.View;   // the op hands γ and β over contiguous from offset 0
        ArrayView<T> b = beta is { } bv ? Input<T>(bv) : o.View;
        int affine = (gamma is null ? 0 : 1) | (beta is null ? 0 : 2);
        var k = dev.Kernel(Key("batch_norm", typeof(T)),
            a => a.LoadStreamKernel<ArrayView<T>, Layout, ArrayView<T>, ArrayView<T>, int, ArrayView<T>, ArrayView<T>, ArrayView<T>, int, int, int, double>(DeviceCode.BatchNorm<T, N>));
        using (dev.Enter()) k(dev.Config(channels), src, LayoutOf(x), g, b, affine, o.View, mean.View, variance.View, channels, n, l, eps);
        return (o, mean, variance);
    }

    public (Storage Dx, Storage DGamma, Storage DBeta) BatchNormBackward(Strided g, Strided x, Strided? gamma, int channels, double eps) => x.Storage.DType switch
    {
        DType.Float32 => BatchNormBackwardT<float, F32>(g, x, gamma, channels, eps),
        DType.Float64 => BatchNormBackwardT<double, F64>(g, x, gamma, channels, eps),
        var t => throw NoKernel("batch_norm_backward", t),
    };

    (Storage, Storage, Storage) BatchNormBackwardT<T, N>(Strided gv, Strided x, Strided? gamma, int channels, double eps) where T : unmanaged where N : struct, IArith<T>
    {
        int numel = x.Numel, n = x.Shape[0], l = channels == 0 || n == 0 ? 0 : numel / (n * channels);
        var (g, src) = (Input<T>(gv), Input<T>(x));
        var o = NewStorage<T>(x.Storage.DType, numel);
        var dgamma = NewStorage<T>(x.Storage.DType, channels);
        var dbeta = NewStorage<T>(x.Storage.DType, channels);
        if (numel == 0) return (o, Full(x.Storage.DType, channels, 0), Full(x.Storage.DType, channels, 0));   // empty sums
        ArrayView<T> gm = gamma is { } gmv ? Input<T>(gmv) : o.View;   // absent γ: the output stands in, never read
        var k = dev.Kernel(Key("batch_norm_backward", typeof(T)),
            a => a.LoadStreamKernel<ArrayView<T>, Layout, ArrayView<T>, Layout, ArrayView<T>, int, ArrayView<T>, ArrayView<T>, ArrayView<T>, int, int, int, double>(DeviceCode.BatchNormBackward<T, N>));
        using (dev.Enter()) k(dev.Config(channels), g, LayoutOf(gv), src, LayoutOf(x), gm, gamma is null ? 0 : 1, o.View, dgamma.View, dbeta.View, channels, n, l, eps);
        return (o, dgamma, dbeta);
    }

    public Storage SoftmaxBackward(Strided g, Strided y) => y.Storage.DType switch
    {
        DType.Float32 => SoftmaxBackwardT<float, F32>(g, y),
        DType.Float64 => SoftmaxBackwardT<double, F64>(g, y),
        var t => throw NoKernel("softmax_backward", t),
    };

    GpuStorage<T> SoftmaxBackwardT<T, N>(Strided g, Strided y) where T : unmanaged where N : struct, IArith<T>
    {
        int n = y.Numel, d = y.Rank == 0 ? 1 : y.Shape[^1], rows = d == 0 ? 0 : n / d;
        var (gv, yv) = (Input<T>(g), Input<T>(y));
        var o = NewStorage<T>(y.Storage.DType, n);
        if (rows == 0) return o;
        var k = dev.Kernel(Key("softmax_backward", typeof(T)),
            a => a.LoadStreamKernel<ArrayView<T>, Layout, ArrayView<T>, Layout, ArrayView<T>, int, int>(DeviceCode.SoftmaxBackward<T, N>));
        using (dev.Enter()) k(dev.Config(rows), gv, LayoutOf(g), yv, LayoutOf(y), o.View, rows, d);
        return o;
    }
}
