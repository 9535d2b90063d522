using Cotangent.Backends.Cpu;

namespace Cotangent.Backends;

/// <summary>
/// The one place that maps a device to the backend that owns its memory and runs its kernels.
/// Storage is made only through a backend (<see cref="IKernels.Wrap"/>, <see cref="IKernels.Full"/>
/// and the kernels' results), so a second backend needs no change to the op layer.
/// </summary>
internal static class Backend
{
    static readonly IKernels?[] Simulated = new IKernels?[Device.SimulatedCount];
    static readonly Lazy<IKernels?[]> Cuda = new(() => new IKernels?[Gpu.CudaDevices.Count]);

    /// <summary>The kernels of <paramref name="device"/>; a device no backend serves is an error naming <paramref name="op"/>.</summary>
    public static IKernels For(Device device, string op) => device.Type switch
    {
        DeviceType.Cpu when device.Index == 0 => CpuKernels.Instance,
        DeviceType.Simulated when device.Index is >= 0 and < Device.SimulatedCount =>
            Simulated[device.Index] ??= new Gpu.GpuKernels(Gpu.GpuDevice.Simulated(device.Index)),
        DeviceType.Cuda when device.Index >= 0 && device.Index < Gpu.CudaDevices.Count =>
            Cuda.Value[device.Index] ??= new Gpu.GpuKernels(Gpu.CudaDevices.Get(device.Index)),
        DeviceType.Cpu => throw new DeviceUnavailableException(op, $"{op}: there is one CPU device, cpu; {device.Type} index {device.Index} does not exist"),
        DeviceType.Simulated => throw new DeviceUnavailableException(op, $"{op}: {device} does not exist: simulated devices are sim:0 to sim:{Device.SimulatedCount - 1}"),
        _ => throw new DeviceUnavailableException(op, $"{op}: {device} is not available: {Gpu.CudaDevices.Why}"),
    };

    /// <summary>The caching allocator of a GPU device (simulated or CUDA); the CPU has none.</summary>
    public static Gpu.CachingAllocator Memory(Device device, string op)
    {
        For(device, op);
        if (device.Type == DeviceType.Cpu)
            throw new InvalidOperationException($"{op}: cpu keeps no device memory counters: host tensors live in managed arrays, pooled by Tensor.Scope and freed by the GC");
        return device.Type == DeviceType.Cuda ? Gpu.CudaDevices.Get(device.Index).Allocator : Gpu.GpuDevice.Simulated(device.Index).Allocator;
    }

    static Gpu.GpuDevice? GpuOf(Device device, string op)
    {
        For(device, op);
        return device.Type switch
        {
            DeviceType.Cuda => Gpu.CudaDevices.Get(device.Index),
            DeviceType.Simulated => Gpu.GpuDevice.Simulated(device.Index),
            _ => null,
        };
    }

    /// <summary>Waits for a GPU device's queued kernels; nothing to wait for on the CPU.</summary>
    public static void Synchronize(Device device, string op)
    {
        if (GpuOf(device, op) is not { } gpu) return;
        using (gpu.Enter()) gpu.Accelerator.Synchronize();
    }

    /// <summary>The device's name as its driver reports it.</summary>
    public static string Name(Device device, string op) =>
        GpuOf(device, op) is { } gpu ? (device.Type == DeviceType.Simulated ? $"simulated GPU on {gpu.Accelerator.Name}" : gpu.Accelerator.Name) : "cpu";
}
