using ILGPU;

namespace Cotangent.Backends.Gpu;

internal static partial class DeviceCode
{
    public const int ScanSum = 0, ScanProd = 1, ScanLogSumExp = 2;

    /// <summary>One thread a row: the running sum, product or log Σ exp, in row order as the CPU adds it.</summary>
    public static void Scan<T, N>(ArrayView<T> x, Layout lx, ArrayView<T> o, int rows, int len, int kind)
        where T : unmanaged where N : struct, IArith<T>
    {
        var a = default(N);
        for (int r = Grid.GlobalIndex.X; r < rows; r += Step)
        {
            int b = r * len;
            T acc = kind == ScanSum ? a.Zero() : kind == ScanProd ? a.One() : a.Lowest();
            for (int j = b; j < b + len; j++)
            {
                T v = x[lx.At(j)];
                acc = kind == ScanSum ? a.Add(acc, v) : kind == ScanProd ? a.Mul(acc, v) : a.FromDouble(LogAddExp(a.ToDouble(acc), a.ToDouble(v)));
                o[j] = acc;
            }
        }
    }

    /// <summary>The CPU's log-add-exp, in float64: max + log1p(e^−|a−b|), equal infinities kept.</summary>
    static double LogAddExp(double a, double b)
    {
        if (double.IsNaN(a) || double.IsNaN(b)) return double.NaN;
        if (a == b && double.IsInfinity(a)) return a;
        return Math.Max(a, b) + GpuMath.Log1p(Math.Exp(-Math.Abs(a - b)));
    }

    /// <summary>Each row's positions 0 … padded − 1; those at or past the row's length are padding, which sorts last.</summary>
    public static void SortInit(ArrayView<long> idx, int total, int padded)
    {
        for (int i = Grid.GlobalIndex.X; i < total; i += Step) idx[i] = i % padded;
    }

    /// <summary>
    /// One compare-exchange pass of a bitonic sort of every row's positions at once, by the
    /// position's value (NaN after numbers, reversed when descending) and then the position:
    /// a total order, so the result is the stable sort's, the same on every run.
    /// </summary>
    public static void RowBitonicPass<T, N>(ArrayView<T> x, Layout lx, ArrayView<long> idx, int rows, int len, int padded, int span, int block, int descending)
        where T : unmanaged where N : struct, IArith<T>
    {
        int total = rows * padded;
        for (int i = Grid.GlobalIndex.X; i < total; i += Step)
        {
            int j = i % padded, l = j ^ span;
            if (l <= j) continue;
            int r = i / padded, at = r * padded;
            long u = idx[at + j], v = idx[at + l];
            bool after = After<T, N>(x, lx, r * len, len, u, v, descending != 0);
            bool up = (j & block) == 0;
            if (up == after) { idx[at + j] = v; idx[at + l] = u; }
        }
    }

    static bool After<T, N>(ArrayView<T> x, Layout lx, int row, int len, long u, long v, bool descending)
        where T : unmanaged where N : struct, IArith<T>
    {
        if (u >= len || v >= len) return u >= len && (v < len || u > v);
        var a = default(N);
        T p = x[lx.At(row + (int)u)], q = x[lx.At(row + (int)v)];
        bool np = !a.Eq(p, p), nq = !a.Eq(q, q);
        int c = np || nq ? (np == nq ? 0 : np ? 1 : -1) : a.Lt(p, q) ? -1 : a.Lt(q, p) ? 1 : 0;
        if (descending) c = -c;
        return c != 0 ? c > 0 : u > v;
    }

    /// <summary>The first len positions of each padded row: the sorted order (padding sorted last).</summary>
    public static void SortTake(ArrayView<long> idx, ArrayView<long> o, int rows, int len, int padded)
    {
        int total = rows * len;
        for (int i = Grid.GlobalIndex.X; i < total; i += Step) o[i] = idx[i / len * padded + i % len];
    }
}
