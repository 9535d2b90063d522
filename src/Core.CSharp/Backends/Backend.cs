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

    /// <summary>The kernels of <paramref name="device"/>; a device no backend serves is an error naming <paramref name="op"/>.</summary>
    public static IKernels For(Device device, string op) => device.Type switch
    {
        DeviceType.Cpu when device.Index == 0 => CpuKernels.Instance,
        DeviceType.Simulated when device.Index is >= 0 and < Device.SimulatedCount =>
            Simulated[device.Index] ??= new Gpu.GpuKernels(Gpu.GpuDevice.Simulated(device.Index)),
        DeviceType.Cpu => throw new DeviceUnavailableException(op, $"{op}: there is one CPU device, cpu; {device.Type} index {device.Index} does not exist"),
        _ => throw new DeviceUnavailableException(op, $"{op}: {device} is not available: Cotangent's CUDA backend is not built yet, so only cpu exists"),
    };
}
