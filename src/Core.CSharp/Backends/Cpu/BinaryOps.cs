using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Cotangent.Backends.Cpu;

/// <summary>A binary elementwise operator: its scalar form and its SIMD span forms.</summary>
internal interface IBinaryOp<T>
{
    static abstract T Apply(T a, T b);
    static abstract void Span(ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<T> o);
    static abstract void SpanScalar(ReadOnlySpan<T> a, T b, Span<T> o);
    static abstract void ScalarSpan(T a, ReadOnlySpan<T> b, Span<T> o);
}

internal readonly struct AddOp<T> : IBinaryOp<T> where T : INumber<T>
{
    public static T Apply(T a, T b) => a + b;
    public static void Span(ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<T> o) => TensorPrimitives.Add(a, b, o);
    public static void SpanScalar(ReadOnlySpan<T> a, T b, Span<T> o) => TensorPrimitives.Add(a, b, o);
    public static void ScalarSpan(T a, ReadOnlySpan<T> b, Span<T> o) => TensorPrimitives.Add(b, a, o);
}

internal readonly struct SubOp<T> : IBinaryOp<T> where T : INumber<T>
{
    public static T Apply(T a, T b) => a - b;
    public static void Span(ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<T> o) => TensorPrimitives.Subtract(a, b, o);
    public static void SpanScalar(ReadOnlySpan<T> a, T b, Span<T> o) => TensorPrimitives.Subtract(a, b, o);
    public static void ScalarSpan(T a, ReadOnlySpan<T> b, Span<T> o) => TensorPrimitives.Subtract(a, b, o);
}

internal readonly struct MulOp<T> : IBinaryOp<T> where T : INumber<T>
{
    public static T Apply(T a, T b) => a * b;
    public static void Span(ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<T> o) => TensorPrimitives.Multiply(a, b, o);
    public static void SpanScalar(ReadOnlySpan<T> a, T b, Span<T> o) => TensorPrimitives.Multiply(a, b, o);
    public static void ScalarSpan(T a, ReadOnlySpan<T> b, Span<T> o) => TensorPrimitives.Multiply(b, a, o);
}

internal readonly struct DivOp<T> : IBinaryOp<T> where T : INumber<T>
{
    public static T Apply(T a, T b) => a / b;
    public static void Span(ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<T> o) => TensorPrimitives.Divide(a, b, o);
    public static void SpanScalar(ReadOnlySpan<T> a, T b, Span<T> o) => TensorPrimitives.Divide(a, b, o);
    public static void ScalarSpan(T a, ReadOnlySpan<T> b, Span<T> o) => TensorPrimitives.Divide(a, b, o);
}

internal readonly struct MaxOp<T> : IBinaryOp<T> where T : INumber<T>
{
    public static T Apply(T a, T b) => T.Max(a, b);
    public static void Span(ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<T> o) => TensorPrimitives.Max(a, b, o);
    public static void SpanScalar(ReadOnlySpan<T> a, T b, Span<T> o) => TensorPrimitives.Max(a, b, o);
    public static void ScalarSpan(T a, ReadOnlySpan<T> b, Span<T> o) => TensorPrimitives.Max(b, a, o);
}

internal readonly struct MinOp<T> : IBinaryOp<T> where T : INumber<T>
{
    public static T Apply(T a, T b) => T.Min(a, b);
    public static void Span(ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<T> o) => TensorPrimitives.Min(a, b, o);
    public static void SpanScalar(ReadOnlySpan<T> a, T b, Span<T> o) => TensorPrimitives.Min(a, b, o);
    public static void ScalarSpan(T a, ReadOnlySpan<T> b, Span<T> o) => TensorPrimitives.Min(b, a, o);
}

internal readonly struct PowOp<T> : IBinaryOp<T> where T : IFloatingPointIeee754<T>
{
    public static T Apply(T a, T b) => T.Pow(a, b);
    public static void Span(ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<T> o) => TensorPrimitives.Pow(a, b, o);
    public static void SpanScalar(ReadOnlySpan<T> a, T b, Span<T> o) => TensorPrimitives.Pow(a, b, o);
    public static void ScalarSpan(T a, ReadOnlySpan<T> b, Span<T> o) => TensorPrimitives.Pow(a, b, o);
}

