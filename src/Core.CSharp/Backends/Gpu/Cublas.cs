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

    readonly IntPtr handle;

    /// <summary>The library this handle came from (for the GPU check's report).</summary>
    public string LibraryName { get; private init; } = "";
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

    /// <summary>
    /// A handle for the device whose context is current on this thread, from the first of
    /// <c>libcublas.so.13</c>, <c>.12</c> and the unversioned name that loads and starts (a
    /// cuBLAS newer than the driver loads but fails to create a handle: the next is tried), or
    /// null where none does. A handle that fails halfway is destroyed.
    /// </summary>
    public static Cublas? Create()
    {
        foreach (var name in new[] { "libcublas.so.13", "libcublas.so.12", "libcublas.so" })
        {
            if (!NativeLibrary.TryLoad(name, out var lib)) continue;
            if (TryStart(lib, name) is { } blas) return blas;
        }
        return null;
    }

    static Cublas? TryStart(IntPtr lib, string name)
    {
        IntPtr h = IntPtr.Zero;
        delegate* unmanaged<IntPtr, int> destroy = null;
        try
        {
            var create = (delegate* unmanaged<IntPtr*, int>)NativeLibrary.GetExport(lib, "cublasCreate_v2");
            destroy = (delegate* unmanaged<IntPtr, int>)NativeLibrary.GetExport(lib, "cublasDestroy_v2");
            var setStream = (delegate* unmanaged<IntPtr, IntPtr, int>)NativeLibrary.GetExport(lib, "cublasSetStream_v2");
            if (create(&h) != Success)
            {
                h = IntPtr.Zero;
                return null;
            }
            var blas = new Cublas(lib, h) { LibraryName = name };
            if (setStream(h, IntPtr.Zero) == Success && blas.SetMath(DefaultMath))
            {
                h = IntPtr.Zero;   // owned by the handle object now: it lives as long as the process
                return blas;
            }
            return null;
        }
        catch (EntryPointNotFoundException)
        {
            return null;
        }
        finally
        {
            if (h != IntPtr.Zero && destroy != null) destroy(h);
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
