using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Cotangent.Backends.Cpu;

/// <summary>
/// erf, the normal CDF Φ, gelu and gelu's derivative in float32, sixteen lanes at a time where
/// AVX-512 is there, then eight. The
/// double-precision series in <see cref="Scalar.Erf"/> takes ~30 divisions per element; these
/// are two short polynomials and one exp, fitted for this file (weighted least squares on
/// Chebyshev nodes against scipy's erf/erfcx, 2026-12-02):
/// <list type="bullet">
/// <item>|z| &lt; 1: erf z = z·P(z²), P of degree 5, relative error 1.7e-7 evaluated in float32;</item>
/// <item>|z| ≥ 1: erfc |z| = e^(−z²)·R(1/|z|)/|z|, R of degree 9 in t = 1/|z| ∈ (0, 1], relative
/// error 4.5e-6 up to |z| = 9 (float32's rounding of z² inside the exp, mostly), so the tail
/// Φ(−x) stays accurate relative to itself instead of cancelling in 1 + erf.</item>
/// </list>
/// e^(−z²) is <see cref="ShiftedExp"/>'s float32 exp of a non-positive argument (0 below −87.33,
/// where Φ(x) for x &lt; −13.2 would be a subnormal below 1e−38).
/// Each element goes through the same operations in the same order (the 16-lane forms are the
/// 8-lane ones term for term, and a short tail is padded into a full vector), so a value's
/// result never depends on where it sits in a tensor.
/// </summary>
internal static class Gauss
{
    const float InvSqrt2 = 0.70710678118654752f, InvSqrt2Pi = 0.39894228040143268f;

    /// <summary>erf z = z·P(z²) for |z| &lt; 1.</summary>
    static Vector256<float> Small(Vector256<float> z)
    {
        var u = z * z;
        var p = Vector256.Create(-5.6253989862761755e-04f);
        p = Vector256.FusedMultiplyAdd(p, u, Vector256.Create(4.9160266054730783e-03f));
        p = Vector256.FusedMultiplyAdd(p, u, Vector256.Create(-2.6709955242673278e-02f));
        p = Vector256.FusedMultiplyAdd(p, u, Vector256.Create(1.1280130624141524e-01f));
        p = Vector256.FusedMultiplyAdd(p, u, Vector256.Create(-3.7612319818438700e-01f));
        p = Vector256.FusedMultiplyAdd(p, u, Vector256.Create(1.1283791211856542e+00f));
        return z * p;
    }

    /// <summary>erfc a for a = |z| ≥ 1, given e^(−a²): e^(−a²)·R(1/a)/a.</summary>
    static Vector256<float> Tail(Vector256<float> a, Vector256<float> expNegA2)
    {
        var t = Vector256<float>.One / a;
        var r = Vector256.Create(4.1910442389815269e-02f);
        r = Vector256.FusedMultiplyAdd(r, t, Vector256.Create(-1.2728312384996882e-01f));
        r = Vector256.FusedMultiplyAdd(r, t, Vector256.Create(-4.4124704309722127e-03f));
        r = Vector256.FusedMultiplyAdd(r, t, Vector256.Create(5.2424310147502651e-01f));
        r = Vector256.FusedMultiplyAdd(r, t, Vector256.Create(-9.4282353321946344e-01f));
        r = Vector256.FusedMultiplyAdd(r, t, Vector256.Create(6.9183325695696762e-01f));
        r = Vector256.FusedMultiplyAdd(r, t, Vector256.Create(-4.0995421924068895e-02f));
        r = Vector256.FusedMultiplyAdd(r, t, Vector256.Create(-2.7898760336020184e-01f));
        r = Vector256.FusedMultiplyAdd(r, t, Vector256.Create(-9.0914875628247960e-05f));
        r = Vector256.FusedMultiplyAdd(r, t, Vector256.Create(5.6419002259903372e-01f));
        return expNegA2 * r * t;
    }

    /// <summary>erf z; NaN stays NaN, ±∞ gives ±1.</summary>
    public static Vector256<float> Erf(Vector256<float> z)
    {
        var a = Vector256.Abs(z);
        var small = Vector256.LessThan(a, Vector256<float>.One);
        var tail = Tail(Vector256.Max(a, Vector256<float>.One), ShiftedExp.Exp(-(a * a)));
        var large = Vector256.CopySign(Vector256<float>.One - tail, z);
        return Vector256.ConditionalSelect(small, Small(z), large);
    }

