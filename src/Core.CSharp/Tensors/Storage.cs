namespace Cotangent;

/// <summary>
/// A flat buffer of elements on one device. Tensors are views over storage (shape, strides,
/// offset); since no public API writes into a tensor, several views may share one storage.
/// </summary>
public abstract class Storage
{
    /// <summary>The element type.</summary>
    public abstract DType DType { get; }
    /// <summary>The number of elements.</summary>
    public abstract int Length { get; }
    /// <summary>Where the elements live.</summary>
    public abstract Device Device { get; }

    /// <summary>True once the tensor that owns this storage was kept past its scope.</summary>
    internal bool Kept { get; set; }

    /// <summary>Gives the buffer back to the pool unless kept; true when it did.</summary>
    internal abstract bool Release();
}

/// <summary>Host memory: a managed array.</summary>
internal sealed class CpuStorage<T> : Storage where T : unmanaged
{
    T[]? data;
    readonly int length;

    public CpuStorage(T[] data)
    {
        this.data = data;
        length = data.Length;
        if (data.Length >= Buffers.MinPooled) TensorScope.Current?.Own(this);
    }

    /// <summary>The elements; throws once the buffer went back to the pool at the end of a scope.</summary>
    public T[] Data => data ?? throw new ObjectDisposedException("tensor",
        "this tensor's buffer was recycled when its Tensor.Scope() ended; call Keep() on tensors that must outlive the scope");

    public override DType DType { get; } = DTypes.Of<T>();
    public override int Length => length;
    public override Device Device => Device.Cpu;

    internal override bool Release()
    {
        if (Kept || data is null) return false;
        var d = data;
        data = null;
        Buffers.Return(d);
        return true;
    }
}
