using ILGPU;

namespace Cotangent.Backends.Gpu;

/// <summary>
/// The code that runs on the device: ILGPU kernels, launched by <see cref="GpuKernels"/>. Each
/// is a grid-stride loop over its output, one thread an element (or a row, or a reduced
/// group), reading inputs through their <see cref="Layout"/>. Nothing uses atomics and every
/// sum has a fixed order for a given shape and device (a thread's share in index order, then a
/// tree over a group's threads in shared memory): a kernel gives the same bits run after run.
/// The gathering forms of index_add, scatter_add and fold add their contributions in the CPU
/// kernels' order. Op codes are ints (a kernel takes no enums of the op layer); the host maps
/// every enum value explicitly and refuses the rest, so the default arms here are never reached.
/// </summary>
internal static partial class DeviceCode
{
    public const int Neg = 0, Exp = 1, Log = 2, Sqrt = 3, Abs = 4, Sin = 5, Cos = 6, Tanh = 7, Sigmoid = 8, Relu = 9, Softplus = 10, Gelu = 11, Erf = 12, Sign = 13,
        Log1p = 14, Expm1 = 15, Tan = 16, Asin = 17, Acos = 18, Atan = 19, Sinh = 20, Cosh = 21, Floor = 22, Ceil = 23, Round = 24, Trunc = 25;
    public const int Add = 0, Sub = 1, Mul = 2, Div = 3, Pow = 4, Max = 5, Min = 6, ReluGrad = 7, FloorDiv = 8, GeluGrad = 9, Atan2 = 10, Hypot = 11, Fmod = 12, Remainder = 13;
    public const int Eq = 0, Ne = 1, Lt = 2, Le = 3, Gt = 4, Ge = 5;
    public const int Sum = 0, RMax = 1, RMin = 2, Prod = 3;

    static int Step => Grid.DimX * Group.DimX;

    public static void Fill<T>(ArrayView<T> o, T v, int n) where T : unmanaged
    {
        for (int i = Grid.GlobalIndex.X; i < n; i += Step) o[i] = v;
    }

    public static void Copy<T>(ArrayView<T> x, Layout lx, ArrayView<T> o, int n) where T : unmanaged
    {
        for (int i = Grid.GlobalIndex.X; i < n; i += Step) o[i] = x[lx.At(i)];
    }

    /// <summary>Through float64, exact for every pair but int64 → float32 (see <see cref="LongToFloat"/>).</summary>
    public static void Convert<TF, NF, TT, NT>(ArrayView<TF> x, Layout lx, ArrayView<TT> o, int n)
        where TF : unmanaged where NF : struct, IArith<TF> where TT : unmanaged where NT : struct, IArith<TT>
    {
        for (int i = Grid.GlobalIndex.X; i < n; i += Step) o[i] = default(NT).FromDouble(default(NF).ToDouble(x[lx.At(i)]));
    }

    /// <summary>int64 → float32 in one rounding, as the CPU's cast: through float64 would round twice (2⁵³ + 2²⁹ + 1 differs).</summary>
    public static void LongToFloat(ArrayView<long> x, Layout lx, ArrayView<float> o, int n)
    {
        for (int i = Grid.GlobalIndex.X; i < n; i += Step) o[i] = x[lx.At(i)];
    }

    public static void Unary<T, N>(ArrayView<T> x, Layout lx, ArrayView<T> o, int n, int kind) where T : unmanaged where N : struct, IArith<T>
    {
        var a = default(N);
        for (int i = Grid.GlobalIndex.X; i < n; i += Step)
        {
            T v = x[lx.At(i)];
            o[i] = kind switch
            {
                Neg => a.Neg(v),
                Exp => a.Exp(v),
                Log => a.Log(v),
                Sqrt => a.Sqrt(v),
                Abs => a.Abs(v),
                Sin => a.Sin(v),
                Cos => a.Cos(v),
                Tanh => a.Tanh(v),
                Sigmoid => a.Div(a.One(), a.Add(a.One(), a.Exp(a.Neg(v)))),
                Relu => a.Lt(a.Zero(), v) ? v : a.Eq(v, v) ? a.Zero() : v,
                Softplus => a.FromDouble(GpuMath.Softplus(a.ToDouble(v))),
                Gelu => a.FromDouble(GpuMath.Gelu(a.ToDouble(v))),
                Erf => a.FromDouble(GpuMath.Erf(a.ToDouble(v))),
                Sign => a.Sign(v),
                _ => a.FromDouble(GpuMath.Unary(kind, a.ToDouble(v))),
            };
        }
    }