/// <summary>
/// ⌊a / b⌋ in floats, as Python's // and torch.floor_divide: the floor of the exact quotient,
/// not of the rounded one (1.0 // 0.1 is 9, where ⌊1.0 / 0.1⌋ = ⌊10.0⌋ would say 10). fmod is
/// exact, so a − fmod(a, b) is b times the truncated quotient; dividing it by b lands within
/// half a unit of that integer, rounding to it recovers it, and a remainder of the divisor's
/// opposite sign steps one down. A zero divisor gives IEEE's ±∞ or NaN.
/// </summary>
internal readonly struct FloorDivFloatOp<T> : IBinaryOp<T> where T : IFloatingPointIeee754<T>
{
    public static T Apply(T a, T b)
    {
        if (T.IsZero(b)) return a / b;
        T mod = a % b;   // C# % on floats is fmod: exact, with the sign of a
        T div = (a - mod) / b;
        if (!T.IsZero(mod) && T.IsNegative(b) != T.IsNegative(mod)) div -= T.One;
        if (T.IsZero(div)) return T.CopySign(T.Zero, a / b);
        T floor = T.Floor(div);
        return div - floor > T.CreateTruncating(0.5) ? floor + T.One : floor;
    }

    public static void Span(ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<T> o) { for (int i = 0; i < o.Length; i++) o[i] = Apply(a[i], b[i]); }
    public static void SpanScalar(ReadOnlySpan<T> a, T b, Span<T> o) { for (int i = 0; i < o.Length; i++) o[i] = Apply(a[i], b); }
    public static void ScalarSpan(T a, ReadOnlySpan<T> b, Span<T> o) { for (int i = 0; i < o.Length; i++) o[i] = Apply(a, b[i]); }
}

/// <summary>
/// ⌊a / b⌋ in int64, rounding towards −∞ as Python's // (C#'s / truncates towards 0). The op
/// has refused zero divisors before this runs; long.MinValue // −1 wraps, as in PyTorch.
/// </summary>
internal readonly struct FloorDivIntOp : IBinaryOp<long>
{
    public static long Apply(long a, long b)
    {
        if (b == -1) return unchecked(-a);
        long q = a / b;
        return (a % b != 0) && ((a < 0) != (b < 0)) ? q - 1 : q;
    }

    public static void Span(ReadOnlySpan<long> a, ReadOnlySpan<long> b, Span<long> o) { for (int i = 0; i < o.Length; i++) o[i] = Apply(a[i], b[i]); }
    public static void SpanScalar(ReadOnlySpan<long> a, long b, Span<long> o) { for (int i = 0; i < o.Length; i++) o[i] = Apply(a[i], b); }
    public static void ScalarSpan(long a, ReadOnlySpan<long> b, Span<long> o) { for (int i = 0; i < o.Length; i++) o[i] = Apply(a, b[i]); }
}

/// <summary>ReLU's pullback, g where x &gt; 0 else 0: a compare and a blend per vector.</summary>
internal readonly struct ReluGradOp<T> : IBinaryOp<T> where T : INumber<T>
{
    public static T Apply(T g, T x) => x > T.Zero ? g : T.Zero;

    public static void Span(ReadOnlySpan<T> g, ReadOnlySpan<T> x, Span<T> o)
    {
        ref T gr = ref MemoryMarshal.GetReference(g), xr = ref MemoryMarshal.GetReference(x), or = ref MemoryMarshal.GetReference(o);
        int n = o.Length, i = 0;
        if (Vector512.IsHardwareAccelerated && Vector512<T>.IsSupported)
            for (; i <= n - Vector512<T>.Count; i += Vector512<T>.Count)
            {
                var keep = Vector512.GreaterThan(Vector512.LoadUnsafe(ref xr, (nuint)i), Vector512<T>.Zero);
                (Vector512.LoadUnsafe(ref gr, (nuint)i) & keep).StoreUnsafe(ref or, (nuint)i);
            }
        else if (Vector256.IsHardwareAccelerated && Vector256<T>.IsSupported)
            for (; i <= n - Vector256<T>.Count; i += Vector256<T>.Count)
            {
                var keep = Vector256.GreaterThan(Vector256.LoadUnsafe(ref xr, (nuint)i), Vector256<T>.Zero);
                (Vector256.LoadUnsafe(ref gr, (nuint)i) & keep).StoreUnsafe(ref or, (nuint)i);
            }
        for (; i < n; i++) o[i] = Apply(g[i], x[i]);
    }

    public static void SpanScalar(ReadOnlySpan<T> g, T x, Span<T> o)
    {
        if (x > T.Zero) g.CopyTo(o);
        else o.Clear();
    }

    public static void ScalarSpan(T g, ReadOnlySpan<T> x, Span<T> o)
    {
        for (int i = 0; i < o.Length; i++) o[i] = Apply(g, x[i]);
    }
}

