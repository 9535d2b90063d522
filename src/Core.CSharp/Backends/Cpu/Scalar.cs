using System.Numerics;

namespace Cotangent.Backends.Cpu;

/// <summary>Scalar math that neither the BCL nor TensorPrimitives provides.</summary>
internal static class Scalar
{
    /// <summary>
    /// erf to double precision. |x| &lt; 3: erf x = 2/√π · e^(−x²) · Σ 2ⁿ x^(2n+1) / (1·3···(2n+1)),
    /// a series of positive terms (no cancellation). Beyond: erfc by its continued fraction
    /// erfc x = e^(−x²)/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + ...)))), evaluated bottom-up.
    /// </summary>
    public static double Erf(double x)
    {
        if (double.IsNaN(x)) return x;
        double ax = Math.Abs(x);
        if (ax < 3.0)
        {
            double x2 = x * x, term = x, sum = x;
            for (int n = 1; n < 200; n++)
            {
                term *= 2.0 * x2 / (2 * n + 1);
                sum += term;
                if (Math.Abs(term) < 1e-17 * Math.Abs(sum)) break;
            }
            return 2.0 / Math.Sqrt(Math.PI) * Math.Exp(-x2) * sum;
        }
        if (ax > 6.0) return Math.Sign(x);
        return Math.Sign(x) * (1.0 - ErfcOfLarge(ax));
    }

    /// <summary>erfc a for a ≥ 3 by its continued fraction, accurate relative to itself (no 1 − erf).</summary>
    static double ErfcOfLarge(double a)
    {
        double f = a;
        for (int k = 60; k >= 1; k--) f = a + k / 2.0 / f;
        return Math.Exp(-a * a) / Math.Sqrt(Math.PI) / f;
    }

    /// <summary>
    /// The normal CDF Φ(x) = (1 + erf(x/√2))/2; below x = −3√2 as erfc(|x|/√2)/2, so the far
    /// left tail keeps its digits instead of cancelling in 1 + erf (Φ(−9) ≈ 1.1e−19, not 0).
    /// </summary>
    public static double Phi(double x)
    {
        double z = x / Math.Sqrt(2.0);
        return z < -3.0 ? 0.5 * ErfcOfLarge(-z) : 0.5 * (1.0 + Erf(z));
    }

    /// <summary>log(1 + eˣ) without overflow: max(x, 0) + log1p(e^(−|x|)).</summary>
    public static T Softplus<T>(T x) where T : IFloatingPointIeee754<T> =>
        T.Max(x, T.Zero) + T.LogP1(T.Exp(-T.Abs(x)));

    /// <summary>gelu x = x · Φ(x), the exact form (PyTorch's default), with Φ's tail kept.</summary>
    public static T Gelu<T>(T x) where T : IFloatingPointIeee754<T>
    {
        double d = double.CreateTruncating(x);
        return T.CreateTruncating(d * Phi(d));
    }

    public static T ErfT<T>(T x) where T : IFloatingPointIeee754<T> => T.CreateTruncating(Erf(double.CreateTruncating(x)));

    /// <summary>−1, 0 or 1, and NaN for NaN (Math.Sign throws on NaN).</summary>
    public static T Sign<T>(T x) where T : INumber<T> =>
        x > T.Zero ? T.One : x < T.Zero ? -T.One : x;

    /// <summary>
    /// log(1 + x) to full precision near 0 (Kahan's form: u = 1 + x rounds, and x/(u − 1)
    /// corrects it exactly). The BCL's LogP1 is log(x + 1), which loses every digit below 1e−16.
    /// </summary>
    public static T Log1p<T>(T x) where T : IFloatingPointIeee754<T>
    {
        T u = T.One + x;
        if (u == T.One) return x;
        if (T.IsPositiveInfinity(u)) return u;
        return T.Log(u) * (x / (u - T.One));
    }

    /// <summary>eˣ − 1 to full precision near 0 (Kahan's form: (u − 1)·x / log u with u = eˣ).</summary>
    public static T Expm1<T>(T x) where T : IFloatingPointIeee754<T>
    {
        T u = T.Exp(x);
        if (u == T.One) return x;
        T um1 = u - T.One;
        if (um1 == -T.One || T.IsPositiveInfinity(u)) return um1;
        return um1 * x / T.Log(u);
    }

    /// <summary>C's fmod: a − trunc(a/b)·b computed exactly, with a's sign (C#'s % on floats).</summary>
    public static T Fmod<T>(T a, T b) where T : IFloatingPointIeee754<T> => a % b;

    /// <summary>Python's a mod b (torch.remainder): the exact fmod moved into b's sign.</summary>
    public static T Remainder<T>(T a, T b) where T : IFloatingPointIeee754<T>
    {
        T r = a % b;
        return r != T.Zero && (r < T.Zero) != (b < T.Zero) ? r + b : r;
    }
}