    public static void Binary<T, N>(ArrayView<T> x, Layout lx, ArrayView<T> y, Layout ly, ArrayView<T> o, int n, int kind)
        where T : unmanaged where N : struct, IArith<T>
    {
        var a = default(N);
        for (int i = Grid.GlobalIndex.X; i < n; i += Step)
        {
            T u = x[lx.At(i)], v = y[ly.At(i)];
            o[i] = kind switch
            {
                Add => a.Add(u, v),
                Sub => a.Sub(u, v),
                Mul => a.Mul(u, v),
                Div => a.Div(u, v),
                Pow => a.Pow(u, v),
                Max => a.Max(u, v),
                Min => a.Min(u, v),
                ReluGrad => a.Lt(a.Zero(), v) ? u : a.Zero(),
                GeluGrad => a.FromDouble(GpuMath.GeluGrad(a.ToDouble(u), a.ToDouble(v))),
                FloorDiv => a.FloorDiv(u, v),
                _ => a.FromDouble(GpuMath.Binary(kind, a.ToDouble(u), a.ToDouble(v))),
            };
        }
    }

    public static void Compare<T, N>(ArrayView<T> x, Layout lx, ArrayView<T> y, Layout ly, ArrayView<byte> o, int n, int kind)
        where T : unmanaged where N : struct, IArith<T>
    {
        var a = default(N);
        for (int i = Grid.GlobalIndex.X; i < n; i += Step)
        {
            T u = x[lx.At(i)], v = y[ly.At(i)];
            bool r = kind switch
            {
                Eq => a.Eq(u, v),
                Ne => !a.Eq(u, v),
                Lt => a.Lt(u, v),
                Le => a.Lt(u, v) || a.Eq(u, v),
                Gt => a.Lt(v, u),
                _ => a.Lt(v, u) || a.Eq(u, v),
            };
            o[i] = r ? (byte)1 : (byte)0;
        }
    }

    public static void Where<T>(ArrayView<byte> c, Layout lc, ArrayView<T> x, Layout lx, ArrayView<T> y, Layout ly, ArrayView<T> o, int n) where T : unmanaged
    {
        for (int i = Grid.GlobalIndex.X; i < n; i += Step) o[i] = c[lc.At(i)] != 0 ? x[lx.At(i)] : y[ly.At(i)];
    }

    /// <summary>One Adam/AdamW update (see <c>AdamStep</c>); m and v are not read on the first step.</summary>
    public static void Adam<T, N>(ArrayView<T> p, Layout lp, ArrayView<T> g, Layout lg, ArrayView<T> m, Layout lm, ArrayView<T> v, Layout lv,
        AdamNumbers h, ArrayView<T> op, ArrayView<T> om, ArrayView<T> ov, int n)
        where T : unmanaged where N : struct, IArith<T>
    {
        var a = default(N);
        T lr = a.FromDouble(h.Lr), b1 = a.FromDouble(h.Beta1), b2 = a.FromDouble(h.Beta2), eps = a.FromDouble(h.Eps), decay = a.FromDouble(h.Decay);
        T c1 = a.FromDouble(h.C1), c2 = a.FromDouble(h.C2), nb1 = a.FromDouble(1 - h.Beta1), nb2 = a.FromDouble(1 - h.Beta2);
        for (int i = Grid.GlobalIndex.X; i < n; i += Step)
        {
            T pv = p[lp.At(i)], gv = g[lg.At(i)];
            if (h.Mode == 1) pv = a.Mul(pv, decay);
            else if (h.Mode == 2) gv = a.Add(gv, a.Mul(pv, decay));
            T gg = a.Mul(a.Mul(gv, gv), nb2);
            T mv = h.HasMoments != 0 ? a.Add(a.Mul(m[lm.At(i)], b1), a.Mul(gv, nb1)) : a.Mul(gv, nb1);
            T vq = h.HasMoments != 0 ? a.Add(a.Mul(v[lv.At(i)], b2), gg) : gg;
            op[i] = a.Sub(pv, a.Div(a.Mul(a.Div(mv, c1), lr), a.Add(a.Sqrt(a.Div(vq, c2)), eps)));
            om[i] = mv;
            ov[i] = vq;
        }
    }

