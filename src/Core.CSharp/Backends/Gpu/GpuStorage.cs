using ILGPU;
using ILGPU.Runtime;

namespace Cotangent.Backends.Gpu;

/// <summary>
/// Memory of one accelerator: a buffer of float, double or long elements, or of bytes (0 or 1)
/// for a bool tensor. A scope that ends gives the buffer back (it is freed); a kept one lives
/// until it is collected.
/// </summary>
internal sealed class GpuStorage<T> : Storage where T : unmanaged
{
    MemoryBuffer1D<T, Stride1D.Dense>? buffer;
    readonly int length;

    public GpuStorage(GpuDevice owner, DType dtype, MemoryBuffer1D<T, Stride1D.Dense> buffer, int length)
    {
        Owner = owner;
        DType = dtype;
        this.buffer = buffer;
        this.length = length;
        if (length >= Buffers.MinPooled) TensorScope.Current?.Own(this);
    }

    /// <summary>The accelerator whose memory this is.</summary>
    public GpuDevice Owner { get; }

    /// <summary>The elements; throws once the buffer went back at the end of a scope.</summary>
    public ArrayView1D<T, Stride1D.Dense> View => buffer is { } b
        ? b.View.SubView(0, Math.Max(length, 0))
        : throw CpuStorage<float>.Recycled("tensor");

    public override DType DType { get; }
    public override int Length => length;
    public override Device Device => Owner.Device;
    internal override bool IsRecycled => buffer is null;

    internal override bool Release()
    {
        if (Kept || buffer is null) return false;
        lock (Owner.Gate)
        {
            buffer.Dispose();
            buffer = null;
        }
        return true;
    }
}