/// <summary>
/// gelu's pullback, g·(Φ(x) + x·φ(x)), in one pass: float32 through <see cref="Gauss"/>,
/// float64 through the double-precision erf.
/// </summary>
internal readonly struct GeluGradOp<T> : IBinaryOp<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public static T Apply(T g, T x)
    {
        if (typeof(T) == typeof(float)) return T.CreateTruncating(Gauss.GeluGrad(float.CreateTruncating(g), float.CreateTruncating(x)));
        double d = double.CreateTruncating(x);
        double cdf = Scalar.Phi(d), pdf = Math.Exp(-0.5 * d * d) / Math.Sqrt(2 * Math.PI);
        return T.CreateTruncating(double.CreateTruncating(g) * (cdf + d * pdf));
    }

    static void Run(ReadOnlySpan<T> g, int gStep, ReadOnlySpan<T> x, int xStep, Span<T> o)
    {
        if (typeof(T) == typeof(float))
            Gauss.GeluGrad(MemoryMarshal.Cast<T, float>(g), gStep, MemoryMarshal.Cast<T, float>(x), xStep, MemoryMarshal.Cast<T, float>(o));
        else
            for (int i = 0; i < o.Length; i++) o[i] = Apply(g[i * gStep], x[i * xStep]);
    }

    public static void Span(ReadOnlySpan<T> g, ReadOnlySpan<T> x, Span<T> o) => Run(g, 1, x, 1, o);
    public static void SpanScalar(ReadOnlySpan<T> g, T x, Span<T> o) => Run(g, 1, [x], 0, o);
    public static void ScalarSpan(T g, ReadOnlySpan<T> x, Span<T> o) => Run([g], 0, x, 1, o);
}

/// <summary>atan2(a, b): the angle of the point (b, a), in (−π, π].</summary>
internal readonly struct Atan2Op<T> : IBinaryOp<T> where T : IFloatingPointIeee754<T>
{
    public static T Apply(T a, T b) => T.Atan2(a, b);
    public static void Span(ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<T> o) => TensorPrimitives.Atan2(a, b, o);
    public static void SpanScalar(ReadOnlySpan<T> a, T b, Span<T> o) => TensorPrimitives.Atan2(a, b, o);
    public static void ScalarSpan(T a, ReadOnlySpan<T> b, Span<T> o) => TensorPrimitives.Atan2(a, b, o);
}

/// <summary>√(a² + b²) without overflow or underflow in the squares.</summary>
internal readonly struct HypotOp<T> : IBinaryOp<T> where T : IFloatingPointIeee754<T>
{
    public static T Apply(T a, T b) => T.Hypot(a, b);
    public static void Span(ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<T> o) => TensorPrimitives.Hypot(a, b, o);
    public static void SpanScalar(ReadOnlySpan<T> a, T b, Span<T> o) { for (int i = 0; i < o.Length; i++) o[i] = T.Hypot(a[i], b); }
    public static void ScalarSpan(T a, ReadOnlySpan<T> b, Span<T> o) { for (int i = 0; i < o.Length; i++) o[i] = T.Hypot(a, b[i]); }
}

/// <summary>C's fmod (torch.fmod): exact, with a's sign.</summary>
internal readonly struct FmodOp<T> : IBinaryOp<T> where T : IFloatingPointIeee754<T>
{
    public static T Apply(T a, T b) => Scalar.Fmod(a, b);
    public static void Span(ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<T> o) { for (int i = 0; i < o.Length; i++) o[i] = Scalar.Fmod(a[i], b[i]); }
    public static void SpanScalar(ReadOnlySpan<T> a, T b, Span<T> o) { for (int i = 0; i < o.Length; i++) o[i] = Scalar.Fmod(a[i], b); }
    public static void ScalarSpan(T a, ReadOnlySpan<T> b, Span<T> o) { for (int i = 0; i < o.Length; i++) o[i] = Scalar.Fmod(a, b[i]); }
}

/// <summary>Python's mod (torch.remainder): exact, with b's sign.</summary>
internal readonly struct RemainderOp<T> : IBinaryOp<T> where T : IFloatingPointIeee754<T>
{
    public static T Apply(T a, T b) => Scalar.Remainder(a, b);
    public static void Span(ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<T> o) { for (int i = 0; i < o.Length; i++) o[i] = Scalar.Remainder(a[i], b[i]); }
    public static void SpanScalar(ReadOnlySpan<T> a, T b, Span<T> o) { for (int i = 0; i < o.Length; i++) o[i] = Scalar.Remainder(a[i], b); }
    public static void ScalarSpan(T a, ReadOnlySpan<T> b, Span<T> o) { for (int i = 0; i < o.Length; i++) o[i] = Scalar.Remainder(a, b[i]); }
}
