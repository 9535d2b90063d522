using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;

namespace Cotangent.Backends.Cpu;

/// <summary>
/// The host backend. Each kernel dispatches on dtype once, then runs a generic loop; the
/// contiguous cases go through TensorPrimitives (SIMD), the strided ones row by row.
/// </summary>
internal sealed partial class CpuKernels : IKernels
{
    public static readonly CpuKernels Instance = new();

    public Storage Full(DType dtype, int length, double value) => dtype switch
    {
        DType.Float32 => Filled(length, (float)value),
        DType.Float64 => Filled(length, value),
        DType.Int64 => Filled(length, (long)value),
        _ => Filled(length, value != 0),
    };

    static Storage Filled<T>(int n, T v) where T : unmanaged
    {
        var a = Buffers.Zeroed<T>(n);
        if (!EqualityComparer<T>.Default.Equals(v, default)) Array.Fill(a, v);
        return new CpuStorage<T>(a);
    }

    public Storage Wrap(Array data) => data switch
    {
        float[] f => new CpuStorage<float>(f),
        double[] d => new CpuStorage<double>(d),
        long[] l => new CpuStorage<long>(l),
        bool[] b => new CpuStorage<bool>(b),
        _ => throw new ArgumentException($"no dtype for arrays of {data.GetType().GetElementType()?.Name}"),
    };

    public Array ToArray(Strided x) => x.Storage.DType switch
    {
        DType.Float32 => Fresh<float>(x),
        DType.Float64 => Fresh<double>(x),
        DType.Int64 => Fresh<long>(x),
        _ => Fresh<bool>(x),
    };

    static T[] Fresh<T>(Strided x) where T : unmanaged
    {
        var d = Walk.Dense<T>(x);
        return ReferenceEquals(d, Walk.Data<T>(x.Storage)) ? (T[])d.Clone() : d;
    }

    public Storage Contiguous(Strided x) => Wrap(ToArray(x));

    public bool FusesLinear(DType dtype) => dtype == DType.Float32;

    public long CountOutside(Strided x, long low, long high)
    {
        long n = 0;
        foreach (var v in Walk.Span<long>(x)) if (v < low || v >= high) n++;
        return n;
    }

    public Storage Cast(Strided x, DType to) => x.Storage.DType switch
    {
        DType.Float32 => CastFrom<float>(x, to),
        DType.Float64 => CastFrom<double>(x, to),
        DType.Int64 => CastFrom<long>(x, to),
        _ => CastBool(x, to),
    };

    static Storage CastFrom<T>(Strided x, DType to) where T : unmanaged, INumber<T>
    {
        var s = Walk.Span<T>(x);
        switch (to)
        {
            case DType.Float32: { var o = Buffers.Uninitialized<float>(s.Length); for (int i = 0; i < s.Length; i++) o[i] = float.CreateTruncating(s[i]); return new CpuStorage<float>(o); }
            case DType.Float64: { var o = Buffers.Uninitialized<double>(s.Length); for (int i = 0; i < s.Length; i++) o[i] = double.CreateTruncating(s[i]); return new CpuStorage<double>(o); }
            case DType.Int64: { var o = Buffers.Uninitialized<long>(s.Length); for (int i = 0; i < s.Length; i++) o[i] = long.CreateSaturating(s[i]); return new CpuStorage<long>(o); }
            default: { var o = Buffers.Uninitialized<bool>(s.Length); for (int i = 0; i < s.Length; i++) o[i] = s[i] != T.Zero; return new CpuStorage<bool>(o); }
        }
    }

    static Storage CastBool(Strided x, DType to)
    {
        var s = Walk.Span<bool>(x);
        switch (to)
        {
            case DType.Float32: { var o = Buffers.Uninitialized<float>(s.Length); for (int i = 0; i < s.Length; i++) o[i] = s[i] ? 1f : 0f; return new CpuStorage<float>(o); }
            case DType.Float64: { var o = Buffers.Uninitialized<double>(s.Length); for (int i = 0; i < s.Length; i++) o[i] = s[i] ? 1d : 0d; return new CpuStorage<double>(o); }
            case DType.Int64: { var o = Buffers.Uninitialized<long>(s.Length); for (int i = 0; i < s.Length; i++) o[i] = s[i] ? 1L : 0L; return new CpuStorage<long>(o); }
            default: return new CpuStorage<bool>(s.ToArray());
        }
    }

    // ---- elementwise -------------------------------------------------------------------

