using System.Buffers;
using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Cotangent.Backends.Cpu;

/// <summary>Reductions, matrix products and the indexing kernels.</summary>
internal sealed partial class CpuKernels
{
    // ---- reductions --------------------------------------------------------------------

    public Storage Reduce(ReduceKind kind, Strided x, int trailing) => x.Storage.DType switch
    {
        DType.Float32 => ReduceT<float>(kind, x, trailing),
        DType.Float64 => ReduceT<double>(kind, x, trailing),
        DType.Int64 => ReduceT<long>(kind, x, trailing),
        var t => throw new DTypeMismatchException(kind.ToString().ToLowerInvariant(), $"{kind.ToString().ToLowerInvariant()}: no kernel for dtype {t.Name()}"),
    };

    /// <summary>Elements past which a whole-tensor sum reads memory rather than cache (16 MB of fp32).</summary>
    const int MemoryBound = 1 << 22;

    static Storage ReduceT<T>(ReduceKind kind, Strided x, int trailing) where T : unmanaged, INumber<T>
    {
        int group = 1;
        for (int i = x.Rank - trailing; i < x.Rank; i++) group *= x.Shape[i];
        int groups = 1;
        for (int i = 0; i < x.Rank - trailing; i++) groups *= x.Shape[i];
        if (groups == 1 && kind == ReduceKind.Sum && group >= Walk.ParallelThreshold)
        {
            // one big sum: a partial sum per chunk, then their sum. Past the caches each core
            // reads one contiguous share: with the usual small chunks claimed in turn, both
            // cores read neighbouring chunks, and over 16M floats that ran 0.67-0.77x libtorch
            // in the bench's fast stretches (where part of the 64 MB survives in the L3 between
            // calls); one share a core, as libtorch splits it, gave 0.99-1.16x in 9 of 9 runs.
            var (src, off) = Walk.Segment<T>(x);
            var partial = new T[group >= MemoryBound ? Team.Size : Walk.Parts(group)];
            int size = (group + partial.Length - 1) / partial.Length;
            Team.For(partial.Length, p =>
            {
                int start = p * size, len = Math.Min(size, group - start);
                if (len > 0) partial[p] = BlockedSum(new ReadOnlySpan<T>(src, off + start, len));
            });
            return new CpuStorage<T>([TensorPrimitives.Sum<T>(partial)]);
        }
        if (kind == ReduceKind.Sum && trailing > 0 && !x.IsContiguous && (LeadingSum<T>(x, trailing) ?? MiddleSum<T>(x, trailing)) is { } rows)
            return rows;
        // a transposed view is copied once; the copy goes back to the pool (it belongs to no tensor)
        T[]? copy = x.IsContiguous ? null : Walk.Dense<T>(x);
        var s = copy is null ? Walk.Span<T>(x) : copy.AsSpan(0, x.Numel);
        var o = Buffers.Uninitialized<T>(groups);
        for (int g = 0; g < groups; g++)
        {
            var c = s.Slice(g * group, group);
            o[g] = kind switch
            {
                ReduceKind.Sum => TensorPrimitives.Sum(c),
                ReduceKind.Prod => group == 0 ? T.One : TensorPrimitives.Product(c),
                ReduceKind.Max => TensorPrimitives.Max(c),
                _ => TensorPrimitives.Min(c),
            };
        }
        if (copy is not null && !ReferenceEquals(copy, Walk.Data<T>(x.Storage))) Buffers.Return(copy);
        return new CpuStorage<T>(o);
    }