    /// <summary>Φ(x) = (1 + erf(x/√2))/2, and e^(−x²/2) (φ(x)·√(2π)) beside it for the derivative.</summary>
    static Vector256<float> Phi(Vector256<float> x, out Vector256<float> expHalfX2)
    {
        var z = x * Vector256.Create(InvSqrt2);
        var a = Vector256.Abs(z);
        expHalfX2 = ShiftedExp.Exp(-(a * a));
        var small = Vector256.LessThan(a, Vector256<float>.One);
        // for |z| ≥ 1, Φ = erfc(|z|)/2 below zero and 1 − erfc(|z|)/2 above: no 1 + erf cancellation
        var half = Tail(Vector256.Max(a, Vector256<float>.One), expHalfX2) * 0.5f;
        var large = Vector256.ConditionalSelect(Vector256.LessThan(x, Vector256<float>.Zero), half, Vector256<float>.One - half);
        // NaN: the large branch's compare is false, so 1 − NaN/2 = NaN
        return Vector256.ConditionalSelect(small, Vector256.FusedMultiplyAdd(Small(z), Vector256.Create(0.5f), Vector256.Create(0.5f)), large);
    }

    /// <summary>gelu x = x·Φ(x).</summary>
    public static Vector256<float> Gelu(Vector256<float> x) => x * Phi(x, out _);

