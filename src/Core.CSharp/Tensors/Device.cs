namespace Cotangent;

/// <summary>The kind of processor a device is.</summary>
public enum DeviceType
{
    /// <summary>The host processor.</summary>
    Cpu,
    /// <summary>An NVIDIA GPU (the CUDA backend arrives with its own issue).</summary>
    Cuda,
}

/// <summary>
/// Where a tensor's storage lives, as PyTorch's <c>torch.device</c>: <c>Device.Cpu</c>, <c>Device.Cuda(0)</c>.
/// Every tensor carries one; ops across devices fail with a message naming both.
/// </summary>
public readonly record struct Device(DeviceType Type, int Index)
{
    /// <summary>The host processor.</summary>
    public static readonly Device Cpu = new(DeviceType.Cpu, 0);

    /// <summary>The CUDA device with the given ordinal among the visible ones.</summary>
    public static Device Cuda(int index = 0)
    {
        if (index < 0) throw new ArgumentOutOfRangeException(nameof(index), index, "a CUDA device ordinal is 0 or more");
        return new Device(DeviceType.Cuda, index);
    }

    /// <summary>PyTorch's spelling: <c>cpu</c>, <c>cuda:1</c>.</summary>
    public override string ToString() => Type == DeviceType.Cpu ? "cpu" : $"cuda:{Index}";
}