    /// <summary>
    /// A sum over the axes around a middle block of a contiguous tensor, e.g. a convolution's
    /// bias gradient Σ over N, H, W of [N, C, H, W]: each contiguous H·W run is summed and added
    /// to its channel, in storage order, instead of copying the [C, N, H, W] transpose.
    /// </summary>
    static Storage? MiddleSum<T>(Strided x, int trailing) where T : unmanaged, INumber<T>
    {
        int kept = x.Rank - trailing;
        var order = Enumerable.Range(0, x.Rank).OrderByDescending(i => x.Strides[i]).ToArray();
        // storage order: some reduced axes, then the kept ones in their own order, then the other reduced ones
        int first = Array.IndexOf(order, 0);
        if (first < 0 || first + kept > x.Rank) return null;
        for (int j = 0; j < kept; j++) if (order[first + j] != j) return null;
        for (int j = 0; j < x.Rank; j++) if ((j < first || j >= first + kept) && order[j] < kept) return null;
        var natural = new Strided(x.Storage, order.Select(i => x.Shape[i]).ToArray(), order.Select(i => x.Strides[i]).ToArray(), x.Offset);
        if (!natural.IsContiguous) return null;
        int outer = 1, width = 1, inner = 1;
        for (int j = 0; j < first; j++) outer *= x.Shape[order[j]];
        for (int j = 0; j < kept; j++) width *= x.Shape[j];
        for (int j = first + kept; j < x.Rank; j++) inner *= x.Shape[order[j]];
        var src = Walk.Data<T>(x.Storage);
        var o = Buffers.Zeroed<T>(width);
        for (int a = 0; a < outer; a++)
            for (int k = 0; k < width; k++)
                o[k] += TensorPrimitives.Sum(new ReadOnlySpan<T>(src, x.Offset + (a * width + k) * inner, inner));
        return new CpuStorage<T>(o);
    }

    /// <summary>
    /// Σ of a long span as sums of 8,192-element blocks, then the sum of those: with 8 SIMD
    /// lanes one running sum per lane over millions of floats rounds against a large total at
    /// every step (float32, 4M N(0, 1) values: errors near 0.05 on AVX2); blocks keep each
    /// running sum short. The same order every time, so still repeatable.
    /// </summary>
    static T BlockedSum<T>(ReadOnlySpan<T> s) where T : unmanaged, INumber<T>
    {
        const int Block = 8192;
        if (typeof(T) == typeof(float) && Avx.IsSupported)
        {
            var f = MemoryMarshal.Cast<T, float>(s);
            float sum = 0;
            for (int i = 0; i < f.Length; i += Block) sum += Sum4(f.Slice(i, Math.Min(Block, f.Length - i)));
            return T.CreateTruncating(sum);
        }
        T total = T.Zero;
        for (int i = 0; i < s.Length; i += Block) total += TensorPrimitives.Sum(s.Slice(i, Math.Min(Block, s.Length - i)));
        return total;
    }

    /// <summary>
    /// Σ of a block of BlockedSum in four 256-bit accumulators: over 16M floats (memory-bound)
    /// 2.4% faster than TensorPrimitives.Sum on one AVX-512 EPYC (same-process A/B, median of
    /// 1447 rounds); on the one draw compared it also came nearer the float64 sum (−1533.0065
    /// against −1533.0103; exact −1533.0068), which more partial sums make likely but do not
    /// promise. Prefetching 2 or 4 KB ahead made it 7% and 34% slower there.
    /// </summary>
    static unsafe float Sum4(ReadOnlySpan<float> s)
    {
        fixed (float* p = s)
        {
            Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
            int i = 0;
            for (; i + 32 <= s.Length; i += 32)
            {
                a0 += Avx.LoadVector256(p + i);
                a1 += Avx.LoadVector256(p + i + 8);
                a2 += Avx.LoadVector256(p + i + 16);
                a3 += Avx.LoadVector256(p + i + 24);
            }
            float sum = Vector256.Sum((a0 + a1) + (a2 + a3));
            for (; i < s.Length; i++) sum += p[i];
            return sum;
        }
    }