    // ---- the same in sixteen lanes, term for term (gelu was 8% of the transformer block) ----

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<float> Small(Vector512<float> z)
    {
        var u = z * z;
        var p = Vector512.Create(-5.6253989862761755e-04f);
        p = Vector512.FusedMultiplyAdd(p, u, Vector512.Create(4.9160266054730783e-03f));
        p = Vector512.FusedMultiplyAdd(p, u, Vector512.Create(-2.6709955242673278e-02f));
        p = Vector512.FusedMultiplyAdd(p, u, Vector512.Create(1.1280130624141524e-01f));
        p = Vector512.FusedMultiplyAdd(p, u, Vector512.Create(-3.7612319818438700e-01f));
        p = Vector512.FusedMultiplyAdd(p, u, Vector512.Create(1.1283791211856542e+00f));
        return z * p;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<float> Tail(Vector512<float> a, Vector512<float> expNegA2)
    {
        var t = Vector512<float>.One / a;
        var r = Vector512.Create(4.1910442389815269e-02f);
        r = Vector512.FusedMultiplyAdd(r, t, Vector512.Create(-1.2728312384996882e-01f));
        r = Vector512.FusedMultiplyAdd(r, t, Vector512.Create(-4.4124704309722127e-03f));
        r = Vector512.FusedMultiplyAdd(r, t, Vector512.Create(5.2424310147502651e-01f));
        r = Vector512.FusedMultiplyAdd(r, t, Vector512.Create(-9.4282353321946344e-01f));
        r = Vector512.FusedMultiplyAdd(r, t, Vector512.Create(6.9183325695696762e-01f));
        r = Vector512.FusedMultiplyAdd(r, t, Vector512.Create(-4.0995421924068895e-02f));
        r = Vector512.FusedMultiplyAdd(r, t, Vector512.Create(-2.7898760336020184e-01f));
        r = Vector512.FusedMultiplyAdd(r, t, Vector512.Create(-9.0914875628247960e-05f));
        r = Vector512.FusedMultiplyAdd(r, t, Vector512.Create(5.6419002259903372e-01f));
        return expNegA2 * r * t;
    }

    public static Vector512<float> Erf(Vector512<float> z)
    {
        var a = Vector512.Abs(z);
        var small = Vector512.LessThan(a, Vector512<float>.One);
        var tail = Tail(Vector512.Max(a, Vector512<float>.One), ShiftedExp.Exp(-(a * a)));
        var large = Vector512.CopySign(Vector512<float>.One - tail, z);
        return Vector512.ConditionalSelect(small, Small(z), large);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<float> Phi(Vector512<float> x, out Vector512<float> expHalfX2)
    {
        var z = x * Vector512.Create(InvSqrt2);
        var a = Vector512.Abs(z);
        expHalfX2 = ShiftedExp.Exp(-(a * a));
        var small = Vector512.LessThan(a, Vector512<float>.One);
        var half = Tail(Vector512.Max(a, Vector512<float>.One), expHalfX2) * 0.5f;
        var large = Vector512.ConditionalSelect(Vector512.LessThan(x, Vector512<float>.Zero), half, Vector512<float>.One - half);
        return Vector512.ConditionalSelect(small, Vector512.FusedMultiplyAdd(Small(z), Vector512.Create(0.5f), Vector512.Create(0.5f)), large);
    }

    public static Vector512<float> Gelu(Vector512<float> x) => x * Phi(x, out _);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<float> GeluGrad(Vector512<float> g, Vector512<float> x)
    {
        var phi = Phi(x, out var e);
        return g * Vector512.FusedMultiplyAdd(x * Vector512.Create(InvSqrt2Pi), e, phi);
    }

    /// <summary>g·gelu′(x) = g·(Φ(x) + x·φ(x)).</summary>
    public static Vector256<float> GeluGrad(Vector256<float> g, Vector256<float> x)
    {
        var phi = Phi(x, out var e);
        return g * Vector256.FusedMultiplyAdd(x * Vector256.Create(InvSqrt2Pi), e, phi);
    }

    /// <summary>Applies f to every element of s, the last few through a padded vector.</summary>
    public static void Map<TFn>(ReadOnlySpan<float> s, Span<float> o) where TFn : IVectorFunction
    {
        ref float sr = ref MemoryMarshal.GetReference(s), or = ref MemoryMarshal.GetReference(o);
        int n = s.Length, i = Vector512.IsHardwareAccelerated ? Map16<TFn>(s, o) : 0;
        for (; i <= n - 8; i += 8) TFn.Apply(Vector256.LoadUnsafe(ref sr, (nuint)i)).StoreUnsafe(ref or, (nuint)i);
        if (i < n)
        {
            Span<float> pad = stackalloc float[8];
            s[i..].CopyTo(pad);
            TFn.Apply(Vector256.Create((ReadOnlySpan<float>)pad)).CopyTo(pad);
            pad[..(n - i)].CopyTo(o[i..]);
        }
    }

    /// <summary>g·gelu′(x) over spans; <paramref name="gStep"/>/<paramref name="xStep"/> 0 broadcasts a single value.</summary>
    public static void GeluGrad(ReadOnlySpan<float> g, int gStep, ReadOnlySpan<float> x, int xStep, Span<float> o)
    {
        int n = o.Length, i = Vector512.IsHardwareAccelerated ? GeluGrad16(g, gStep, x, xStep, o) : 0;
        for (; i <= n - 8; i += 8)
            GeluGrad(Load(g, gStep, i), Load(x, xStep, i)).CopyTo(o[i..]);
        if (i < n)
        {
            Span<float> pg = stackalloc float[8], px = stackalloc float[8];
            for (int j = i; j < n; j++) (pg[j - i], px[j - i]) = (g[j * gStep], x[j * xStep]);
            GeluGrad(Vector256.Create((ReadOnlySpan<float>)pg), Vector256.Create((ReadOnlySpan<float>)px)).CopyTo(pg);
            pg[..(n - i)].CopyTo(o[i..]);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<float> Load(ReadOnlySpan<float> s, int step, int i) =>
        step == 0 ? Vector256.Create(s[0]) : Vector256.LoadUnsafe(ref MemoryMarshal.GetReference(s), (nuint)i);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<float> Load16(ReadOnlySpan<float> s, int step, int i) =>
        step == 0 ? Vector512.Create(s[0]) : Vector512.LoadUnsafe(ref MemoryMarshal.GetReference(s), (nuint)i);

    // The 16-lane loops are methods of their own: inlined into the 8-lane ones they made those
    // run 1.45× slower on a machine without AVX-512, where they never run.

    /// <summary>f over the whole 16-lane runs of s; returns how many elements it did.</summary>
    static int Map16<TFn>(ReadOnlySpan<float> s, Span<float> o) where TFn : IVectorFunction
    {
        ref float sr = ref MemoryMarshal.GetReference(s), or = ref MemoryMarshal.GetReference(o);
        int i = 0;
        for (; i <= s.Length - 16; i += 16) TFn.Apply(Vector512.LoadUnsafe(ref sr, (nuint)i)).StoreUnsafe(ref or, (nuint)i);
        return i;
    }

    /// <summary>g·gelu′(x) over the whole 16-lane runs of o; returns how many elements it did.</summary>
    static int GeluGrad16(ReadOnlySpan<float> g, int gStep, ReadOnlySpan<float> x, int xStep, Span<float> o)
    {
        int i = 0;
        for (; i <= o.Length - 16; i += 16) GeluGrad(Load16(g, gStep, i), Load16(x, xStep, i)).CopyTo(o[i..]);
        return i;
    }

    /// <summary>One value through the vector code, for strided walks: the same answer as inside a span.</summary>
    public static float GeluGrad(float g, float x) => GeluGrad(Vector256.Create(g), Vector256.Create(x)).ToScalar();
}

/// <summary>A float32 function of eight or sixteen lanes (the same steps), for <see cref="Gauss.Map{TFn}"/>.</summary>
internal interface IVectorFunction
{
    static abstract Vector256<float> Apply(Vector256<float> x);

    static abstract Vector512<float> Apply(Vector512<float> x);
}

internal readonly struct ErfFunction : IVectorFunction
{
    public static Vector256<float> Apply(Vector256<float> x) => Gauss.Erf(x);

    public static Vector512<float> Apply(Vector512<float> x) => Gauss.Erf(x);
}

internal readonly struct GeluFunction : IVectorFunction
{
    public static Vector256<float> Apply(Vector256<float> x) => Gauss.Gelu(x);

    public static Vector512<float> Apply(Vector512<float> x) => Gauss.Gelu(x);
}