    public Storage Unary(UnaryKind kind, Strided x) => x.Storage.DType switch
    {
        DType.Float32 => UnaryFloat<float>(kind, x),
        DType.Float64 => UnaryFloat<double>(kind, x),
        DType.Int64 => UnaryInt<long>(kind, x),
        var t => throw new DTypeMismatchException(kind.ToString().ToLowerInvariant(), $"{kind.ToString().ToLowerInvariant()}: no kernel for dtype {t.Name()}"),
    };

    static Storage UnaryFloat<T>(UnaryKind kind, Strided x) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (src, off) = Walk.Segment<T>(x);
        var o = Buffers.Uninitialized<T>(x.Numel);
        int threshold = kind is UnaryKind.Neg or UnaryKind.Abs or UnaryKind.Relu or UnaryKind.Sign or UnaryKind.Floor or UnaryKind.Ceil or UnaryKind.Trunc ? Walk.ParallelThreshold : Walk.ParallelThresholdCostly;
        Walk.Chunked(o.Length, (start, len) => UnaryFloat(kind, new ReadOnlySpan<T>(src, off + start, len), o.AsSpan(start, len)), threshold);
        return new CpuStorage<T>(o);
    }

    static void UnaryFloat<T>(UnaryKind kind, ReadOnlySpan<T> s, Span<T> o) where T : unmanaged, IFloatingPointIeee754<T>
    {
        switch (kind)
        {
            case UnaryKind.Neg: TensorPrimitives.Negate(s, o); break;
            case UnaryKind.Exp: TensorPrimitives.Exp(s, o); break;
            case UnaryKind.Log: TensorPrimitives.Log(s, o); break;
            case UnaryKind.Sqrt: TensorPrimitives.Sqrt(s, o); break;
            case UnaryKind.Abs: TensorPrimitives.Abs(s, o); break;
            case UnaryKind.Sin: TensorPrimitives.Sin(s, o); break;
            case UnaryKind.Cos: TensorPrimitives.Cos(s, o); break;
            case UnaryKind.Tanh: TensorPrimitives.Tanh(s, o); break;
            case UnaryKind.Sigmoid: TensorPrimitives.Sigmoid(s, o); break;
            case UnaryKind.Relu: TensorPrimitives.Max(s, T.Zero, o); break;
            case UnaryKind.Softplus: for (int i = 0; i < s.Length; i++) o[i] = Scalar.Softplus(s[i]); break;
            case UnaryKind.Gelu when typeof(T) == typeof(float): Gauss.Map<GeluFunction>(MemoryMarshal.Cast<T, float>(s), MemoryMarshal.Cast<T, float>(o)); break;
            case UnaryKind.Erf when typeof(T) == typeof(float): Gauss.Map<ErfFunction>(MemoryMarshal.Cast<T, float>(s), MemoryMarshal.Cast<T, float>(o)); break;
            case UnaryKind.Gelu: for (int i = 0; i < s.Length; i++) o[i] = Scalar.Gelu(s[i]); break;
            case UnaryKind.Erf: for (int i = 0; i < s.Length; i++) o[i] = Scalar.ErfT(s[i]); break;
            case UnaryKind.Sign: for (int i = 0; i < s.Length; i++) o[i] = Scalar.Sign(s[i]); break;
            case UnaryKind.Log1p: for (int i = 0; i < s.Length; i++) o[i] = Scalar.Log1p(s[i]); break;
            case UnaryKind.Expm1: for (int i = 0; i < s.Length; i++) o[i] = Scalar.Expm1(s[i]); break;
            case UnaryKind.Tan: TensorPrimitives.Tan(s, o); break;
            case UnaryKind.Asin: TensorPrimitives.Asin(s, o); break;
            case UnaryKind.Acos: TensorPrimitives.Acos(s, o); break;
            case UnaryKind.Atan: TensorPrimitives.Atan(s, o); break;
            case UnaryKind.Sinh: TensorPrimitives.Sinh(s, o); break;
            case UnaryKind.Cosh: TensorPrimitives.Cosh(s, o); break;
            case UnaryKind.Floor: TensorPrimitives.Floor(s, o); break;
            case UnaryKind.Ceil: TensorPrimitives.Ceiling(s, o); break;
            case UnaryKind.Round: for (int i = 0; i < s.Length; i++) o[i] = T.Round(s[i], MidpointRounding.ToEven); break;
            case UnaryKind.Trunc: TensorPrimitives.Truncate(s, o); break;
            default: throw new InvalidOperationException($"no float kernel for {kind}");
        }
    }

    static Storage UnaryInt<T>(UnaryKind kind, Strided x) where T : unmanaged, IBinaryInteger<T>, ISignedNumber<T>
    {
        var s = Walk.Span<T>(x);
        var o = Buffers.Uninitialized<T>(s.Length);
        switch (kind)
        {
            case UnaryKind.Neg: TensorPrimitives.Negate(s, o); break;
            // TensorPrimitives.Abs throws on the least value; PyTorch wraps it to itself, as two's complement does
            case UnaryKind.Abs: for (int i = 0; i < s.Length; i++) o[i] = T.IsNegative(s[i]) ? T.Zero - s[i] : s[i]; break;
            case UnaryKind.Relu: TensorPrimitives.Max(s, T.Zero, o); break;
            case UnaryKind.Sign: for (int i = 0; i < s.Length; i++) o[i] = Scalar.Sign(s[i]); break;
            // integers are their own floor, ceiling, rounding and truncation (as in PyTorch)
            case UnaryKind.Floor or UnaryKind.Ceil or UnaryKind.Round or UnaryKind.Trunc: s.CopyTo(o); break;
            default: throw new DTypeMismatchException(kind.ToString().ToLowerInvariant(), $"{kind.ToString().ToLowerInvariant()}: not defined for int64; cast to a float dtype first");
        }
        return new CpuStorage<T>(o);
    }

    public Storage Binary(BinaryKind kind, Strided a, Strided b) => a.Storage.DType switch
    {
        DType.Float32 => BinaryFloat<float>(kind, a, b),
        DType.Float64 => BinaryFloat<double>(kind, a, b),
        DType.Int64 => kind == BinaryKind.FloorDiv ? Zip<long, FloorDivIntOp>(a, b) : BinaryNumber<long>(kind, a, b),
        var t => throw new DTypeMismatchException(kind.ToString().ToLowerInvariant(), $"{kind.ToString().ToLowerInvariant()}: no kernel for dtype {t.Name()}"),
    };

    static Storage BinaryFloat<T>(BinaryKind kind, Strided a, Strided b) where T : unmanaged, IFloatingPointIeee754<T> => kind switch
    {
        BinaryKind.Pow => Zip<T, PowOp<T>>(a, b),
        BinaryKind.FloorDiv => Zip<T, FloorDivFloatOp<T>>(a, b),
        BinaryKind.GeluGrad => Zip<T, GeluGradOp<T>>(a, b),
        BinaryKind.Atan2 => Zip<T, Atan2Op<T>>(a, b),
        BinaryKind.Hypot => Zip<T, HypotOp<T>>(a, b),
        BinaryKind.Fmod => Zip<T, FmodOp<T>>(a, b),
        BinaryKind.Remainder => Zip<T, RemainderOp<T>>(a, b),
        _ => BinaryNumber<T>(kind, a, b),
    };

    static Storage BinaryNumber<T>(BinaryKind kind, Strided a, Strided b) where T : unmanaged, INumber<T> => kind switch
    {
        BinaryKind.Add => Zip<T, AddOp<T>>(a, b),
        BinaryKind.Sub => Zip<T, SubOp<T>>(a, b),
        BinaryKind.Mul => Zip<T, MulOp<T>>(a, b),
        BinaryKind.Div => Zip<T, DivOp<T>>(a, b),
        BinaryKind.Max => Zip<T, MaxOp<T>>(a, b),
        BinaryKind.Min => Zip<T, MinOp<T>>(a, b),
        BinaryKind.ReluGrad => Zip<T, ReluGradOp<T>>(a, b),
        _ => throw new DTypeMismatchException(kind.ToString().ToLowerInvariant(), $"{kind.ToString().ToLowerInvariant()}: not defined for {DTypes.Of<T>().Name()}; cast to a float dtype first"),
    };

    /// <summary>
    /// The broadcasting driver of every binary kernel: rows where both operands are
    /// contiguous, or one is constant along the row, go to the SIMD span forms.
    /// </summary>
    static Storage Zip<T, TOp>(Strided a, Strided b) where T : unmanaged where TOp : IBinaryOp<T>
    {
        var o = Buffers.Uninitialized<T>(a.Numel);
        if (o.Length == 0) return new CpuStorage<T>(o);
        var xa = Walk.Data<T>(a.Storage);
        var xb = Walk.Data<T>(b.Storage);
        // the common cases, without walking rows: both contiguous, or one side a broadcast scalar
        int sa1 = a.IsContiguous ? 1 : AllZero(a.Strides) ? 0 : -1;
        int sb1 = b.IsContiguous ? 1 : AllZero(b.Strides) ? 0 : -1;
        if (sa1 >= 0 && sb1 >= 0 && (sa1 | sb1) != 0)
        {
            int a0 = a.Offset, b0 = b.Offset;
            Walk.Chunked(o.Length, (start, len) =>
            {
                var dst = o.AsSpan(start, len);
                if (sa1 == 1 && sb1 == 1) TOp.Span(xa.AsSpan(a0 + start, len), xb.AsSpan(b0 + start, len), dst);
                else if (sa1 == 1) TOp.SpanScalar(xa.AsSpan(a0 + start, len), xb[b0], dst);
                else TOp.ScalarSpan(xa[a0], xb.AsSpan(b0 + start, len), dst);
            });
            return new CpuStorage<T>(o);
        }
        var (shape, st) = Walk.Coalesce(a.Shape, a.Strides, b.Strides);
        int inner = shape[^1], sa = st[0][^1], sb = st[1][^1];
        var ra = Walk.RowStarts(shape, st[0], a.Offset);
        var rb = Walk.RowStarts(shape, st[1], b.Offset);
        for (int r = 0; r < ra.Length; r++)
        {
            var dst = o.AsSpan(r * inner, inner);
            int pa = ra[r], pb = rb[r];
            if (sa == 1 && sb == 1) TOp.Span(xa.AsSpan(pa, inner), xb.AsSpan(pb, inner), dst);
            else if (sa == 1 && sb == 0) TOp.SpanScalar(xa.AsSpan(pa, inner), xb[pb], dst);
            else if (sa == 0 && sb == 1) TOp.ScalarSpan(xa[pa], xb.AsSpan(pb, inner), dst);
            else for (int j = 0; j < inner; j++) dst[j] = TOp.Apply(xa[pa + j * sa], xb[pb + j * sb]);
        }
        return new CpuStorage<T>(o);
    }

    public Storage AddScaled(Strided y, double alpha, Strided x) => y.Storage.DType switch
    {
        DType.Float32 => AddScaledT(y, (float)alpha, x),
        DType.Float64 => AddScaledT(y, alpha, x),
        var t => throw new DTypeMismatchException("add_scaled", $"add_scaled: no kernel for dtype {t.Name()}"),
    };

    static Storage AddScaledT<T>(Strided y, T alpha, Strided x) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (ys, yo) = Walk.Segment<T>(y);
        var (xs, xo) = Walk.Segment<T>(x);
        var o = Buffers.Uninitialized<T>(y.Numel);
        Walk.Chunked(o.Length, (start, len) =>
            TensorPrimitives.MultiplyAdd(new ReadOnlySpan<T>(xs, xo + start, len), alpha, new ReadOnlySpan<T>(ys, yo + start, len), o.AsSpan(start, len)));
        return new CpuStorage<T>(o);
    }

    public (Storage Value, Storage M, Storage V) Adam(Strided p, Strided g, Strided? m, Strided? v, AdamStep step) => p.Storage.DType switch
    {
        DType.Float32 => AdamT<float>(p, g, m, v, step),
        DType.Float64 => AdamT<double>(p, g, m, v, step),
        var t => throw new DTypeMismatchException("adam", $"adam: no kernel for dtype {t.Name()}"),
    };

    /// <summary>
    /// The whole update in one pass, <see cref="Vector{T}"/> lanes at a time: 4 arrays read, 3
    /// written, where the composition made 12 passes and 9 temporaries. Each element is computed
    /// in T with the composition's operations in its order, so the two agree to rounding.
    /// </summary>
    static (Storage, Storage, Storage) AdamT<T>(Strided p, Strided g, Strided? m, Strided? v, AdamStep h) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int n = p.Numel;
        var (ps, po) = Walk.Segment<T>(p);
        var (gs, go) = Walk.Segment<T>(g);
        var (ms, mo) = m is { } mm ? Walk.Segment<T>(mm) : (null, 0);
        var (vs, vo) = v is { } vv ? Walk.Segment<T>(vv) : (null, 0);
        var (op, om, ov) = (Buffers.Uninitialized<T>(n), Buffers.Uninitialized<T>(n), Buffers.Uninitialized<T>(n));
        T b1 = T.CreateTruncating(h.Beta1), b2 = T.CreateTruncating(h.Beta2), nb1 = T.CreateTruncating(1 - h.Beta1), nb2 = T.CreateTruncating(1 - h.Beta2);
        T c1 = T.CreateTruncating(h.C1), c2 = T.CreateTruncating(h.C2), lr = T.CreateTruncating(h.Lr), eps = T.CreateTruncating(h.Eps);
        T decay = T.CreateTruncating(h.Decoupled ? 1 - h.Lr * h.WeightDecay : h.WeightDecay);
        // 0: no decay; 1: decoupled, p·decay; 2: L2, g + p·decay
        int mode = h.WeightDecay == 0 ? 0 : h.Decoupled ? 1 : 2;
        Walk.Chunked(n, (start, len) =>
        {
            int i = start, end = start + len, w = Vector<T>.Count;
            if (Vector.IsHardwareAccelerated)
                for (; i <= end - w; i += w)
                {
                    var pv = new Vector<T>(ps, po + i);
                    var gv = new Vector<T>(gs, go + i);
                    if (mode == 1) pv *= decay;
                    else if (mode == 2) gv += pv * decay;
                    var mv = ms is null ? gv * nb1 : new Vector<T>(ms, mo + i) * b1 + gv * nb1;
                    var vq = vs is null ? gv * gv * nb2 : new Vector<T>(vs, vo + i) * b2 + gv * gv * nb2;
                    (pv - mv / c1 * lr / (Vector.SquareRoot(vq / c2) + new Vector<T>(eps))).CopyTo(op, i);
                    mv.CopyTo(om, i);
                    vq.CopyTo(ov, i);
                }
            for (; i < end; i++)
            {
                T pv = ps[po + i], gv = gs[go + i];
                if (mode == 1) pv *= decay;
                else if (mode == 2) gv += pv * decay;
                T mv = ms is null ? gv * nb1 : ms[mo + i] * b1 + gv * nb1;
                T vq = vs is null ? gv * gv * nb2 : vs[vo + i] * b2 + gv * gv * nb2;
                op[i] = pv - mv / c1 * lr / (T.Sqrt(vq / c2) + eps);
                (om[i], ov[i]) = (mv, vq);
            }
        });
        return (new CpuStorage<T>(op), new CpuStorage<T>(om), new CpuStorage<T>(ov));
    }

    static bool AllZero(int[] strides)
    {
        foreach (var s in strides) if (s != 0) return false;
        return true;
    }

    public Storage Compare(CompareKind kind, Strided a, Strided b) => a.Storage.DType switch
    {
        DType.Float32 => CompareT<float>(kind, a, b),
        DType.Float64 => CompareT<double>(kind, a, b),
        DType.Int64 => CompareT<long>(kind, a, b),
        _ => CompareBool(kind, a, b),
    };

    static Storage CompareT<T>(CompareKind kind, Strided a, Strided b) where T : unmanaged, INumber<T>
    {
        var x = Walk.Span<T>(a);
        var y = Walk.Span<T>(b);
        var o = Buffers.Uninitialized<bool>(x.Length);
        for (int i = 0; i < o.Length; i++)
            o[i] = kind switch
            {
                CompareKind.Eq => x[i] == y[i],
                CompareKind.Ne => x[i] != y[i],
                CompareKind.Lt => x[i] < y[i],
                CompareKind.Le => x[i] <= y[i],
                CompareKind.Gt => x[i] > y[i],
                _ => x[i] >= y[i],
            };
        return new CpuStorage<bool>(o);
    }

    static Storage CompareBool(CompareKind kind, Strided a, Strided b)
    {
        var x = Walk.Span<bool>(a);
        var y = Walk.Span<bool>(b);
        var o = Buffers.Uninitialized<bool>(x.Length);
        for (int i = 0; i < o.Length; i++)
        {
            int c = x[i].CompareTo(y[i]);
            o[i] = kind switch
            {
                CompareKind.Eq => c == 0,
                CompareKind.Ne => c != 0,
                CompareKind.Lt => c < 0,
                CompareKind.Le => c <= 0,
                CompareKind.Gt => c > 0,
                _ => c >= 0,
            };
        }
        return new CpuStorage<bool>(o);
    }

    public Storage Where(Strided cond, Strided a, Strided b) => a.Storage.DType switch
    {
        DType.Float32 => WhereT<float>(cond, a, b),
        DType.Float64 => WhereT<double>(cond, a, b),
        DType.Int64 => WhereT<long>(cond, a, b),
        _ => WhereT<bool>(cond, a, b),
    };

    static Storage WhereT<T>(Strided cond, Strided a, Strided b) where T : unmanaged
    {
        var c = Walk.Span<bool>(cond);
        var x = Walk.Span<T>(a);
        var y = Walk.Span<T>(b);
        var o = Buffers.Uninitialized<T>(c.Length);
        for (int i = 0; i < o.Length; i++) o[i] = c[i] ? x[i] : y[i];
        return new CpuStorage<T>(o);
    }
}