    /// <summary>
    /// A sum whose reduced axes are the leading axes of a contiguous tensor (the op permuted them
    /// last): add the rows up instead of copying the transpose, e.g. a bias gradient over a batch.
    /// </summary>
    static Storage? LeadingSum<T>(Strided x, int trailing) where T : unmanaged, INumber<T>
    {
        int kept = x.Rank - trailing;
        // the permuted view is contiguous-by-rows iff its kept axes, read in storage order, come after its reduced ones
        var order = Enumerable.Range(0, x.Rank).OrderByDescending(i => x.Strides[i]).ToArray();
        for (int j = 0; j < x.Rank; j++) if (order[j] != (j < trailing ? kept + j : j - trailing)) return null;
        var natural = new Strided(x.Storage, order.Select(i => x.Shape[i]).ToArray(), order.Select(i => x.Strides[i]).ToArray(), x.Offset);
        if (!natural.IsContiguous) return null;
        int rows = 1, width = 1;
        for (int i = 0; i < trailing; i++) rows *= x.Shape[kept + i];
        for (int i = 0; i < kept; i++) width *= x.Shape[i];
        var src = Walk.Data<T>(x.Storage);
        var o = Buffers.Zeroed<T>(width);
        for (int r = 0; r < rows; r++)
        {
            var row = new ReadOnlySpan<T>(src, x.Offset + r * width, width);
            TensorPrimitives.Add(o, row, o);
        }
        return new CpuStorage<T>(o);
    }

    public Storage ProdOfOthers(Strided x, int trailing) => x.Storage.DType switch
    {
        DType.Float32 => ProdOfOthersT<float>(x, trailing),
        DType.Float64 => ProdOfOthersT<double>(x, trailing),
        DType.Int64 => ProdOfOthersT<long>(x, trailing),
        var t => throw new DTypeMismatchException("prod", $"prod: no kernel for dtype {t.Name()}"),
    };

    /// <summary>
    /// ∂(∏x)/∂x_j = ∏_{i≠j} x_i, computed without dividing: no zero in the group gives
    /// prod/x_j by prefix·suffix products; that form is exact for zeros too, so use it always.
    /// </summary>
    static Storage ProdOfOthersT<T>(Strided x, int trailing) where T : unmanaged, INumber<T>
    {
        var s = Walk.Span<T>(x);
        int group = 1;
        for (int i = x.Rank - trailing; i < x.Rank; i++) group *= x.Shape[i];
        var o = Buffers.Uninitialized<T>(s.Length);
        for (int g = 0; g * group < s.Length && group > 0; g++)
        {
            int b = g * group;
            T acc = T.One;
            for (int j = 0; j < group; j++) { o[b + j] = acc; acc *= s[b + j]; }
            acc = T.One;
            for (int j = group - 1; j >= 0; j--) { o[b + j] *= acc; acc *= s[b + j]; }
        }
        return new CpuStorage<T>(o);
    }

    public Storage LogSoftmax(Strided x) => x.Storage.DType switch
    {
        DType.Float32 => LogSoftmaxT<float>(x, exp: false),
        DType.Float64 => LogSoftmaxT<double>(x, exp: false),
        var t => throw new DTypeMismatchException("log_softmax", $"log_softmax: no kernel for dtype {t.Name()}"),
    };

    /// <summary>
    /// softmax as log softmax whose last pass writes exp(x − max − log Σ) instead: one pass over
    /// the output fewer than exp of a stored log softmax (an 8 MB tensor in attention at s256),
    /// and for float32 on AVX-512 or AVX2 + FMA machines the exp of <see cref="ShiftedExp"/>
    /// (its argument is never positive); elsewhere TensorPrimitives.Exp over the row.
    /// </summary>
    public Storage Softmax(Strided x) => x.Storage.DType switch
    {
        DType.Float32 => LogSoftmaxT<float>(x, exp: true),
        DType.Float64 => LogSoftmaxT<double>(x, exp: true),
        var t => throw new DTypeMismatchException("softmax", $"softmax: no kernel for dtype {t.Name()}"),
    };

