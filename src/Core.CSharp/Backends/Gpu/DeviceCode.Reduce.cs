using ILGPU;

namespace Cotangent.Backends.Gpu;

internal static partial class DeviceCode
{
    /// <summary>Each thread counts its share into its own slot (as int64); a row reduction then adds the slots on the device.</summary>
    public static void CountOutside(ArrayView<long> x, Layout lx, long low, long high, ArrayView<long> counts, int n)
    {
        long c = 0;
        for (int i = Grid.GlobalIndex.X; i < n; i += Step)
        {
            long v = x[lx.At(i)];
            if (v < low || v >= high) c++;
        }
        counts[Grid.GlobalIndex.X] = c;
    }

    static T Combine<T, N>(int kind, T acc, T v) where T : unmanaged where N : struct, IArith<T>
    {
        var a = default(N);
        return kind switch
        {
            Sum => a.Add(acc, v),
            RMax => a.Max(acc, v),
            RMin => a.Min(acc, v),
            _ => a.Mul(acc, v),
        };
    }

    static T Identity<T, N>(int kind) where T : unmanaged where N : struct, IArith<T>
    {
        var a = default(N);
        return kind switch
        {
            Sum => a.Zero(),
            RMax => a.Lowest(),
            RMin => a.Highest(),
            _ => a.One(),
        };
    }

    /// <summary>
    /// Combines every thread's <paramref name="mine"/> of this group through shared memory, in a
    /// fixed tree (a group size that is no power of two first folds its top threads onto the
    /// bottom ones); every thread gets the result. All threads of the group must call it.
    /// </summary>
    static T GroupCombine<T, N>(ArrayView<T> shared, int kind, T mine) where T : unmanaged where N : struct, IArith<T>
    {
        int t = Group.IdxX, size = Group.DimX, p = 1;
        while (p * 2 <= size) p *= 2;
        shared[t] = mine;
        Group.Barrier();
        if (t >= p) shared[t - p] = Combine<T, N>(kind, shared[t - p], shared[t]);
        Group.Barrier();
        for (int s = p / 2; s > 0; s /= 2)
        {
            if (t < s) shared[t] = Combine<T, N>(kind, shared[t], shared[t + s]);
            Group.Barrier();
        }
        T all = shared[0];
        Group.Barrier();   // before the next call overwrites shared[0]
        return all;
    }

    /// <summary>One thread a group of <c>group</c> consecutive positions (the reduced axes are last): for short groups.</summary>
    public static void Reduce<T, N>(ArrayView<T> x, Layout lx, ArrayView<T> o, int groups, int group, int kind)
        where T : unmanaged where N : struct, IArith<T>
    {
        for (int g = Grid.GlobalIndex.X; g < groups; g += Step)
        {
            int b = g * group;
            T acc = Identity<T, N>(kind);
            for (int j = 0; j < group; j++) acc = Combine<T, N>(kind, acc, x[lx.At(b + j)]);
            o[g] = acc;
        }
    }

    /// <summary>
    /// One thread group a piece of a row: row r's <paramref name="pieces"/> consecutive pieces
    /// go to o[r·pieces + c], each summed by the group's threads in turn (thread t takes
    /// positions t, t + size, …) and then by <see cref="GroupCombine"/>. With one piece a row
    /// this is the reduction; with more, a second launch over the pieces finishes it.
    /// </summary>
    public static void ReduceRows<T, N>(ArrayView<T> x, Layout lx, ArrayView<T> o, int rows, int len, int pieces, int kind)
        where T : unmanaged where N : struct, IArith<T>
    {
        var shared = SharedMemory.GetDynamic<T>();
        int piece = (len + pieces - 1) / pieces;
        for (int w = Grid.IdxX; w < rows * pieces; w += Grid.DimX)
        {
            int row = w / pieces, start = w % pieces * piece, end = Math.Min(len, start + piece);
            T acc = Identity<T, N>(kind);
            for (int j = start + Group.IdxX; j < end; j += Group.DimX) acc = Combine<T, N>(kind, acc, x[lx.At(row * len + j)]);
            acc = GroupCombine<T, N>(shared, kind, acc);
            if (Group.IdxX == 0) o[w] = acc;
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
            T m = a.Lowest();
            for (int j = 0; j < len; j++) m = a.Max(m, x[lx.At(b + j)]);
            if (!double.IsFinite(a.ToDouble(m))) m = a.Zero();   // NaN or ±∞
            T sum = a.Zero();
            for (int j = 0; j < len; j++) sum = a.Add(sum, a.Exp(a.Sub(x[lx.At(b + j)], m)));
            T logSum = a.Log(sum);
            for (int j = 0; j < len; j++) o[b + j] = a.Sub(a.Sub(x[lx.At(b + j)], m), logSum);
        }
    }

    /// <summary>One thread group a row, for long rows: the max, then Σ exp(x − max), each by the group's threads and a tree.</summary>
    public static void LogSoftmaxRows<T, N>(ArrayView<T> x, Layout lx, ArrayView<T> o, int rows, int len)
        where T : unmanaged where N : struct, IArith<T>
    {
        var a = default(N);
        var shared = SharedMemory.GetDynamic<T>();
        for (int r = Grid.IdxX; r < rows; r += Grid.DimX)
        {
            int b = r * len;
            T m = a.Lowest();
            for (int j = Group.IdxX; j < len; j += Group.DimX) m = a.Max(m, x[lx.At(b + j)]);
            m = GroupCombine<T, N>(shared, RMax, m);
            if (!double.IsFinite(a.ToDouble(m))) m = a.Zero();
            T sum = a.Zero();
            for (int j = Group.IdxX; j < len; j += Group.DimX) sum = a.Add(sum, a.Exp(a.Sub(x[lx.At(b + j)], m)));
            T logSum = a.Log(GroupCombine<T, N>(shared, Sum, sum));
            for (int j = Group.IdxX; j < len; j += Group.DimX) o[b + j] = a.Sub(a.Sub(x[lx.At(b + j)], m), logSum);
        }
    }
}
