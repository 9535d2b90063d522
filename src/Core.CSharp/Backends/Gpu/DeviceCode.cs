using ILGPU;

namespace Cotangent.Backends.Gpu;

/// <summary>Up to eight integers a kernel needs beside its views (sizes, window geometry).</summary>
internal struct Dims
{
    public int A, B, C, D, E, F, G, H;
}

/// <summary>
/// The ILGPU kernels. Each is a grid-stride loop over its output, one thread an element (or a
/// row, or a reduced group), reading inputs through their <see cref="Layout"/>. Each output
/// element is computed by one thread in a fixed order, with no atomics: a kernel gives the same
/// bits run after run, and the gathering forms of index_add, scatter_add and fold add their
/// contributions in the CPU kernels' order.
/// </summary>
internal static class Kernels
{
    public const int Neg = 0, Exp = 1, Log = 2, Sqrt = 3, Abs = 4, Sin = 5, Cos = 6, Tanh = 7, Sigmoid = 8, Relu = 9, Softplus = 10, Gelu = 11, Erf = 12, Sign = 13;
    public const int Add = 0, Sub = 1, Mul = 2, Div = 3, Pow = 4, Max = 5, Min = 6, ReluGrad = 7, FloorDiv = 8;
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

    public static void Convert<TF, NF, TT, NT>(ArrayView<TF> x, Layout lx, ArrayView<TT> o, int n)
        where TF : unmanaged where NF : struct, IArith<TF> where TT : unmanaged where NT : struct, IArith<TT>
    {
        for (int i = Grid.GlobalIndex.X; i < n; i += Step) o[i] = default(NT).FromDouble(default(NF).ToDouble(x[lx.At(i)]));
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
                _ => a.Sign(v),
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
                _ => a.FloorDiv(u, v),
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

    public static void AddScaled<T, N>(ArrayView<T> y, Layout ly, T alpha, ArrayView<T> x, Layout lx, ArrayView<T> o, int n)
        where T : unmanaged where N : struct, IArith<T>
    {
        var a = default(N);
        for (int i = Grid.GlobalIndex.X; i < n; i += Step) o[i] = a.Add(a.Mul(x[lx.At(i)], alpha), y[ly.At(i)]);
    }

    /// <summary>Each thread counts its share into its own slot; the host adds the slots.</summary>
    public static void CountOutside(ArrayView<long> x, Layout lx, long low, long high, ArrayView<int> counts, int n)
    {
        int c = 0;
        for (int i = Grid.GlobalIndex.X; i < n; i += Step)
        {
            long v = x[lx.At(i)];
            if (v < low || v >= high) c++;
        }
        counts[Grid.GlobalIndex.X] = c;
    }

    /// <summary>One thread a group of <c>group</c> consecutive positions (the reduced axes are last).</summary>
    public static void Reduce<T, N>(ArrayView<T> x, Layout lx, ArrayView<T> o, int groups, int group, int kind)
        where T : unmanaged where N : struct, IArith<T>
    {
        var a = default(N);
        for (int g = Grid.GlobalIndex.X; g < groups; g += Step)
        {
            int b = g * group;
            T acc = kind == Prod ? a.One() : kind == Sum || group == 0 ? a.Zero() : x[lx.At(b)];
            for (int j = 0; j < group; j++)
            {
                T v = x[lx.At(b + j)];
                acc = kind switch
                {
                    Sum => a.Add(acc, v),
                    RMax => a.Max(acc, v),
                    RMin => a.Min(acc, v),
                    _ => a.Mul(acc, v),
                };
            }
            o[g] = acc;
        }
    }

    /// <summary>∏ of the other elements of each group, by prefix and suffix products (no division).</summary>
    public static void ProdOfOthers<T, N>(ArrayView<T> x, Layout lx, ArrayView<T> o, int groups, int group)
        where T : unmanaged where N : struct, IArith<T>
    {
        var a = default(N);
        for (int g = Grid.GlobalIndex.X; g < groups; g += Step)
        {
            int b = g * group;
            T acc = a.One();
            for (int j = 0; j < group; j++) { o[b + j] = acc; acc = a.Mul(acc, x[lx.At(b + j)]); }
            acc = a.One();
            for (int j = group - 1; j >= 0; j--) { o[b + j] = a.Mul(o[b + j], acc); acc = a.Mul(acc, x[lx.At(b + j)]); }
        }
    }

    /// <summary>One thread a row: x − max − log Σ exp(x − max); a row without a finite max lets the arithmetic say so.</summary>
    public static void LogSoftmax<T, N>(ArrayView<T> x, Layout lx, ArrayView<T> o, int rows, int len)
        where T : unmanaged where N : struct, IArith<T>
    {
        var a = default(N);
        for (int r = Grid.GlobalIndex.X; r < rows; r += Step)
        {
            int b = r * len;
            T m = x[lx.At(b)];
            for (int j = 1; j < len; j++) m = a.Max(m, x[lx.At(b + j)]);
            double md = a.ToDouble(m);
            if (!double.IsFinite(md)) m = a.Zero();   // NaN or ±∞
            T sum = a.Zero();
            for (int j = 0; j < len; j++) sum = a.Add(sum, a.Exp(a.Sub(x[lx.At(b + j)], m)));
            T logSum = a.Log(sum);
            for (int j = 0; j < len; j++) o[b + j] = a.Sub(a.Sub(x[lx.At(b + j)], m), logSum);
        }
    }

    /// <summary>
    /// C = A·B per batch, one thread an output element. d: A = batches, B = m, C = k, D = n, then
    /// the row and column strides of a (E, F) and of b (G, H); la and lb locate each batch's start.
    /// </summary>
    public static void MatMul<T, N>(ArrayView<T> x, Layout la, ArrayView<T> y, Layout lb, ArrayView<T> o, Dims d)
        where T : unmanaged where N : struct, IArith<T>
    {
        var a = default(N);
        int m = d.B, k = d.C, n = d.D, total = d.A * m * n;
        for (int i = Grid.GlobalIndex.X; i < total; i += Step)
        {
            int bi = i / (m * n), r = i % (m * n), row = r / n, col = r % n;
            int pa = la.At(bi * m * k) + row * d.E, pb = lb.At(bi * k * n) + col * d.H;
            T acc = a.Zero();
            for (int p = 0; p < k; p++) acc = a.Add(acc, a.Mul(x[pa + p * d.F], y[pb + p * d.G]));
            o[i] = acc;
        }
    }

    /// <summary>d: A = outer, B = size of the axis, C = inner, D = number of indices.</summary>
    public static void IndexSelect<T>(ArrayView<T> x, Layout lx, ArrayView<long> ix, Layout li, ArrayView<T> o, Dims d) where T : unmanaged
    {
        int total = d.A * d.D * d.C;
        for (int i = Grid.GlobalIndex.X; i < total; i += Step)
        {
            int q = i % d.C, j = i / d.C % d.D, p = i / (d.C * d.D);
            o[i] = x[lx.At((p * d.B + (int)ix[li.At(j)]) * d.C + q)];
        }
    }

    /// <summary>The output element (p, t, q) gathers, in index order, the rows of src whose index is t. d as IndexSelect.</summary>
    public static void IndexAdd<T, N>(ArrayView<T> src, Layout ls, ArrayView<long> ix, Layout li, ArrayView<T> o, Dims d)
        where T : unmanaged where N : struct, IArith<T>
    {
        var a = default(N);
        int total = d.A * d.B * d.C;
        for (int i = Grid.GlobalIndex.X; i < total; i += Step)
        {
            int q = i % d.C, t = i / d.C % d.B, p = i / (d.C * d.B);
            T acc = a.Zero();
            for (int j = 0; j < d.D; j++)
                if (ix[li.At(j)] == t) acc = a.Add(acc, src[ls.At((p * d.D + j) * d.C + q)]);
            o[i] = acc;
        }
    }

    /// <summary>d: A = outer, B = size of x's axis, C = inner, D = size of the index's axis.</summary>
    public static void Gather<T>(ArrayView<T> x, Layout lx, ArrayView<long> ix, Layout li, ArrayView<T> o, Dims d) where T : unmanaged
    {
        int total = d.A * d.D * d.C;
        for (int i = Grid.GlobalIndex.X; i < total; i += Step)
        {
            int q = i % d.C, p = i / (d.C * d.D);
            o[i] = x[lx.At((p * d.B + (int)ix[li.At(i)]) * d.C + q)];
        }
    }

    /// <summary>The output element (p, t, q) gathers, in order, src[p, j, q] where index[p, j, q] = t. d as Gather.</summary>
    public static void ScatterAdd<T, N>(ArrayView<T> src, Layout ls, ArrayView<long> ix, Layout li, ArrayView<T> o, Dims d)
        where T : unmanaged where N : struct, IArith<T>
    {
        var a = default(N);
        int total = d.A * d.B * d.C;
        for (int i = Grid.GlobalIndex.X; i < total; i += Step)
        {
            int q = i % d.C, t = i / d.C % d.B, p = i / (d.C * d.B);
            T acc = a.Zero();
            for (int j = 0; j < d.D; j++)
            {
                int at = (p * d.D + j) * d.C + q;
                if (ix[li.At(at)] == t) acc = a.Add(acc, src[ls.At(at)]);
            }
            o[i] = acc;
        }
    }

    /// <summary>Zeros with src at start, start + step, … along the axis. d: A = outer, B = axis size, C = inner, D = start, E = step, F = count.</summary>
    public static void SliceScatter<T, N>(ArrayView<T> src, Layout ls, ArrayView<T> o, Dims d) where T : unmanaged where N : struct, IArith<T>
    {
        int total = d.A * d.B * d.C;
        for (int i = Grid.GlobalIndex.X; i < total; i += Step)
        {
            int q = i % d.C, t = i / d.C % d.B, p = i / (d.C * d.B);
            int rel = t - d.D, k = rel / d.E;
            o[i] = rel >= 0 && rel % d.E == 0 && k < d.F ? src[ls.At((p * d.F + k) * d.C + q)] : default(N).Zero();
        }
    }

    /// <summary>One part of a concatenation into its place. d: A = the part's axis size, B = inner, C = the output's axis size, D = where the part starts, E = the part's elements.</summary>
    public static void CopyInto<T>(ArrayView<T> x, Layout lx, ArrayView<T> o, Dims d) where T : unmanaged
    {
        for (int i = Grid.GlobalIndex.X; i < d.E; i += Step)
        {
            int q = i % d.B, t = i / d.B % d.A, p = i / (d.B * d.A);
            o[(p * d.C + d.D + t) * d.B + q] = x[lx.At(i)];
        }
    }

    /// <summary>
    /// im2col. d: A = N, B = C, C = H, D = W, E = kh, F = kw, G = stride, H = padding; the
    /// output [N, C·kh·kw, oh·ow].
    /// </summary>
    public static void Unfold<T, N>(ArrayView<T> x, Layout lx, ArrayView<T> o, Dims d, int oh, int ow) where T : unmanaged where N : struct, IArith<T>
    {
        int rows = d.B * d.E * d.F, l = oh * ow, total = d.A * rows * l;
        for (int i = Grid.GlobalIndex.X; i < total; i += Step)
        {
            int pos = i % l, r = i / l % rows, b = i / (l * rows);
            int oy = pos / ow, ox = pos % ow, ch = r / (d.E * d.F), ki = r / d.F % d.E, kj = r % d.F;
            int y = oy * d.G + ki - d.H, xx = ox * d.G + kj - d.H;
            o[i] = y >= 0 && y < d.C && xx >= 0 && xx < d.D ? x[lx.At(((b * d.B + ch) * d.C + y) * d.D + xx)] : default(N).Zero();
        }
    }

    /// <summary>col2im as a gather: each image element adds the window entries that read it, in (i, j) order. d as Unfold.</summary>
    public static void Fold<T, N>(ArrayView<T> cols, Layout lc, ArrayView<T> o, Dims d, int oh, int ow) where T : unmanaged where N : struct, IArith<T>
    {
        var a = default(N);
        int rows = d.B * d.E * d.F, l = oh * ow, total = d.A * d.B * d.C * d.D;
        for (int i = Grid.GlobalIndex.X; i < total; i += Step)
        {
            int xx = i % d.D, y = i / d.D % d.C, ch = i / (d.D * d.C) % d.B, b = i / (d.D * d.C * d.B);
            T acc = a.Zero();
            for (int ki = 0; ki < d.E; ki++)
            {
                int ty = y + d.H - ki;
                if (ty < 0 || ty % d.G != 0 || ty / d.G >= oh) continue;
                for (int kj = 0; kj < d.F; kj++)
                {
                    int tx = xx + d.H - kj;
                    if (tx < 0 || tx % d.G != 0 || tx / d.G >= ow) continue;
                    int row = (ch * d.E + ki) * d.F + kj;
                    acc = a.Add(acc, cols[lc.At((b * rows + row) * l + ty / d.G * ow + tx / d.G)]);
                }
            }
            o[i] = acc;
        }
    }
}
