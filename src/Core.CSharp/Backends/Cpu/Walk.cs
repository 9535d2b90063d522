namespace Cotangent.Backends.Cpu;

/// <summary>
/// Row-major traversal of strided views. Kernels work row by row: the innermost axis is a
/// row, and each operand's row starts are listed once so the inner loops stay simple.
/// Adjacent axes that every operand stores contiguously are merged first, so a contiguous
/// tensor is one long row.
/// </summary>
internal static class Walk
{
    /// <summary>Merges axes i, i+1 where every operand has stride[i] == stride[i+1] * shape[i+1]; drops size-1 axes.</summary>
    public static (int[] shape, int[][] strides) Coalesce(int[] shape, params int[][] strides)
    {
        int rank = shape.Length, ops = strides.Length;
        var dims = new int[Math.Max(rank, 1)];
        var st = new int[ops][];
        for (int k = 0; k < ops; k++) st[k] = new int[Math.Max(rank, 1)];
        int count = 0;
        for (int i = 0; i < rank; i++)
        {
            if (shape[i] == 1) continue;
            bool merge = count > 0;
            for (int k = 0; merge && k < ops; k++) merge = st[k][count - 1] == strides[k][i] * shape[i];
            if (merge)
            {
                dims[count - 1] *= shape[i];
                for (int k = 0; k < ops; k++) st[k][count - 1] = strides[k][i];
            }
            else
            {
                dims[count] = shape[i];
                for (int k = 0; k < ops; k++) st[k][count] = strides[k][i];
                count++;
            }
        }
        if (count == 0)
        {
            // every axis has size 1 (or there are none): one row of numel elements, stride 1
            dims[0] = ShapeMath.Numel(shape);
            for (int k = 0; k < ops; k++) st[k][0] = 1;
            count = 1;
        }
        if (count < dims.Length)
        {
            Array.Resize(ref dims, count);
            for (int k = 0; k < ops; k++) Array.Resize(ref st[k], count);
        }
        return (dims, st);
    }

    /// <summary>The start offset of every row (all axes but the last), in row-major order.</summary>
    public static int[] RowStarts(int[] shape, int[] strides, int offset)
    {
        int rank = shape.Length;
        if (rank <= 1) return [offset];
        int rows = 1;
        for (int i = 0; i < rank - 1; i++) rows *= shape[i];
        var starts = new int[rows];
        if (rows == 0) return starts;
        var idx = new int[rank - 1];
        int o = offset;
        for (int r = 0; r < rows; r++)
        {
            starts[r] = o;
            for (int ax = rank - 2; ax >= 0; ax--)
            {
                idx[ax]++;
                o += strides[ax];
                if (idx[ax] < shape[ax]) break;
                o -= strides[ax] * shape[ax];
                idx[ax] = 0;
            }
        }
        return starts;
    }

    /// <summary>Copies a strided view into a strided destination of the same shape.</summary>
    public static void Copy<T>(T[] src, int[] shape, int[] srcStrides, int srcOffset, T[] dst, int[] dstStrides, int dstOffset)
    {
        if (ShapeMath.Numel(shape) == 0) return;
        var (s, st) = Coalesce(shape, srcStrides, dstStrides);
        int inner = s[^1], si = st[0][^1], di = st[1][^1];
        var rs = RowStarts(s, st[0], srcOffset);
        var rd = RowStarts(s, st[1], dstOffset);
        for (int r = 0; r < rs.Length; r++)
        {
            int a = rs[r], b = rd[r];
            if (si == 1 && di == 1) Array.Copy(src, a, dst, b, inner);
            else for (int j = 0; j < inner; j++) dst[b + j * di] = src[a + j * si];
        }
    }

    /// <summary>The view's elements as a fresh row-major array.</summary>
    public static T[] Dense<T>(Strided x) where T : unmanaged
    {
        var src = ((CpuStorage<T>)x.Storage).Data;
        int n = x.Numel;
        if (x.IsContiguous && x.Offset == 0 && src.Length == n) return src;
        var o = Buffers.Uninitialized<T>(n);
        Copy(src, x.Shape, x.Strides, x.Offset, o, ShapeMath.ContiguousStrides(x.Shape), 0);
        return o;
    }

    /// <summary>A span over the view's elements in row-major order; copies only when the view is not contiguous.</summary>
    public static ReadOnlySpan<T> Span<T>(Strided x) where T : unmanaged
    {
        var src = ((CpuStorage<T>)x.Storage).Data;
        if (x.IsContiguous) return src.AsSpan(x.Offset, x.Numel);
        return Dense<T>(x);
    }

    public static T[] Data<T>(Storage s) where T : unmanaged => ((CpuStorage<T>)s).Data;

    /// <summary>The view's elements in row-major order as (array, offset): the storage itself when contiguous, else a copy.</summary>
    public static (T[] Array, int Offset) Segment<T>(Strided x) where T : unmanaged =>
        x.IsContiguous ? (Data<T>(x.Storage), x.Offset) : (Dense<T>(x), 0);

    /// <summary>Elements below this count are processed on the calling thread (cheap ops: a load, an add, a store).</summary>
    public const int ParallelThreshold = 1 << 15;

    /// <summary>The same for ops that spend many cycles per element (exp, tanh, erf, log-softmax rows).</summary>
    public const int ParallelThresholdCostly = 1 << 13;

    /// <summary>
    /// How many chunks a parallel pass over n elements takes: one per core, or for long passes
    /// up to eight per core, each at least as long as the op's threshold, claimed one at a
    /// time, so a core that starts late (a worker waking up, a vCPU taken by the host) leaves
    /// its share to the others instead of holding up the pass. It depends on n, the threshold
    /// and the core count only, so chunked reductions give the same bits on every run.
    /// </summary>
    public static int Parts(int n, int threshold = ParallelThreshold) =>
        Math.Clamp(n / threshold, Team.Size, Team.Size * 8);

    /// <summary>Runs body(start, length) over [0, n): on the calling thread when n is below the threshold, else in chunks spread over the cores.</summary>
    public static void Chunked(int n, Action<int, int> body, int threshold = ParallelThreshold)
    {
        if (n < threshold || Team.Size == 1) { body(0, n); return; }
        int parts = Parts(n, threshold), size = (n + parts - 1) / parts;
        Team.For(parts, p =>
        {
            int start = p * size, len = Math.Min(size, n - start);
            if (len > 0) body(start, len);
        });
    }
}
