using ILGPU;
using ILGPU.Runtime;

namespace Cotangent.Backends.Gpu;

/// <summary>
/// Memory of one accelerator: a block from its caching allocator, read as float, double or long
/// elements, or as bytes (0 or 1) for a bool tensor. A scope that ends gives the block back, any
/// size (counters must come back to where a step started); a tensor kept past its scope gives
/// it back when collected, from its finalizer, which makes no driver call.
/// </summary>
internal sealed class GpuStorage<T> : Storage where T : unmanaged
{
    Block? block;
    readonly ArrayView1D<T, Stride1D.Dense> view;
    readonly int length;

    public GpuStorage(GpuDevice owner, DType dtype, Block block, int length)
    {
        Owner = owner;
        DType = dtype;
        this.block = block;
        this.length = length;
        long bytes = (long)length * System.Runtime.CompilerServices.Unsafe.SizeOf<T>();
        view = block.Segment.Buffer.View.SubView(block.Offset, Math.Max(bytes, 0)).AsContiguous().Cast<T>();
        TensorScope.Current?.Own(this);
    }

    ~GpuStorage()
    {
        if (block is { } b) Owner.Allocator.FreeLater(b);
    }

    /// <summary>The device address of element 0 (for cuBLAS); throws once the block went back.</summary>
    public IntPtr DevicePointer => block is { } b ? b.Segment.Buffer.NativePtr + (nint)b.Offset : throw Storage.RecycledError("tensor");

    /// <summary>The accelerator whose memory this is.</summary>
    public GpuDevice Owner { get; }

    /// <summary>The elements; throws once the block went back at the end of a scope.</summary>
    public ArrayView1D<T, Stride1D.Dense> View => block is not null ? view : throw Storage.RecycledError("tensor");

    /// <summary>
    /// A contiguous stretch of this (immutable) int64 buffer already checked to hold only values
    /// in [Low, High): cross-entropy's label check, its gather and the gather's VJP then read the
    /// device once between them, not three times.
    /// </summary>
    internal CheckedSpan? CheckedRange { get; set; }   // a reference: written and read whole, never torn across threads

    public override DType DType { get; }
    public override int Length => length;
    public override Device Device => Owner.Device;
    internal override bool IsRecycled => block is null;
    internal override bool ScopeOwnsAnySize => true;

    internal override bool Release()
    {
        if (Kept || block is null) return false;
        var b = block;
        block = null;
        Owner.Allocator.Free(b);
        GC.SuppressFinalize(this);
        return true;
    }
}

/// <summary>A stretch of an int64 buffer whose values all lie in [Low, High).</summary>
internal sealed record CheckedSpan(int Offset, int Numel, long Low, long High);
