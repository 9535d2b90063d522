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

    /// <summary>The side of the square block of outputs one thread computes in <see cref="TiledMatMul"/>.</summary>
    public const int Tile = 4;

    /// <summary>
    /// C = A·B per batch, one thread a 4 × 4 block of outputs held in registers: each step over
    /// k loads 4 values of A and 4 of B for 16 products, where one thread an output loads 2 for
    /// 1. No shared memory and no barriers (a barrier costs the CPU accelerator ~100 µs, which
    /// made a shared-memory tiling 15× slower there). Every output is summed over k in order,
    /// as <see cref="MatMul"/> does, so both give the same bits. Blocks at the ragged edges
    /// clamp their reads and skip their writes.
    /// </summary>
    public static void TiledMatMul<T, N>(ArrayView<T> x, Layout la, ArrayView<T> y, Layout lb, ArrayView<T> o, ProductShape d)
        where T : unmanaged where N : struct, IArith<T>
    {
        var a = default(N);
        int m = d.M, k = d.K, n = d.N;
        int blocksM = (m + Tile - 1) / Tile, blocksN = (n + Tile - 1) / Tile;
        for (int w = Grid.GlobalIndex.X; w < d.Batches * blocksM * blocksN; w += Step)
        {
            int bi = w / (blocksM * blocksN), r0 = w / blocksN % blocksM * Tile, c0 = w % blocksN * Tile;
            int pa = la.At(bi * m * k), pb = lb.At(bi * k * n);
            // rows and columns past the edge read the last valid one; their sums are never written
            int ra0 = pa + Math.Min(r0, m - 1) * d.RowA, ra1 = pa + Math.Min(r0 + 1, m - 1) * d.RowA;
            int ra2 = pa + Math.Min(r0 + 2, m - 1) * d.RowA, ra3 = pa + Math.Min(r0 + 3, m - 1) * d.RowA;
            int cb0 = pb + Math.Min(c0, n - 1) * d.ColB, cb1 = pb + Math.Min(c0 + 1, n - 1) * d.ColB;
            int cb2 = pb + Math.Min(c0 + 2, n - 1) * d.ColB, cb3 = pb + Math.Min(c0 + 3, n - 1) * d.ColB;
            T s00 = a.Zero(), s01 = a.Zero(), s02 = a.Zero(), s03 = a.Zero();
            T s10 = a.Zero(), s11 = a.Zero(), s12 = a.Zero(), s13 = a.Zero();
            T s20 = a.Zero(), s21 = a.Zero(), s22 = a.Zero(), s23 = a.Zero();
            T s30 = a.Zero(), s31 = a.Zero(), s32 = a.Zero(), s33 = a.Zero();
            for (int p = 0; p < k; p++)
            {
                int ka = p * d.ColA, kb = p * d.RowB;
                T a0 = x[ra0 + ka], a1 = x[ra1 + ka], a2 = x[ra2 + ka], a3 = x[ra3 + ka];
                T b0 = y[cb0 + kb], b1 = y[cb1 + kb], b2 = y[cb2 + kb], b3 = y[cb3 + kb];
                s00 = a.Add(s00, a.Mul(a0, b0)); s01 = a.Add(s01, a.Mul(a0, b1)); s02 = a.Add(s02, a.Mul(a0, b2)); s03 = a.Add(s03, a.Mul(a0, b3));
                s10 = a.Add(s10, a.Mul(a1, b0)); s11 = a.Add(s11, a.Mul(a1, b1)); s12 = a.Add(s12, a.Mul(a1, b2)); s13 = a.Add(s13, a.Mul(a1, b3));
                s20 = a.Add(s20, a.Mul(a2, b0)); s21 = a.Add(s21, a.Mul(a2, b1)); s22 = a.Add(s22, a.Mul(a2, b2)); s23 = a.Add(s23, a.Mul(a2, b3));
                s30 = a.Add(s30, a.Mul(a3, b0)); s31 = a.Add(s31, a.Mul(a3, b1)); s32 = a.Add(s32, a.Mul(a3, b2)); s33 = a.Add(s33, a.Mul(a3, b3));
            }
            int row = (bi * m + r0) * n + c0;
            Put(o, row, r0, c0, m, n, s00, s01, s02, s03);
            Put(o, row + n, r0 + 1, c0, m, n, s10, s11, s12, s13);
            Put(o, row + 2 * n, r0 + 2, c0, m, n, s20, s21, s22, s23);
            Put(o, row + 3 * n, r0 + 3, c0, m, n, s30, s31, s32, s33);
        }
    }

    static void Put<T>(ArrayView<T> o, int at, int r, int c, int m, int n, T v0, T v1, T v2, T v3) where T : unmanaged
    {
        if (r >= m) return;
        o[at] = v0;
        if (c + 1 < n) o[at + 1] = v1;
        if (c + 2 < n) o[at + 2] = v2;
        if (c + 3 < n) o[at + 3] = v3;
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

    /// <summary>Max pooling, a thread an output: the CPU's scan order (first maximum wins, a NaN wins and ends the scan).</summary>
    public static void MaxPool<T, N>(ArrayView<T> x, Layout lx, ArrayView<T> o, ArrayView<long> at, WindowShape d) where T : unmanaged where N : struct, IArith<T>
    {
        var a = default(N);
        int l = d.OutH * d.OutW, total = d.Batch * d.Channels * l;
        for (int i = Grid.GlobalIndex.X; i < total; i += Step)
        {
            int plane = i / l, oy = i % l / d.OutW, ox = i % d.OutW, src = plane * d.Height * d.Width;
            int y0 = oy * d.Stride - d.Padding, x0 = ox * d.Stride - d.Padding;
            int ya = y0 < 0 ? 0 : y0, yb = y0 + d.Kh < d.Height ? y0 + d.Kh : d.Height;
            int xa = x0 < 0 ? 0 : x0, xb = x0 + d.Kw < d.Width ? x0 + d.Kw : d.Width;
            int best = ya * d.Width + xa;
            T m = x[lx.At(src + best)];
            bool nan = !a.Eq(m, m);
            for (int yy = ya; yy < yb && !nan; yy++)
                for (int xx = yy == ya ? xa + 1 : xa; xx < xb && !nan; xx++)
                {
                    T v = x[lx.At(src + yy * d.Width + xx)];
                    nan = !a.Eq(v, v);
                    if (nan || a.Lt(m, v)) { m = v; best = yy * d.Width + xx; }
                }
            o[i] = m;
            at[i] = best;
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
