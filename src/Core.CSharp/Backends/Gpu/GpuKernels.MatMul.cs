using ILGPU;
using ILGPU.Runtime;

namespace Cotangent.Backends.Gpu;

internal sealed partial class GpuKernels
{
    public Storage MatMul(Strided a, Strided b) => a.Storage.DType switch
    {
        DType.Float32 => MatMulT<float, F32>(a, b),
        DType.Float64 => MatMulT<double, F64>(a, b),
        DType.Int64 => MatMulT<long, I64>(a, b),
        var t => throw NoKernel("matmul", t),
    };

    /// <summary>
    /// Batched C = A·B (the op layer has broadcast the batch axes). On CUDA with cuBLAS float32
    /// and float64 go to its strided-batched GEMM when each operand is a row- or column-major
    /// matrix at a fixed batch stride (transposed views included), after a copy otherwise;
    /// int64, and every dtype on a simulated device, use the ILGPU kernel. A product over k = 0
    /// is zeros.
    /// </summary>
    GpuStorage<T> MatMulT<T, N>(Strided x, Strided y) where T : unmanaged where N : struct, IArith<T>
    {
        int r = x.Rank, m = x.Shape[r - 2], k = x.Shape[r - 1], n = y.Shape[r - 1];
        int nb = ShapeMath.Numel(x.Shape[..^2]);
        var (u, v) = (Input<T>(x), Input<T>(y));
        if (k == 0) return Filled(x.Storage.DType, nb * m * n, default(T));
        var o = NewStorage<T>(x.Storage.DType, nb * m * n);
        if (o.Length == 0) return o;
        if (dev.Blas is { } blas && typeof(T) != typeof(long))
        {
            BlasGemm<T>(blas, x, y, o, nb, m, k, n);
            return o;
        }
        var d = new ProductShape { Batches = nb, M = m, K = k, N = n, RowA = x.Strides[r - 2], ColA = x.Strides[r - 1], RowB = y.Strides[r - 2], ColB = y.Strides[r - 1] };
        // register blocks pay off once a product has whole blocks; thin ones take one thread an output
        if (m >= 2 * DeviceCode.Tile && n >= 2 * DeviceCode.Tile)
        {
            var tiled = dev.Kernel(Key("matmul_tiled", typeof(T)),
                a => a.LoadStreamKernel<ArrayView<T>, Layout, ArrayView<T>, Layout, ArrayView<T>, ProductShape>(DeviceCode.TiledMatMul<T, N>));
            long blocks = (long)nb * ((m + DeviceCode.Tile - 1) / DeviceCode.Tile) * ((n + DeviceCode.Tile - 1) / DeviceCode.Tile);
            using (dev.Enter()) tiled(dev.Config(blocks), u, LayoutOf(x), v, LayoutOf(y), o.View, d);
            return o;
        }
        var kernel = dev.Kernel(Key("matmul", typeof(T)),
            a => a.LoadStreamKernel<ArrayView<T>, Layout, ArrayView<T>, Layout, ArrayView<T>, ProductShape>(DeviceCode.MatMul<T, N>));
        using (dev.Enter()) kernel(dev.Config(o.Length), u, LayoutOf(x), v, LayoutOf(y), o.View, d);
        return o;
    }

    public bool FusesLinear(DType dtype) => false;

    public bool FusesConv(DType dtype) => false;

    public Storage Conv2d(Strided x, Strided w, Strided? b, Window win) => throw NoFusedConv("conv2d");

    public Storage Conv2dInputGrad(Strided g, Strided w, int[] inputShape, Window win) => throw NoFusedConv("conv2d_input_grad");

    public Storage Conv2dWeightGrad(Strided g, Strided x, int[] weightShape, Window win) => throw NoFusedConv("conv2d_weight_grad");

    static InvalidOperationException NoFusedConv(string op) =>
        new($"{op}: the GPU backend has no fused kernel; the op composes unfold, matmul (cuBLAS) and fold (FusesConv is false)");

    public Storage Linear(Strided x, Strided w, Strided? b) =>
        throw new InvalidOperationException("linear: the GPU backend has no fused kernel; the op composes matmul and add (FusesLinear is false)");

    /// <summary>How cuBLAS reads one operand: transposed or not, its leading dimension, its batch stride.</summary>
    readonly record struct BlasOperand(bool ColumnMajor, int Ld, long BatchStride);

    static BlasOperand? AsBlasOperand(Strided s)
    {
        int r = s.Rank, rows = s.Shape[r - 2], cols = s.Shape[r - 1], rs = s.Strides[r - 2], cs = s.Strides[r - 1];
        // the batch axes must collapse to one stride (or all be broadcast, stride 0)
        long batch = 0;
        int inner = -1;
        for (int i = r - 3; i >= 0; i--)
        {
            if (s.Shape[i] == 1) continue;
            if (inner < 0) batch = s.Strides[i];
            else if (s.Strides[i] != (long)s.Strides[inner] * s.Shape[inner]) return null;
            inner = i;
        }
        if (batch < 0) return null;
        if ((cs == 1 || cols == 1) && (rows == 1 || rs >= Math.Max(1, cols))) return new(false, rows == 1 ? Math.Max(1, cols) : rs, batch);
        if ((rs == 1 || rows == 1) && (cols == 1 || cs >= Math.Max(1, rows))) return new(true, cols == 1 ? Math.Max(1, rows) : cs, batch);
        return null;
    }

    void BlasGemm<T>(Cublas blas, Strided x, Strided y, GpuStorage<T> o, int nb, int m, int k, int n) where T : unmanaged
    {
        GpuStorage<T>? xCopy = null, yCopy = null;
        try
        {
            var ax = AsBlasOperand(x);
            if (ax is null) { xCopy = Copy<T>(x); x = new Strided(xCopy, x.Shape, ShapeMath.ContiguousStrides(x.Shape), 0); ax = AsBlasOperand(x); }
            var ay = AsBlasOperand(y);
            if (ay is null) { yCopy = Copy<T>(y); y = new Strided(yCopy, y.Shape, ShapeMath.ContiguousStrides(y.Shape), 0); ay = AsBlasOperand(y); }
            int size = System.Runtime.CompilerServices.Unsafe.SizeOf<T>();
            IntPtr px = Owned<T>(x).DevicePointer + (nint)x.Offset * size, py = Owned<T>(y).DevicePointer + (nint)y.Offset * size;
            // row-major C = A·B is column-major Cᵀ = Bᵀ·Aᵀ: B's rows are Bᵀ's columns, so a row-major operand needs no transpose
            using (dev.Enter())
            {
                blas.UseTf32(Device.AllowTf32);
                blas.Gemm<T>(ay!.Value.ColumnMajor ? Cublas.Transpose : Cublas.NoTranspose, ax!.Value.ColumnMajor ? Cublas.Transpose : Cublas.NoTranspose,
                    n, m, k, py, ay.Value.Ld, ay.Value.BatchStride, px, ax.Value.Ld, ax.Value.BatchStride, o.DevicePointer, n, (long)m * n, nb);
            }
        }
        finally
        {
            xCopy?.Release();
            yCopy?.Release();
        }
    }
}
