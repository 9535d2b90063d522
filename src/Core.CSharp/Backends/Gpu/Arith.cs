namespace Cotangent.Backends.Gpu;

/// <summary>
/// Element arithmetic for kernels, one struct per element type: kernels are generic over the
/// element and its arithmetic (<c>default(TNum).Add(a, b)</c>), which ILGPU compiles per type,
/// since a kernel cannot use .NET's generic math. The semantics are the CPU kernels': NaN
/// propagates through max and min, erf and gelu are computed in float64, floor division
/// floors the exact quotient. Functions an element type has no use for (exp of an int64) are
/// never called: the op layer refuses those dtypes first.
/// </summary>
internal interface IArith<T> where T : unmanaged
{
    T Zero();
    T One();

    /// <summary>The identity of max: −∞, or the type's least value.</summary>
    T Lowest();

    /// <summary>The identity of min: +∞, or the type's greatest value.</summary>
    T Highest();
    T Add(T a, T b);
    T Sub(T a, T b);
    T Mul(T a, T b);
    T Div(T a, T b);
    T Neg(T a);
    bool Lt(T a, T b);
    bool Eq(T a, T b);
    T Max(T a, T b);
    T Min(T a, T b);
    T Pow(T a, T b);
    T FloorDiv(T a, T b);
    T Exp(T a);
    T Log(T a);
    T Sqrt(T a);
    T Abs(T a);
    T Sin(T a);
    T Cos(T a);
    T Tanh(T a);
    T Sign(T a);
    double ToDouble(T a);
    T FromDouble(double d);
}

/// <summary>
/// Scalar math for kernels, in float64. These restate the CPU's <c>Scalar.Erf</c>,
/// <c>Softplus</c>, <c>Gelu</c> and <c>FloorDivFloatOp</c> rather than call them: a kernel can
/// only call code ILGPU compiles for the device (no generic math interfaces, no spans), so the
/// same formulas are written out here, term for term, and the device op suite holds them to the
/// CPU's results.
/// </summary>
internal static class GpuMath
{
    /// <summary>erf to double precision: the CPU kernel's series below 3, its continued fraction above.</summary>
    public static double Erf(double x)
    {
        if (double.IsNaN(x)) return x;
        double ax = Math.Abs(x);
        double sign = x < 0 ? -1.0 : 1.0;
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
        if (ax > 6.0) return sign;
        return sign * (1.0 - ErfcOfLarge(ax));
    }

    static double ErfcOfLarge(double a)
    {
        double f = a;
        for (int k = 60; k >= 1; k--) f = a + k / 2.0 / f;
        return Math.Exp(-a * a) / Math.Sqrt(Math.PI) / f;
    }

    /// <summary>Φ(x), the CPU's <c>Scalar.Phi</c>: erfc(|x|/√2)/2 below x = −3√2.</summary>
    public static double Phi(double x)
    {
        double z = x / Math.Sqrt(2.0);
        return z < -3.0 ? 0.5 * ErfcOfLarge(-z) : 0.5 * (1.0 + Erf(z));
    }

    /// <summary>log(1 + u) accurate for tiny u (Kahan: log(w)·u/(w − 1) with w = 1 + u).</summary>
    /// <summary>log(1 + x) in Kahan's form (the CPU's Scalar.Log1p).</summary>
    public static double Log1p(double x)
    {
        double u = 1.0 + x;
        if (u == 1.0) return x;
        if (double.IsPositiveInfinity(u)) return u;
        return Math.Log(u) * (x / (u - 1.0));
    }

    public static double Softplus(double x) => (x > 0 ? x : 0) + Log1p(Math.Exp(-Math.Abs(x)));

    public static double Gelu(double x) => x * Phi(x);

    /// <summary>g·gelu′(x) = g·(Φ(x) + x·φ(x)).</summary>
    public static double GeluGrad(double g, double x) =>
        g * (Phi(x) + x * Math.Exp(-0.5 * x * x) / Math.Sqrt(2 * Math.PI));

    /// <summary>Python's a // b on floats (see the CPU's FloorDivFloatOp).</summary>
    public static double FloorDiv(double a, double b)
    {
        if (b == 0) return a / b;
        double mod = a % b;
        double div = (a - mod) / b;
        if (mod != 0 && (b < 0) != (mod < 0)) div -= 1.0;
        if (div == 0) return (a / b < 0 || (a / b == 0 && 1.0 / (a / b) < 0)) ? -0.0 : 0.0;
        double floor = Math.Floor(div);
        return div - floor > 0.5 ? floor + 1.0 : floor;
    }

    public static bool NegativeZero(double x) => x == 0 && 1.0 / x < 0;