    /// <summary>x̂ = (x − μ)·r of one row into o, returning r: the CPU's two passes (mean, then the centred squares).</summary>
    static T NormalizeRow<T, N>(ArrayView<T> x, Layout lx, int start, int d, T eps, ArrayView<T> o) where T : unmanaged where N : struct, IArith<T>
    {
        var a = default(N);
        T sum = a.Zero();
        for (int j = 0; j < d; j++) sum = a.Add(sum, x[lx.At(start + j)]);
        T n = a.FromDouble(d), mean = a.Div(sum, n), sq = a.Zero();
        for (int j = 0; j < d; j++)
        {
            T c = a.Sub(x[lx.At(start + j)], mean);
            o[start + j] = c;
            sq = a.Add(sq, a.Mul(c, c));
        }
        T r = a.Div(a.One(), a.Sqrt(a.Add(a.Div(sq, n), eps)));
        for (int j = 0; j < d; j++) o[start + j] = a.Mul(o[start + j], r);
        return r;
    }

    /// <summary>Layer norm, a thread a row; affine bit 1: γ given, bit 2: β given.</summary>
    public static void LayerNorm<T, N>(ArrayView<T> x, Layout lx, ArrayView<T> gamma, ArrayView<T> beta, int affine, ArrayView<T> o, int rows, int d, double eps)
        where T : unmanaged where N : struct, IArith<T>
    {
        var a = default(N);
        for (int r = Grid.GlobalIndex.X; r < rows; r += Step)
        {
            NormalizeRow<T, N>(x, lx, r * d, d, a.FromDouble(eps), o);
            for (int j = 0; j < d; j++)
            {
                T v = o[r * d + j];
                if ((affine & 1) != 0) v = a.Mul(v, gamma[j]);
                if ((affine & 2) != 0) v = a.Add(v, beta[j]);
                o[r * d + j] = v;
            }
        }
    }

    /// <summary>The normalisation's pullback, a thread a row: r·(gh − mean(gh) − x̂·mean(gh·x̂)).</summary>
    public static void LayerNormBackward<T, N>(ArrayView<T> gh, Layout lg, ArrayView<T> x, Layout lx, ArrayView<T> o, int rows, int d, double eps)
        where T : unmanaged where N : struct, IArith<T>
    {
        var a = default(N);
        for (int r = Grid.GlobalIndex.X; r < rows; r += Step)
        {
            int start = r * d;
            T rs = NormalizeRow<T, N>(x, lx, start, d, a.FromDouble(eps), o);
            T sum = a.Zero(), dot = a.Zero(), n = a.FromDouble(d);
            for (int j = 0; j < d; j++)
            {
                T g = gh[lg.At(start + j)];
                sum = a.Add(sum, g);
                dot = a.Add(dot, a.Mul(g, o[start + j]));
            }
            T mean = a.Div(sum, n), m = a.Div(dot, n);
            for (int j = 0; j < d; j++)
                o[start + j] = a.Mul(a.Sub(a.Sub(gh[lg.At(start + j)], a.Mul(o[start + j], m)), mean), rs);
        }
    }

    /// <summary>Element j (of n·l) of channel c in x [n, channels, l], row-major.</summary>
    static int ChannelAt(int c, int j, int channels, int l) => (j / l * channels + c) * l + j % l;

    /// <summary>
    /// Channel c's (x − μ)·r·scale into o, as the CPU kernel: μ and the biased σ² summed in
    /// float64, r = 1/√(σ² + ε) in the element type; returns (μ, σ², r).
    /// </summary>
    static (double Mean, double Var, T R) CentreChannel<T, N>(ArrayView<T> x, Layout lx, ArrayView<T> o, int c, int channels, int n, int l, T eps, T scale)
        where T : unmanaged where N : struct, IArith<T>
    {
        var a = default(N);
        int count = n * l;
        double sum = 0;
        for (int j = 0; j < count; j++) sum += a.ToDouble(x[lx.At(ChannelAt(c, j, channels, l))]);
        double mean = sum / count, squares = 0;
        T m = a.FromDouble(mean);
        for (int j = 0; j < count; j++)
        {
            int at = ChannelAt(c, j, channels, l);
            T v = a.Sub(x[lx.At(at)], m);
            o[at] = v;
            squares += a.ToDouble(a.Mul(v, v));
        }
        double variance = squares / count;
        T r = a.Div(a.One(), a.Sqrt(a.Add(a.FromDouble(variance), eps))), factor = a.Mul(r, scale);
        for (int j = 0; j < count; j++)
        {
            int at = ChannelAt(c, j, channels, l);
            o[at] = a.Mul(o[at], factor);
        }
        return (mean, variance, r);
    }

