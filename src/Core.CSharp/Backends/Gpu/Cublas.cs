using System.Runtime.InteropServices;

namespace Cotangent.Backends.Gpu;

/// <summary>
/// The few cuBLAS entry points GEMM needs, bound at run time (a machine with the driver but
/// without the CUDA toolkit's cuBLAS falls back to the ILGPU kernel): <c>libcublas.so.13</c>,
/// then <c>.12</c>, then the unversioned name. One handle per device, created with that
/// device's context current and bound to ILGPU's stream (the legacy default stream), so a GEMM
/// is ordered with the kernels around it. cuBLAS gives the same bits on every run for a given
/// GPU model and toolkit. Column-major, as cuBLAS is: the caller swaps operands for row-major.
/// </summary>
internal sealed unsafe class Cublas
{
    const int Success = 0;

    /// <summary>cublasOperation_t.</summary>
    public const int NoTranspose = 0, Transpose = 1;

    /// <summary>cublasMath_t: plain fp32 (CUBLAS_DEFAULT_MATH), or TF32 tensor cores for fp32 (CUBLAS_TF32_TENSOR_OP_MATH).</summary>
    public const int DefaultMath = 0, Tf32Math = 3;

    static readonly Lazy<IntPtr> Library = new(Load);

    readonly IntPtr handle;
    readonly delegate* unmanaged<IntPtr, int, int, int, int, int, float*, IntPtr, int, long, IntPtr, int, long, float*, IntPtr, int, long, int, int> sgemmBatched;
    readonly delegate* unmanaged<IntPtr, int, int, int, int, int, double*, IntPtr, int, long, IntPtr, int, long, double*, IntPtr, int, long, int, int> dgemmBatched;
    readonly delegate* unmanaged<IntPtr, int, int> setMathMode;

    Cublas(IntPtr lib, IntPtr handle)
    {
        this.handle = handle;
        sgemmBatched = (delegate* unmanaged<IntPtr, int, int, int, int, int, float*, IntPtr, int, long, IntPtr, int, long, float*, IntPtr, int, long, int, int>)NativeLibrary.GetExport(lib, "cublasSgemmStridedBatched");
        dgemmBatched = (delegate* unmanaged<IntPtr, int, int, int, int, int, double*, IntPtr, int, long, IntPtr, int, long, double*, IntPtr, int, long, int, int>)NativeLibrary.GetExport(lib, "cublasDgemmStridedBatched");
        setMathMode = (delegate* unmanaged<IntPtr, int, int>)NativeLibrary.GetExport(lib, "cublasSetMathMode");
    }

    /// <summary>Which library was loaded, for the GPU check's report; null where none was.</summary>
    public static string? LoadedName { get; private set; }

    static IntPtr Load()
    {
        foreach (var name in new[] { "libcublas.so.13", "libcublas.so.12", "libcublas.so" })
            if (NativeLibrary.TryLoad(name, out var lib))
            {
                LoadedName = name;
                return lib;
            }
        return IntPtr.Zero;
    }

    /// <summary>A handle for the device whose context is current on this thread, or null without cuBLAS (or when it cannot start).</summary>
    public static Cublas? Create()
    {
        var lib = Library.Value;
        if (lib == IntPtr.Zero) return null;
        try
        {
            var create = (delegate* unmanaged<IntPtr*, int>)NativeLibrary.GetExport(lib, "cublasCreate_v2");
            var setStream = (delegate* unmanaged<IntPtr, IntPtr, int>)NativeLibrary.GetExport(lib, "cublasSetStream_v2");
            IntPtr h;
            if (create(&h) != Success) return null;
            if (setStream(h, IntPtr.Zero) != Success) return null;
            var blas = new Cublas(lib, h);
            return blas.SetMath(DefaultMath) ? blas : null;
        }
        catch (EntryPointNotFoundException)
        {
            return null;
        }
    }

    bool tf32;

    /// <summary>Sets fp32 GEMM to plain fp32 or to TF32 tensor cores; true when cuBLAS accepted it.</summary>
    bool SetMath(int mode) => setMathMode(handle, mode) == Success;

    /// <summary>Follows <see cref="Device.AllowTf32"/> (a call into cuBLAS only when it changed).</summary>
    public void UseTf32(bool allow)
    {
        if (allow == tf32) return;
        if (!SetMath(allow ? Tf32Math : DefaultMath))
            throw new InvalidOperationException($"matmul: cuBLAS refused math mode {(allow ? "TF32" : "default")}");
        tf32 = allow;
    }

    /// <summary>
    /// C = op(A)·op(B) for <paramref name="batches"/> column-major matrices at fixed strides
    /// (cublas{S,D}gemmStridedBatched, α = 1, β = 0); a status other than success is an error
    /// naming the call.
    /// </summary>
    public void Gemm<T>(int opA, int opB, int m, int n, int k, IntPtr a, int lda, long strideA, IntPtr b, int ldb, long strideB,
        IntPtr c, int ldc, long strideC, int batches) where T : unmanaged
    {
        int status;
        if (typeof(T) == typeof(float))
        {
            float one = 1f, zero = 0f;
            status = sgemmBatched(handle, opA, opB, m, n, k, &one, a, lda, strideA, b, ldb, strideB, &zero, c, ldc, strideC, batches);
        }
        else if (typeof(T) == typeof(double))
        {
            double one = 1.0, zero = 0.0;
            status = dgemmBatched(handle, opA, opB, m, n, k, &one, a, lda, strideA, b, ldb, strideB, &zero, c, ldc, strideC, batches);
        }
        else throw new InvalidOperationException($"matmul: cuBLAS has no GEMM for {typeof(T).Name}");
        if (status != Success)
            throw new InvalidOperationException($"matmul: cublas{(typeof(T) == typeof(float) ? 'S' : 'D')}gemmStridedBatched failed with status {status} (m={m}, n={n}, k={k}, batches={batches})");
    }
}
