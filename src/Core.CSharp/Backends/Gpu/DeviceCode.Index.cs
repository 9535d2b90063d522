using ILGPU;

namespace Cotangent.Backends.Gpu;

/// <summary>A matrix product's sizes and the row and column strides of each operand (batch starts come from the layouts).</summary>
internal struct ProductShape
{
    public int Batches, M, K, N, RowA, ColA, RowB, ColB;
}

/// <summary>An axis picked by an index, with what lies before and after it: outer × size × inner, and how many indices.</summary>
internal struct IndexShape
{
    public int Outer, Size, Inner, Count;
}

/// <summary>A strided slice placed into zeros along an axis: outer × size × inner, from start by step, count elements.</summary>
internal struct SliceShape
{
    public int Outer, Size, Inner, Start, Step, Count;
}

/// <summary>One part of a concatenation: its axis size, the inner size, the output's axis size, where the part starts, its elements.</summary>
internal struct PartShape
{
    public int Size, Inner, OutSize, At, Count;
}

/// <summary>A sliding window over [batch, channels, height, width] images and its output grid.</summary>
internal struct WindowShape
{
    public int Batch, Channels, Height, Width, Kh, Kw, Stride, Padding, OutH, OutW;
}

internal static partial class DeviceCode
{
    /// <summary>C = A·B per batch, one thread an output element, summed over k in order.</summary>
    public static void MatMul<T, N>(ArrayView<T> x, Layout la, ArrayView<T> y, Layout lb, ArrayView<T> o, ProductShape d)
        where T : unmanaged where N : struct, IArith<T>
    {
        var a = default(N);
        int m = d.M, k = d.K, n = d.N, total = d.Batches * m * n;
        for (int i = Grid.GlobalIndex.X; i < total; i += Step)
        {
            int bi = i / (m * n), r = i % (m * n), row = r / n, col = r % n;
            int pa = la.At(bi * m * k) + row * d.RowA, pb = lb.At(bi * k * n) + col * d.ColB;
            T acc = a.Zero();
            for (int p = 0; p < k; p++) acc = a.Add(acc, a.Mul(x[pa + p * d.ColA], y[pb + p * d.RowB]));
            o[i] = acc;
        }
    }

    public static void IndexSelect<T>(ArrayView<T> x, Layout lx, ArrayView<long> ix, Layout li, ArrayView<T> o, IndexShape d) where T : unmanaged
    {
        int total = d.Outer * d.Count * d.Inner;
        for (int i = Grid.GlobalIndex.X; i < total; i += Step)
        {
            int q = i % d.Inner, j = i / d.Inner % d.Count, p = i / (d.Inner * d.Count);
            o[i] = x[lx.At((p * d.Size + (int)ix[li.At(j)]) * d.Inner + q)];
        }
    }

    /// <summary>keys[j] = index[j]·count + j, and the largest key past count: sorted, equal indices lie together in position order.</summary>
    public static void SortKeys(ArrayView<long> ix, Layout li, ArrayView<long> keys, int count, int padded)
    {
        for (int j = Grid.GlobalIndex.X; j < padded; j += Step) keys[j] = j < count ? ix[li.At(j)] * count + j : long.MaxValue;
    }

    /// <summary>One compare-exchange pass of a bitonic sort (span <paramref name="span"/> within blocks of <paramref name="block"/>): the same result on every run.</summary>
    public static void BitonicPass(ArrayView<long> keys, int padded, int span, int block)
    {
        for (int i = Grid.GlobalIndex.X; i < padded; i += Step)
        {
            int l = i ^ span;
            if (l <= i) continue;
            long u = keys[i], v = keys[l];
            bool up = (i & block) == 0;
            if (up ? u > v : u < v) { keys[i] = v; keys[l] = u; }
        }
    }

    /// <summary>
    /// The output element (p, t, q) adds, in index order, the rows of src whose index is t: the
    /// sorted keys of index t start where a binary search puts t·count.
    /// </summary>
    public static void IndexAddSorted<T, N>(ArrayView<T> src, Layout ls, ArrayView<long> keys, ArrayView<T> o, IndexShape d)
        where T : unmanaged where N : struct, IArith<T>
    {
        var a = default(N);
        int total = d.Outer * d.Size * d.Inner;
        long count = d.Count;
        for (int i = Grid.GlobalIndex.X; i < total; i += Step)
        {
            int q = i % d.Inner, t = i / d.Inner % d.Size, p = i / (d.Inner * d.Size);
            long first = t * count, past = first + count;
            int lo = 0, hi = d.Count;
            while (lo < hi)
            {
                int mid = (lo + hi) / 2;
                if (keys[mid] < first) lo = mid + 1;
                else hi = mid;
            }
            T acc = a.Zero();
            for (int s = lo; s < d.Count && keys[s] < past; s++)
                acc = a.Add(acc, src[ls.At((p * d.Count + (int)(keys[s] - first)) * d.Inner + q)]);
            o[i] = acc;
        }
    }