    /// <summary>Batch norm of x [n, channels, l], a thread a channel; affine bit 1: γ given, bit 2: β given; the statistics into mean and var.</summary>
    public static void BatchNorm<T, N>(ArrayView<T> x, Layout lx, ArrayView<T> gamma, ArrayView<T> beta, int affine, ArrayView<T> o, ArrayView<T> mean, ArrayView<T> var,
        int channels, int n, int l, double eps)
        where T : unmanaged where N : struct, IArith<T>
    {
        var a = default(N);
        for (int c = Grid.GlobalIndex.X; c < channels; c += Step)
        {
            var (m, v, _) = CentreChannel<T, N>(x, lx, o, c, channels, n, l, a.FromDouble(eps), (affine & 1) != 0 ? gamma[c] : a.One());
            mean[c] = a.FromDouble(m);
            var[c] = a.FromDouble(v);
            if ((affine & 2) == 0) continue;
            for (int j = 0; j < n * l; j++)
            {
                int at = ChannelAt(c, j, channels, l);
                o[at] = a.Add(o[at], beta[c]);
            }
        }
    }

    /// <summary>
    /// Batch norm's pullback, a thread a channel: γ·r·(g − mean(g) − x̂·mean(g·x̂)) (γ read when
    /// <paramref name="affine"/> is 1), and the sums Σ g·x̂, Σ g (in float64) into dgamma, dbeta.
    /// </summary>
    public static void BatchNormBackward<T, N>(ArrayView<T> gv, Layout lg, ArrayView<T> x, Layout lx, ArrayView<T> gamma, int affine, ArrayView<T> o,
        ArrayView<T> dgamma, ArrayView<T> dbeta, int channels, int n, int l, double eps)
        where T : unmanaged where N : struct, IArith<T>
    {
        var a = default(N);
        int count = n * l;
        for (int c = Grid.GlobalIndex.X; c < channels; c += Step)
        {
            var (_, _, r) = CentreChannel<T, N>(x, lx, o, c, channels, n, l, a.FromDouble(eps), a.One());
            double sum = 0, dot = 0;
            for (int j = 0; j < count; j++)
            {
                int at = ChannelAt(c, j, channels, l);
                T g = gv[lg.At(at)];
                sum += a.ToDouble(g);
                dot += a.ToDouble(a.Mul(g, o[at]));
            }
            dgamma[c] = a.FromDouble(dot);
            dbeta[c] = a.FromDouble(sum);
            T mg = a.FromDouble(sum / count), m = a.FromDouble(dot / count), scale = affine != 0 ? a.Mul(r, gamma[c]) : r;
            for (int j = 0; j < count; j++)
            {
                int at = ChannelAt(c, j, channels, l);
                o[at] = a.Mul(a.Sub(a.Sub(gv[lg.At(at)], a.Mul(o[at], m)), mg), scale);
            }
        }
    }

    /// <summary>softmax's pullback, a thread a row: y·(g − Σ g·y).</summary>
    public static void SoftmaxBackward<T, N>(ArrayView<T> g, Layout lg, ArrayView<T> y, Layout ly, ArrayView<T> o, int rows, int d)
        where T : unmanaged where N : struct, IArith<T>
    {
        var a = default(N);
        for (int r = Grid.GlobalIndex.X; r < rows; r += Step)
        {
            T c = a.Zero();
            for (int j = 0; j < d; j++) c = a.Add(c, a.Mul(g[lg.At(r * d + j)], y[ly.At(r * d + j)]));
            for (int j = 0; j < d; j++) o[r * d + j] = a.Mul(a.Sub(g[lg.At(r * d + j)], c), y[ly.At(r * d + j)]);
        }
    }

    public static void AddScaled<T, N>(ArrayView<T> y, Layout ly, T alpha, ArrayView<T> x, Layout lx, ArrayView<T> o, int n)
        where T : unmanaged where N : struct, IArith<T>
    {
        var a = default(N);
        for (int i = Grid.GlobalIndex.X; i < n; i += Step) o[i] = a.Add(a.Mul(x[lx.At(i)], alpha), y[ly.At(i)]);
    }
}

/// <summary>Adam's numbers as one kernel argument. Mode: 0 no decay, 1 decoupled (p·Decay), 2 L2 (g + p·Decay).</summary>
internal readonly struct AdamNumbers(double lr, double beta1, double beta2, double eps, double decay, double c1, double c2, int mode, int hasMoments)
{
    public readonly double Lr = lr, Beta1 = beta1, Beta2 = beta2, Eps = eps, Decay = decay, C1 = c1, C2 = c2;
    public readonly int Mode = mode, HasMoments = hasMoments;
}