    /// <summary>
    /// The unary ops computed in float64 for every float dtype (the result rounds once to
    /// float32): log1p and expm1 in the CPU's Kahan forms, rounding by floor alone.
    /// </summary>
    public static double Unary(int kind, double x) => kind switch
    {
        DeviceCode.Log1p => Log1p(x),
        DeviceCode.Expm1 => Expm1(x),
        DeviceCode.Tan => Math.Tan(x),
        DeviceCode.Asin => Math.Asin(x),
        DeviceCode.Acos => Math.Acos(x),
        DeviceCode.Atan => Math.Atan(x),
        DeviceCode.Sinh => Math.Sinh(x),
        DeviceCode.Cosh => Math.Cosh(x),
        DeviceCode.Floor => Math.Floor(x),
        DeviceCode.Ceil => -Math.Floor(-x),
        DeviceCode.Round => RoundHalfEven(x),
        _ => x < 0 ? -Math.Floor(-x) : Math.Floor(x),
    };

    public static double Binary(int kind, double a, double b) => kind switch
    {
        DeviceCode.Atan2 => Math.Atan2(a, b),
        DeviceCode.Hypot => Hypot(a, b),
        DeviceCode.Fmod => a % b,
        _ => Remainder(a, b),
    };

    static double Expm1(double x)
    {
        double u = Math.Exp(x);
        if (u == 1.0) return x;
        double um1 = u - 1.0;
        if (um1 == -1.0 || double.IsPositiveInfinity(u)) return um1;
        return um1 * x / Math.Log(u);
    }

    /// <summary>Half to even, exactly: x − ⌊x⌋ is exact, so the comparison with ½ never rounds. Zero keeps x's sign.</summary>
    static double RoundHalfEven(double x)
    {
        double f = Math.Floor(x), d = x - f;
        double r = d > 0.5 ? f + 1.0 : d < 0.5 ? f : (f % 2.0 == 0.0 ? f : f + 1.0);
        return r == 0 ? x * 0.0 : r;
    }

    /// <summary>√(a² + b²) scaled by the larger, so neither square overflows; ∞ beats NaN, as IEEE's hypot.</summary>
    static double Hypot(double a, double b)
    {
        a = Math.Abs(a);
        b = Math.Abs(b);
        if (double.IsPositiveInfinity(a) || double.IsPositiveInfinity(b)) return double.PositiveInfinity;
        if (double.IsNaN(a) || double.IsNaN(b)) return double.NaN;
        double m = a > b ? a : b, n = a > b ? b : a;
        if (m == 0) return 0;
        double r = n / m;
        return m * Math.Sqrt(1.0 + r * r);
    }

    static double Remainder(double a, double b)
    {
        double r = a % b;
        return r != 0 && (r < 0) != (b < 0) ? r + b : r;
    }
}

internal readonly struct F32 : IArith<float>
{
    public float Zero() => 0f;
    public float One() => 1f;
    public float Lowest() => float.NegativeInfinity;
    public float Highest() => float.PositiveInfinity;
    public float Add(float a, float b) => a + b;
    public float Sub(float a, float b) => a - b;
    public float Mul(float a, float b) => a * b;
    public float Div(float a, float b) => a / b;
    public float Neg(float a) => -a;
    public bool Lt(float a, float b) => a < b;
    public bool Eq(float a, float b) => a == b;
    public float Max(float a, float b) => float.IsNaN(a) ? a : float.IsNaN(b) ? b : a == b ? (GpuMath.NegativeZero(a) ? b : a) : a > b ? a : b;
    public float Min(float a, float b) => float.IsNaN(a) ? a : float.IsNaN(b) ? b : a == b ? (GpuMath.NegativeZero(a) ? a : b) : a < b ? a : b;
    public float Pow(float a, float b) => MathF.Pow(a, b);
    /// <summary>In float32, as the CPU's FloorDivFloatOp&lt;float&gt;: through float64 the quotient would round differently.</summary>
    public float FloorDiv(float a, float b)
    {
        if (b == 0) return a / b;
        float mod = a % b;
        float div = (a - mod) / b;
        if (mod != 0 && (b < 0) != (mod < 0)) div -= 1f;
        if (div == 0) return a / b < 0 || (a / b == 0 && 1f / (a / b) < 0) ? -0f : 0f;
        float floor = MathF.Floor(div);
        return div - floor > 0.5f ? floor + 1f : floor;
    }
    public float Exp(float a) => MathF.Exp(a);
    public float Log(float a) => MathF.Log(a);
    public float Sqrt(float a) => MathF.Sqrt(a);
    public float Abs(float a) => Math.Abs(a);
    public float Sin(float a) => MathF.Sin(a);
    public float Cos(float a) => MathF.Cos(a);
    public float Tanh(float a) => MathF.Tanh(a);
    public float Sign(float a) => a > 0 ? 1f : a < 0 ? -1f : a;
    public double ToDouble(float a) => a;
    public float FromDouble(double d) => (float)d;
}

