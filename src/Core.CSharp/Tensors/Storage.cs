namespace Cotangent;

/// <summary>
/// A flat buffer of elements on one device. Tensors are views over storage (shape, strides,
/// offset); since no public API writes into a tensor, several views may share one storage.
/// </summary>
public abstract class Storage
{
    /// <summary>The backends derive their storages; there are no others.</summary>
    private protected Storage() { }

    /// <summary>The element type.</summary>
    public abstract DType DType { get; }
    /// <summary>The number of elements.</summary>
    public abstract int Length { get; }
    /// <summary>Where the elements live.</summary>
    public abstract Device Device { get; }

    static long births;

    /// <summary>How many storages were made before, and with, this one (a global counter).</summary>
    internal long Born { get; } = Interlocked.Increment(ref births);

    /// <summary>The <see cref="Born"/> number of the latest storage made so far.</summary>
    internal static long Births => Volatile.Read(ref births);

    /// <summary>True once the tensor that owns this storage was kept past its scope.</summary>
    internal bool Kept { get; set; }

    /// <summary>True when the user kept it (<see cref="Tensor.Keep"/>) or handed it to a holder: never recycled.</summary>
    internal bool Pinned { get; set; }

    /// <summary>
    /// For a buffer the library made and kept for a holder (a parameter's values, optimizer
    /// state, a gradient) that the holder now replaces: the current scope recycles it when it
    /// ends, so the next step's values land in a warm buffer instead of fresh memory. Pinned
    /// buffers stay; without a scope the GC takes it.
    /// </summary>
    internal void Disown()
    {
        if (Pinned || !Kept) return;
        Kept = false;
        if (Length >= Buffers.MinPooled || ScopeOwnsAnySize) TensorScope.Current?.Own(this);
    }

    /// <summary>
    /// True when a scope takes this buffer back whatever its size (device memory, whose counters
    /// must return to where a step began); host buffers below <see cref="Buffers.MinPooled"/> are
    /// left to the GC.
    /// </summary>
    internal virtual bool ScopeOwnsAnySize => false;

    /// <summary>Gives the buffer back to the pool unless kept; true when it did.</summary>
    internal abstract bool Release();

    /// <summary>True once the buffer went back to the pool: the tensors over it can no longer be read.</summary>
    internal abstract bool IsRecycled { get; }

    /// <summary>The error for reading a buffer that went back at the end of its scope.</summary>
    internal static ObjectDisposedException RecycledError(string op) => new(op,
        $"{op}: this tensor's buffer was recycled when its Tensor.Scope() ended; call Keep() on tensors that must outlive the scope");
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
    public T[] Data => data ?? throw RecycledError("tensor");

    internal override bool IsRecycled => data is null;

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