    /// <summary>Count is the size of the index's axis.</summary>
    public static void Gather<T>(ArrayView<T> x, Layout lx, ArrayView<long> ix, Layout li, ArrayView<T> o, IndexShape d) where T : unmanaged
    {
        int total = d.Outer * d.Count * d.Inner;
        for (int i = Grid.GlobalIndex.X; i < total; i += Step)
        {
            int q = i % d.Inner, p = i / (d.Inner * d.Count);
            o[i] = x[lx.At((p * d.Size + (int)ix[li.At(i)]) * d.Inner + q)];
        }
    }

    /// <summary>
    /// The output element (p, t, q) gathers, in order, src[p, j, q] where index[p, j, q] = t:
    /// O(count) per output element, fine for the short index axes of gather's VJP (one label a row).
    /// </summary>
    public static void ScatterAdd<T, N>(ArrayView<T> src, Layout ls, ArrayView<long> ix, Layout li, ArrayView<T> o, IndexShape d)
        where T : unmanaged where N : struct, IArith<T>
    {
        var a = default(N);
        int total = d.Outer * d.Size * d.Inner;
        for (int i = Grid.GlobalIndex.X; i < total; i += Step)
        {
            int q = i % d.Inner, t = i / d.Inner % d.Size, p = i / (d.Inner * d.Size);
            T acc = a.Zero();
            for (int j = 0; j < d.Count; j++)
            {
                int at = (p * d.Count + j) * d.Inner + q;
                if (ix[li.At(at)] == t) acc = a.Add(acc, src[ls.At(at)]);
            }
            o[i] = acc;
        }
    }

    public static void SliceScatter<T, N>(ArrayView<T> src, Layout ls, ArrayView<T> o, SliceShape d) where T : unmanaged where N : struct, IArith<T>
    {
        int total = d.Outer * d.Size * d.Inner;
        for (int i = Grid.GlobalIndex.X; i < total; i += Step)
        {
            int q = i % d.Inner, t = i / d.Inner % d.Size, p = i / (d.Inner * d.Size);
            int rel = t - d.Start, k = rel / d.Step;
            o[i] = rel >= 0 && rel % d.Step == 0 && k < d.Count ? src[ls.At((p * d.Count + k) * d.Inner + q)] : default(N).Zero();
        }
    }

    public static void CopyInto<T>(ArrayView<T> x, Layout lx, ArrayView<T> o, PartShape d) where T : unmanaged
    {
        for (int i = Grid.GlobalIndex.X; i < d.Count; i += Step)
        {
            int q = i % d.Inner, t = i / d.Inner % d.Size, p = i / (d.Inner * d.Size);
            o[(p * d.OutSize + d.At + t) * d.Inner + q] = x[lx.At(i)];
        }
    }

    /// <summary>im2col: the output [batch, channels·kh·kw, outH·outW].</summary>
    public static void Unfold<T, N>(ArrayView<T> x, Layout lx, ArrayView<T> o, WindowShape d) where T : unmanaged where N : struct, IArith<T>
    {
        int rows = d.Channels * d.Kh * d.Kw, l = d.OutH * d.OutW, total = d.Batch * rows * l;
        for (int i = Grid.GlobalIndex.X; i < total; i += Step)
        {
            int pos = i % l, r = i / l % rows, b = i / (l * rows);
            int oy = pos / d.OutW, ox = pos % d.OutW, ch = r / (d.Kh * d.Kw), ki = r / d.Kw % d.Kh, kj = r % d.Kw;
            int y = oy * d.Stride + ki - d.Padding, xx = ox * d.Stride + kj - d.Padding;
            o[i] = y >= 0 && y < d.Height && xx >= 0 && xx < d.Width ? x[lx.At(((b * d.Channels + ch) * d.Height + y) * d.Width + xx)] : default(N).Zero();
        }
    }

    /// <summary>col2im as a gather: each image element adds the window entries that read it, in (i, j) order.</summary>
    public static void Fold<T, N>(ArrayView<T> cols, Layout lc, ArrayView<T> o, WindowShape d) where T : unmanaged where N : struct, IArith<T>
    {
        var a = default(N);
        int rows = d.Channels * d.Kh * d.Kw, l = d.OutH * d.OutW, total = d.Batch * d.Channels * d.Height * d.Width;
        for (int i = Grid.GlobalIndex.X; i < total; i += Step)
        {
            int xx = i % d.Width, y = i / d.Width % d.Height, ch = i / (d.Width * d.Height) % d.Channels, b = i / (d.Width * d.Height * d.Channels);
            T acc = a.Zero();
            for (int ki = 0; ki < d.Kh; ki++)
            {
                int ty = y + d.Padding - ki;
                if (ty < 0 || ty % d.Stride != 0 || ty / d.Stride >= d.OutH) continue;
                for (int kj = 0; kj < d.Kw; kj++)
                {
                    int tx = xx + d.Padding - kj;
                    if (tx < 0 || tx % d.Stride != 0 || tx / d.Stride >= d.OutW) continue;
                    int row = (ch * d.Kh + ki) * d.Kw + kj;
                    acc = a.Add(acc, cols[lc.At((b * rows + row) * l + ty / d.Stride * d.OutW + tx / d.Stride)]);
                }
            }
            o[i] = acc;
        }
    }
}
