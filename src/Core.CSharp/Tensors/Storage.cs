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
}

/// <summary>Host memory: a managed array.</summary>
internal sealed class CpuStorage<T>(T[] data) : Storage where T : unmanaged
{
    public readonly T[] Data = data;
    public override DType DType { get; } = DTypes.Of<T>();
    public override int Length => Data.Length;
    public override Device Device => Device.Cpu;
}
