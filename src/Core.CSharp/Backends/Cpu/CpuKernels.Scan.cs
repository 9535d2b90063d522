using System.Numerics;

namespace Cotangent.Backends.Cpu;

/// <summary>Scans and sorts along the last axis, row by row.</summary>
internal sealed partial class CpuKernels
{
    public Storage Scan(ScanKind kind, Strided x) => (kind, x.Storage.DType) switch
    {
        (ScanKind.LogSumExp, DType.Float32) => LogCumSumExpT<float>(x),
        (ScanKind.LogSumExp, DType.Float64) => LogCumSumExpT<double>(x),
        (not ScanKind.LogSumExp, DType.Float32) => ScanT<float>(kind, x),
        (not ScanKind.LogSumExp, DType.Float64) => ScanT<double>(kind, x),
        (not ScanKind.LogSumExp, DType.Int64) => ScanT<long>(kind, x),
        var (_, t) => throw new DTypeMismatchException(ScanName(kind), $"{ScanName(kind)}: no kernel for dtype {t.Name()}"),
    };

    internal static string ScanName(ScanKind kind) => kind switch
    {
        ScanKind.Sum => "cumsum",
        ScanKind.Prod => "cumprod",
        _ => "logcumsumexp",
    };

    static int RowLength(Strided x) => x.Rank == 0 ? 1 : x.Shape[^1];

    static Storage ScanT<T>(ScanKind kind, Strided x) where T : unmanaged, INumber<T>
    {
        var s = Walk.Span<T>(x);
        int len = RowLength(x);
        var o = Buffers.Uninitialized<T>(s.Length);
        for (int b = 0; b < s.Length; b += len)
        {
            T acc = kind == ScanKind.Sum ? T.Zero : T.One;
            for (int j = b; j < b + len; j++)
            {
                acc = kind == ScanKind.Sum ? acc + s[j] : acc * s[j];
                o[j] = acc;
            }
        }
        return new CpuStorage<T>(o);
    }

    static Storage LogCumSumExpT<T>(Strided x) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var s = Walk.Span<T>(x);
        int len = RowLength(x);
        var o = Buffers.Uninitialized<T>(s.Length);
        for (int b = 0; b < s.Length; b += len)
        {
            T acc = T.NegativeInfinity;
            for (int j = b; j < b + len; j++)
            {
                acc = LogAddExp(acc, s[j]);
                o[j] = acc;
            }
        }
        return new CpuStorage<T>(o);
    }

    /// <summary>log(eᵃ + eᵇ) without overflow: max + log1p(e^−|a−b|); equal infinities are themselves (∞ − ∞ would be NaN).</summary>
    internal static T LogAddExp<T>(T a, T b) where T : IFloatingPointIeee754<T>
    {
        if (T.IsNaN(a) || T.IsNaN(b)) return T.NaN;
        if (a == b && T.IsInfinity(a)) return a;
        T m = T.Max(a, b);
        return m + Scalar.Log1p(T.Exp(-T.Abs(a - b)));
    }

    public Storage ArgSort(Strided x, bool descending) => x.Storage.DType switch
    {
        DType.Float32 => ArgSortT<float>(x, descending),
        DType.Float64 => ArgSortT<double>(x, descending),
        DType.Int64 => ArgSortT<long>(x, descending),
        var t => throw new DTypeMismatchException("sort", $"sort: no kernel for dtype {t.Name()}"),
    };

    static Storage ArgSortT<T>(Strided x, bool descending) where T : unmanaged, INumber<T>
    {
        var values = Walk.Span<T>(x).ToArray();
        int len = RowLength(x);
        var o = new long[values.Length];
        var order = new int[len];
        for (int b = 0; b < values.Length; b += len)
        {
            for (int j = 0; j < len; j++) order[j] = j;
            int row = b;
            // ties broken by position make the order total, so any sort gives the stable result
            Array.Sort(order, (u, v) =>
            {
                int c = Order(values[row + u], values[row + v]);
                if (descending) c = -c;
                return c != 0 ? c : u.CompareTo(v);
            });
            for (int j = 0; j < len; j++) o[b + j] = order[j];
        }
        return new CpuStorage<long>(o);
    }

    /// <summary>Numbers in their order, NaN after all of them and equal to itself.</summary>
    static int Order<T>(T a, T b) where T : INumber<T>
    {
        bool na = T.IsNaN(a), nb = T.IsNaN(b);
        if (na || nb) return na == nb ? 0 : na ? 1 : -1;
        return a < b ? -1 : a > b ? 1 : 0;
    }
}