    static Storage LogSoftmaxT<T>(Strided x, bool exp) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (src, off) = Walk.Segment<T>(x);
        int n = x.Numel, len = x.Rank == 0 ? 1 : x.Shape[^1];
        var o = Buffers.Uninitialized<T>(n);
        if (n == 0 || len == 0) return new CpuStorage<T>(o);
        int rows = n / len;
        void Rows(int r0, int count)
        {
            var tmp = ArrayPool<T>.Shared.Rent(len);
            try
            {
                for (int r = r0; r < r0 + count; r++)
                {
                    var row = new ReadOnlySpan<T>(src, off + r * len, len);
                    var dst = o.AsSpan(r * len, len);
                    T m = TensorPrimitives.Max(row);
                    bool finite = T.IsFinite(m);
                    if (!finite) m = T.Zero;                    // all −inf, a +inf or a NaN: let the arithmetic say so
                    if (finite && typeof(T) == typeof(float) && Vector512.IsHardwareAccelerated)
                    {
                        var x32 = MemoryMarshal.Cast<T, float>(row);
                        float m32 = (float)(object)m;
                        ShiftedExp.LogSoftmax(x32, m32, MathF.Log(ShiftedExp.Sum(x32, m32)), MemoryMarshal.Cast<T, float>(dst), exp);
                        continue;
                    }
                    if (finite && typeof(T) == typeof(float) && Vector256.IsHardwareAccelerated && Fma.IsSupported)
                    {
                        // AVX2 machines: the same two passes in eight lanes (TensorPrimitives' route is five)
                        var x32 = MemoryMarshal.Cast<T, float>(row);
                        float m32 = (float)(object)m;
                        ShiftedExp.LogSoftmax256(x32, m32, MathF.Log(ShiftedExp.Sum256(x32, m32)), MemoryMarshal.Cast<T, float>(dst), exp);
                        continue;
                    }
                    TensorPrimitives.Subtract(row, m, tmp.AsSpan(0, len));
                    TensorPrimitives.Exp(tmp.AsSpan(0, len), tmp.AsSpan(0, len));
                    T sum = TensorPrimitives.Sum<T>(tmp.AsSpan(0, len));
                    TensorPrimitives.Subtract(row, m, dst);
                    TensorPrimitives.Subtract(dst, T.Log(sum), dst);
                    if (exp) TensorPrimitives.Exp(dst, dst);
                }
            }
            finally { ArrayPool<T>.Shared.Return(tmp); }
        }
        if (n < Walk.ParallelThresholdCostly || rows == 1) Rows(0, rows);
        else
        {
            int parts = Math.Min(rows, Walk.Parts(n, Walk.ParallelThresholdCostly)), size = (rows + parts - 1) / parts;
            Team.For(parts, p => { int r0 = p * size; if (r0 < rows) Rows(r0, Math.Min(size, rows - r0)); });
        }
        return new CpuStorage<T>(o);
    }

    // ---- matrix product ----------------------------------------------------------------

    public Storage MatMul(Strided a, Strided b) => a.Storage.DType switch
    {
        DType.Float32 => MatMulF32(a, b),
        DType.Float64 => MatMulT<double>(a, b),
        DType.Int64 => MatMulT<long>(a, b),
        var t => throw new DTypeMismatchException("matmul", $"matmul: no kernel for dtype {t.Name()}"),
    };

    static Storage MatMulT<T>(Strided a, Strided b) where T : unmanaged, INumber<T>
    {
        int r = a.Rank, m = a.Shape[r - 2], k = a.Shape[r - 1], n = b.Shape[r - 1];
        var batch = a.Shape[..^2];
        int nb = ShapeMath.Numel(batch);
        var o = Buffers.Uninitialized<T>(nb * m * n);   // Gemm clears each row it writes
        if (o.Length == 0) return new CpuStorage<T>(o);
        var sa = BatchStarts(batch, a.Strides[..^2], a.Offset);
        var sb = BatchStarts(batch, b.Strides[..^2], b.Offset);
        var da = Walk.Data<T>(a.Storage);
        var db = Walk.Data<T>(b.Storage);
        for (int i = 0; i < nb; i++)
        {
            var A = Matrix(da, sa[i], m, k, a.Strides[r - 2], a.Strides[r - 1]);
            var B = Matrix(db, sb[i], k, n, b.Strides[r - 2], b.Strides[r - 1]);
            Gemm(A, B, o.AsMemory(i * m * n, m * n), m, k, n);
        }
        return new CpuStorage<T>(o);
    }

    /// <summary>fp32: the packed GEMM, reading each batch's operands through their strides (no transposes copied).</summary>
    static Storage MatMulF32(Strided a, Strided b)
    {
        int r = a.Rank, m = a.Shape[r - 2], k = a.Shape[r - 1], n = b.Shape[r - 1];
        var batch = a.Shape[..^2];
        int nb = ShapeMath.Numel(batch);
        var o = Buffers.Uninitialized<float>(nb * m * n);   // Sgemm writes every element
        if (o.Length == 0) return new CpuStorage<float>(o);
        var sa = BatchStarts(batch, a.Strides[..^2], a.Offset);
        var sb = BatchStarts(batch, b.Strides[..^2], b.Offset);
        var da = Walk.Data<float>(a.Storage);
        var db = Walk.Data<float>(b.Storage);
        void One(int i, bool serial) =>
            Sgemm.Multiply(new(da, sa[i], a.Strides[r - 2], a.Strides[r - 1]), new(db, sb[i], b.Strides[r - 2], b.Strides[r - 1]), o, i * m * n, m, n, k, serial: serial);
        if (Sgemm.ShareByProduct(nb, m, n, k))
        {
            // contiguous runs of products a core, in a fixed split: the same sums whatever runs when
            int cores = Team.Size, share = (nb + cores - 1) / cores;
            Team.For(cores, t => { for (int i = t * share; i < Math.Min(nb, (t + 1) * share); i++) One(i, serial: true); });
        }
        else
            for (int i = 0; i < nb; i++) One(i, serial: false);
        return new CpuStorage<float>(o);
    }

    public Storage Linear(Strided x, Strided w, Strided? b)
    {
        if (x.Storage.DType != DType.Float32) throw new DTypeMismatchException("linear", "linear: the fused kernel is fp32 only");
        int n = x.Shape[0], inF = x.Shape[1], outF = w.Shape[0];
        var o = Buffers.Uninitialized<float>(n * outF);
        if (b is { } bias)
        {
            var bs = Walk.Span<float>(bias);
            for (int i = 0; i < n; i++) bs.CopyTo(o.AsSpan(i * outF, outF));   // C starts as the bias rows
        }
        var (xa, xo) = Walk.Segment<float>(x);
        if (n <= GemvRows && w.Strides[1] == 1 && inF > 0)
            Gemv(xa, xo, Walk.Data<float>(w.Storage), w.Offset, w.Strides[0], o, n, outF, inF, b is not null);
        else
            Sgemm.Multiply(new(xa, xo, inF, 1), new(Walk.Data<float>(w.Storage), w.Offset, w.Strides[1], w.Strides[0]), o, 0, n, outF, inF, accumulate: b is not null);
        return new CpuStorage<float>(o);
    }

    /// <summary>Up to this many input rows a dense layer reads its weight rows directly (a service call's batch).</summary>
    const int GemvRows = 4;

    /// <summary>
    /// y[i, j] (+)= x[i, :] · w[j, :] for a few rows of x: dot products along w's contiguous rows,
    /// four outputs at a time sharing each load of x. The GEMM would pack the whole transposed
    /// weight first (800 KB for 784×256) to use it for one row; this reads it once, in place,
    /// each core its own share of the outputs.
    /// </summary>
    static unsafe void Gemv(float[] x, int xo, float[] w, int wo, int ldw, float[] y, int rows, int outF, int inF, bool accumulate)
    {
        void Outputs(int j0, int j1)
        {
            fixed (float* px = x, pw = w, py = y)
                for (int i = 0; i < rows; i++)
                {
                    float* xr = px + xo + (long)i * inF, yr = py + (long)i * outF;
                    int j = j0;
                    for (; j + 4 <= j1; j += 4)
                    {
                        float* w0 = pw + wo + (long)j * ldw, w1 = w0 + ldw, w2 = w1 + ldw, w3 = w2 + ldw;
                        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
                        int p = 0;
                        for (; p + 8 <= inF; p += 8)
                        {
                            var xv = Vector256.Load(xr + p);
                            a0 = Vector256.FusedMultiplyAdd(xv, Vector256.Load(w0 + p), a0);
                            a1 = Vector256.FusedMultiplyAdd(xv, Vector256.Load(w1 + p), a1);
                            a2 = Vector256.FusedMultiplyAdd(xv, Vector256.Load(w2 + p), a2);
                            a3 = Vector256.FusedMultiplyAdd(xv, Vector256.Load(w3 + p), a3);
                        }
                        float s0 = Vector256.Sum(a0), s1 = Vector256.Sum(a1), s2 = Vector256.Sum(a2), s3 = Vector256.Sum(a3);
                        for (; p < inF; p++)
                        {
                            float xp = xr[p];
                            s0 += xp * w0[p]; s1 += xp * w1[p]; s2 += xp * w2[p]; s3 += xp * w3[p];
                        }
                        if (accumulate) { yr[j] += s0; yr[j + 1] += s1; yr[j + 2] += s2; yr[j + 3] += s3; }
                        else { yr[j] = s0; yr[j + 1] = s1; yr[j + 2] = s2; yr[j + 3] = s3; }
                    }
                    for (; j < j1; j++)
                    {
                        float* wr = pw + wo + (long)j * ldw;
                        Vector256<float> a = default;
                        int p = 0;
                        for (; p + 8 <= inF; p += 8) a = Vector256.FusedMultiplyAdd(Vector256.Load(xr + p), Vector256.Load(wr + p), a);
                        float sum = Vector256.Sum(a);
                        for (; p < inF; p++) sum += xr[p] * wr[p];
                        yr[j] = accumulate ? yr[j] + sum : sum;
                    }
                }
        }
        // below ~64K multiply-adds a hand-off costs more than the second core gains
        if ((long)rows * outF * inF < 1 << 16 || Team.Size == 1 || outF < 8) { Outputs(0, outF); return; }
        int parts = Team.Size, share = (outF / parts + 3) / 4 * 4;
        Team.For(parts, t => Outputs(Math.Min(outF, t * share), t == parts - 1 ? outF : Math.Min(outF, (t + 1) * share)));
    }

    static int[] BatchStarts(int[] batch, int[] strides, int offset) =>
        Walk.RowStarts([.. batch, 1], [.. strides, 1], offset);

    /// <summary>A row-major m×k block: the storage itself when it already is one, else a copy.</summary>
    static ReadOnlyMemory<T> Matrix<T>(T[] data, int offset, int rows, int cols, int rs, int cs)
    {
        if ((cs == 1 || cols == 1) && (rs == cols || rows == 1)) return data.AsMemory(offset, rows * cols);
        var o = new T[rows * cols];
        Walk.Copy(data, [rows, cols], [rs, cs], offset, o, [cols, 1], 0);
        return o;
    }

    /// <summary>C = A·B, row by row: C[i,:] = Σ_p A[i,p]·B[p,:] as SIMD multiply-adds; rows split over cores when large.</summary>
    static void Gemm<T>(ReadOnlyMemory<T> a, ReadOnlyMemory<T> b, Memory<T> c, int m, int k, int n) where T : INumber<T>
    {
        void Row(int i)
        {
            var A = a.Span.Slice(i * k, k);
            var B = b.Span;
            var C = c.Span.Slice(i * n, n);
            C.Clear();
            for (int p = 0; p < k; p++) TensorPrimitives.MultiplyAdd(B.Slice(p * n, n), A[p], C, C);
        }
        if ((long)m * n * k < 1 << 18 || m == 1) { for (int i = 0; i < m; i++) Row(i); }
        else Team.For(m, Row);
    }

    // ---- indexing ----------------------------------------------------------------------

    /// <summary>Views a contiguous shape as [outer, size of axis, inner].</summary>
    static ReadOnlySpan<long> CheckedIndex(string op, Strided index, int size, int axis)
    {
        var ix = Walk.Span<long>(index);
        foreach (var v in ix)
            if (v < 0 || v >= size)
                throw OpCall.Index(op, $"{op}: index {v} is out of range for axis {axis} of size {size}");
        return ix;
    }

    public Storage IndexSelect(Strided x, int axis, Strided index) => x.Storage.DType switch
    {
        DType.Float32 => IndexSelectT<float>(x, axis, index),
        DType.Float64 => IndexSelectT<double>(x, axis, index),
        DType.Int64 => IndexSelectT<long>(x, axis, index),
        _ => IndexSelectT<bool>(x, axis, index),
    };

    static Storage IndexSelectT<T>(Strided x, int axis, Strided index) where T : unmanaged
    {
        var (outer, dim, inner) = ShapeMath.AroundAxis(x.Shape, axis);
        var ix = CheckedIndex("index_select", index, dim, axis);
        var s = Walk.Span<T>(x);
        int len = ix.Length;
        var o = Buffers.Uninitialized<T>(outer * len * inner);
        for (int p = 0; p < outer; p++)
            for (int j = 0; j < len; j++)
                s.Slice((p * dim + (int)ix[j]) * inner, inner).CopyTo(o.AsSpan((p * len + j) * inner, inner));
        return new CpuStorage<T>(o);
    }

    public Storage IndexAdd(int[] shape, int axis, Strided index, Strided src) => src.Storage.DType switch
    {
        DType.Float32 => IndexAddT<float>(shape, axis, index, src),
        DType.Float64 => IndexAddT<double>(shape, axis, index, src),
        DType.Int64 => IndexAddT<long>(shape, axis, index, src),
        var t => throw new DTypeMismatchException("index_add", $"index_add: no kernel for dtype {t.Name()}"),
    };

    static Storage IndexAddT<T>(int[] shape, int axis, Strided index, Strided src) where T : unmanaged, INumber<T>
    {
        var (outer, dim, inner) = ShapeMath.AroundAxis(shape, axis);
        var ix = CheckedIndex("index_add", index, dim, axis);
        var s = Walk.Span<T>(src);
        int len = ix.Length;
        var o = Buffers.Zeroed<T>(outer * dim * inner);
        for (int p = 0; p < outer; p++)
            for (int j = 0; j < len; j++)
            {
                var d = o.AsSpan((p * dim + (int)ix[j]) * inner, inner);
                TensorPrimitives.Add(d, s.Slice((p * len + j) * inner, inner), d);
            }
        return new CpuStorage<T>(o);
    }

    public Storage Gather(Strided x, int axis, Strided index) => x.Storage.DType switch
    {
        DType.Float32 => GatherT<float>(x, axis, index),
        DType.Float64 => GatherT<double>(x, axis, index),
        DType.Int64 => GatherT<long>(x, axis, index),
        _ => GatherT<bool>(x, axis, index),
    };

    static Storage GatherT<T>(Strided x, int axis, Strided index) where T : unmanaged
    {
        var (outer, dim, inner) = ShapeMath.AroundAxis(x.Shape, axis);
        var ix = CheckedIndex("gather", index, dim, axis);
        int len = index.Rank == 0 ? 1 : index.Shape[axis];
        var s = Walk.Span<T>(x);
        var o = Buffers.Uninitialized<T>(ix.Length);
        for (int p = 0; p < outer; p++)
            for (int j = 0; j < len; j++)
                for (int q = 0; q < inner; q++)
                {
                    int at = (p * len + j) * inner + q;
                    o[at] = s[(p * dim + (int)ix[at]) * inner + q];
                }
        return new CpuStorage<T>(o);
    }

    public Storage ScatterAdd(int[] shape, int axis, Strided index, Strided src) => src.Storage.DType switch
    {
        DType.Float32 => ScatterAddT<float>(shape, axis, index, src),
        DType.Float64 => ScatterAddT<double>(shape, axis, index, src),
        DType.Int64 => ScatterAddT<long>(shape, axis, index, src),
        var t => throw new DTypeMismatchException("scatter_add", $"scatter_add: no kernel for dtype {t.Name()}"),
    };

    static Storage ScatterAddT<T>(int[] shape, int axis, Strided index, Strided src) where T : unmanaged, INumber<T>
    {
        var (outer, dim, inner) = ShapeMath.AroundAxis(shape, axis);
        CheckedIndex("scatter_add", index, dim, axis);
        var (ix, ixo) = Walk.Segment<long>(index);
        int len = index.Rank == 0 ? 1 : index.Shape[axis];
        var (data, off) = Walk.Segment<T>(src);
        var o = Buffers.Zeroed<T>(outer * dim * inner);
        void Row(int p)
        {
            for (int j = 0; j < len; j++)
                for (int q = 0; q < inner; q++)
                {
                    int at = (p * len + j) * inner + q;
                    o[(p * dim + (int)ix[ixo + at]) * inner + q] += data[off + at];
                }
        }
        // each outer row adds into its own slice of the output, in index order: rows can go to the cores
        if ((long)outer * len * inner < Walk.ParallelThreshold || outer < 2) for (int p = 0; p < outer; p++) Row(p);
        else Team.For(outer, Row);
        return new CpuStorage<T>(o);
    }

    // ---- placement ---------------------------------------------------------------------

    public Storage SliceScatter(int[] shape, int axis, int start, int step, Strided src) => src.Storage.DType switch
    {
        DType.Float32 => SliceScatterT<float>(shape, axis, start, step, src),
        DType.Float64 => SliceScatterT<double>(shape, axis, start, step, src),
        DType.Int64 => SliceScatterT<long>(shape, axis, start, step, src),
        _ => SliceScatterT<bool>(shape, axis, start, step, src),
    };

    static Storage SliceScatterT<T>(int[] shape, int axis, int start, int step, Strided src) where T : unmanaged
    {
        var o = Buffers.Zeroed<T>(ShapeMath.Numel(shape));
        var st = ShapeMath.ContiguousStrides(shape);
        int offset = start * st[axis];
        int[] dst = [.. st];
        dst[axis] *= step;
        Walk.Copy(Walk.Data<T>(src.Storage), src.Shape, src.Strides, src.Offset, o, dst, offset);
        return new CpuStorage<T>(o);
    }

    public Storage Cat(Strided[] parts, int axis, int[] shape) => parts[0].Storage.DType switch
    {
        DType.Float32 => CatT<float>(parts, axis, shape),
        DType.Float64 => CatT<double>(parts, axis, shape),
        DType.Int64 => CatT<long>(parts, axis, shape),
        _ => CatT<bool>(parts, axis, shape),
    };

    static Storage CatT<T>(Strided[] parts, int axis, int[] shape) where T : unmanaged
    {
        var o = Buffers.Uninitialized<T>(ShapeMath.Numel(shape));   // the parts cover it
        var st = ShapeMath.ContiguousStrides(shape);
        int at = 0;
        foreach (var p in parts)
        {
            Walk.Copy(Walk.Data<T>(p.Storage), p.Shape, p.Strides, p.Offset, o, st, at * st[axis]);
            at += p.Shape[axis];
        }
        return new CpuStorage<T>(o);
    }
}