internal readonly struct F64 : IArith<double>
{
    public double Zero() => 0.0;
    public double One() => 1.0;
    public double Lowest() => double.NegativeInfinity;
    public double Highest() => double.PositiveInfinity;
    public double Add(double a, double b) => a + b;
    public double Sub(double a, double b) => a - b;
    public double Mul(double a, double b) => a * b;
    public double Div(double a, double b) => a / b;
    public double Neg(double a) => -a;
    public bool Lt(double a, double b) => a < b;
    public bool Eq(double a, double b) => a == b;
    public double Max(double a, double b) => double.IsNaN(a) ? a : double.IsNaN(b) ? b : a == b ? (GpuMath.NegativeZero(a) ? b : a) : a > b ? a : b;
    public double Min(double a, double b) => double.IsNaN(a) ? a : double.IsNaN(b) ? b : a == b ? (GpuMath.NegativeZero(a) ? a : b) : a < b ? a : b;
    public double Pow(double a, double b) => Math.Pow(a, b);
    public double FloorDiv(double a, double b) => GpuMath.FloorDiv(a, b);
    public double Exp(double a) => Math.Exp(a);
    public double Log(double a) => Math.Log(a);
    public double Sqrt(double a) => Math.Sqrt(a);
    public double Abs(double a) => Math.Abs(a);
    public double Sin(double a) => Math.Sin(a);
    public double Cos(double a) => Math.Cos(a);
    public double Tanh(double a) => Math.Tanh(a);
    public double Sign(double a) => a > 0 ? 1.0 : a < 0 ? -1.0 : a;
    public double ToDouble(double a) => a;
    public double FromDouble(double d) => d;
}

internal readonly struct I64 : IArith<long>
{
    public long Zero() => 0L;
    public long One() => 1L;
    public long Lowest() => long.MinValue;
    public long Highest() => long.MaxValue;
    public long Add(long a, long b) => a + b;
    public long Sub(long a, long b) => a - b;
    public long Mul(long a, long b) => a * b;
    public long Div(long a, long b) => a / b;
    public long Neg(long a) => -a;
    public bool Lt(long a, long b) => a < b;
    public bool Eq(long a, long b) => a == b;
    public long Max(long a, long b) => a > b ? a : b;
    public long Min(long a, long b) => a < b ? a : b;
    public long Pow(long a, long b) => 0;
    public long FloorDiv(long a, long b)
    {
        if (b == -1) return -a;
        long q = a / b;
        return a % b != 0 && (a < 0) != (b < 0) ? q - 1 : q;
    }
    public long Exp(long a) => 0;
    public long Log(long a) => 0;
    public long Sqrt(long a) => 0;
    /// <summary>|long.MinValue| wraps to itself, as in PyTorch and the CPU kernel.</summary>
    public long Abs(long a) => a < 0 ? unchecked(-a) : a;
    public long Sin(long a) => 0;
    public long Cos(long a) => 0;
    public long Tanh(long a) => 0;
    public long Sign(long a) => a > 0 ? 1 : a < 0 ? -1 : 0;
    public double ToDouble(long a) => a;

    /// <summary>Saturating, NaN to 0, as long.CreateSaturating on the CPU.</summary>
    public long FromDouble(double d) => double.IsNaN(d) ? 0 : d >= 9.2233720368547758e18 ? long.MaxValue : d <= -9.2233720368547758e18 ? long.MinValue : (long)d;
}

/// <summary>A bool element, stored as a byte 0 or 1: add is or, multiply is and.</summary>
internal readonly struct Bool8 : IArith<byte>
{
    public byte Zero() => 0;
    public byte One() => 1;
    public byte Lowest() => 0;
    public byte Highest() => 1;
    public byte Add(byte a, byte b) => (byte)(a | b);
    public byte Sub(byte a, byte b) => 0;
    public byte Mul(byte a, byte b) => (byte)(a & b);
    public byte Div(byte a, byte b) => 0;
    public byte Neg(byte a) => 0;
    public bool Lt(byte a, byte b) => a < b;
    public bool Eq(byte a, byte b) => a == b;
    public byte Max(byte a, byte b) => a > b ? a : b;
    public byte Min(byte a, byte b) => a < b ? a : b;
    public byte Pow(byte a, byte b) => 0;
    public byte FloorDiv(byte a, byte b) => 0;
    public byte Exp(byte a) => 0;
    public byte Log(byte a) => 0;
    public byte Sqrt(byte a) => 0;
    public byte Abs(byte a) => a;
    public byte Sin(byte a) => 0;
    public byte Cos(byte a) => 0;
    public byte Tanh(byte a) => 0;
    public byte Sign(byte a) => a;
    public double ToDouble(byte a) => a;
    public byte FromDouble(double d) => d != 0 ? (byte)1 : (byte)0;
}
