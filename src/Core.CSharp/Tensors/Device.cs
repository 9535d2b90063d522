namespace Cotangent;

/// <summary>The kind of processor a device is.</summary>
public enum DeviceType
{
    /// <summary>The host processor.</summary>
    Cpu,
    /// <summary>An NVIDIA GPU.</summary>
    Cuda,
    /// <summary>
    /// A simulated GPU: ILGPU's CPU accelerator running the very kernels the CUDA backend runs,
    /// with memory of its own that other devices refuse. Several stand in for several GPUs.
    /// </summary>
    Simulated,
}

/// <summary>
/// Where a tensor's storage lives, as PyTorch's <c>torch.device</c>: <c>Device.Cpu</c>, <c>Device.Cuda(0)</c>.
/// Every tensor carries one; ops across devices fail with a message naming both, and nothing is
/// copied implicitly. Creation functions place tensors on <see cref="Default"/> unless told.
/// </summary>
public readonly record struct Device(DeviceType Type, int Index)
{
    /// <summary>The kind of device: the CPU, a CUDA GPU or a simulated GPU.</summary>
    public DeviceType Type { get; init; } = Type;
    /// <summary>Which device of its kind, from 0 (0 for the CPU).</summary>
    public int Index { get; init; } = Index;

    /// <summary>The host processor.</summary>
    public static readonly Device Cpu = new(DeviceType.Cpu, 0);

    /// <summary>The CUDA device with the given ordinal among the visible ones.</summary>
    public static Device Cuda(int index = 0)
    {
        if (index < 0) throw new OpArgumentException("device", $"device: a CUDA device ordinal is 0 or more, got {index}");
        return new Device(DeviceType.Cuda, index);
    }

    /// <summary>
    /// How many CUDA devices this process sees (torch.cuda.device_count): those the driver shows
    /// under <c>CUDA_VISIBLE_DEVICES</c>, renumbered from 0; 0 on a machine without the driver.
    /// </summary>
    public static int CudaCount => Backends.Gpu.CudaDevices.Count;

    /// <summary>The devices this process can use without asking: the CPU and every visible CUDA device (simulated ones are made on request).</summary>
    public static IReadOnlyList<Device> Available => [Cpu, .. Enumerable.Range(0, CudaCount).Select(i => new Device(DeviceType.Cuda, i))];

    /// <summary>How many simulated devices a process may use: sim:0 … sim:7.</summary>
    public const int SimulatedCount = 8;

    /// <summary>
    /// The simulated GPU of that ordinal (0 to 7), made on first use: ILGPU's CPU accelerator
    /// running the CUDA backend's kernels, for tests and for trying device code without a GPU.
    /// </summary>
    public static Device Simulated(int index = 0)
    {
        if (index < 0 || index >= SimulatedCount)
            throw new OpArgumentException("device", $"device: a simulated device ordinal is 0 to {SimulatedCount - 1}, got {index}");
        return new Device(DeviceType.Simulated, index);
    }

    /// <summary>
    /// A device from PyTorch's spelling: <c>cpu</c>, <c>cuda</c> (ordinal 0), <c>cuda:1</c>, and
    /// <c>sim:N</c> for a simulated device.
    /// Parsing names a device; it does not check that the device exists.
    /// </summary>
    public static Device Parse(string name)
    {
        if (name is null) throw new OpArgumentException("device", "device: the name is null");
        var s = name.Trim();
        var colon = s.IndexOf(':');
        var kind = (colon < 0 ? s : s[..colon]).ToLowerInvariant();
        int index = 0;
        if (colon >= 0 && !(int.TryParse(s.AsSpan(colon + 1), System.Globalization.NumberStyles.None, null, out index)))
            throw new OpArgumentException("device", $"device: '{name}' has no valid ordinal after the colon (expected e.g. cuda:1)");
        return kind switch
        {
            "cpu" when index == 0 => Cpu,
            "cpu" => throw new OpArgumentException("device", $"device: there is one CPU device, cpu; '{name}' does not exist"),
            "cuda" => Cuda(index),
            "sim" => Simulated(index),
            _ => throw new OpArgumentException("device", $"device: '{name}' is not a device; expected cpu, cuda, cuda:N or sim:N"),
        };
    }

    // boxed, so a reader on another thread sees a whole device (a struct write could tear)
    static volatile object global = Cpu;
    static readonly FlowStack<DefaultScopeFrame> Scoped = new();

    /// <summary>
    /// Where creation functions (<c>Zeros</c>, <c>Randn</c>, <c>From</c>, …) put tensors when no
    /// device is passed, as <c>torch.set_default_device</c>: the innermost open
    /// <see cref="UseDefault"/> scope of this flow, else the process-wide setting (initially
    /// <see cref="Cpu"/>). Setting it changes the process-wide value; the device must exist.
    /// </summary>
    public static Device Default
    {
        get => Scoped.Top?.Device ?? (Device)global;
        set
        {
            Backends.Backend.For(value, "default_device");
            global = value;
        }
    }

    static volatile bool allowTf32;

    /// <summary>
    /// Whether float32 matrix products on CUDA devices may use TF32 tensor cores (about 10 bits
    /// of mantissa in the products, much faster), as PyTorch's
    /// <c>torch.backends.cuda.matmul.allow_tf32</c>; off by default, so float32 means float32.
    /// Process-wide; simulated devices and the CPU ignore it.
    /// </summary>
    public static bool AllowTf32
    {
        get => allowTf32;
        set => allowTf32 = value;
    }

    /// <summary>
    /// Makes <paramref name="device"/> the default for this flow (and the tasks it starts) until
    /// the scope is disposed: for tests and services that must not change the process-wide
    /// default. Example: <c>using var _ = Device.UseDefault(Device.Cpu);</c>
    /// </summary>
    public static IDisposable UseDefault(Device device)
    {
        Backends.Backend.For(device, "default_device");
        var scope = new DefaultScopeFrame(device);
        Scoped.Push(scope);
        return scope;
    }

    sealed class DefaultScopeFrame(Device device) : IDisposable
    {
        bool done;
        public Device Device { get; } = device;

        public void Dispose()
        {
            if (done) return;
            done = true;
            Scoped.Remove(this);
        }
    }

    // ---- memory (torch.cuda.memory_allocated and friends) -----------------------------

    /// <summary>
    /// Waits until every kernel queued on this device has finished (<c>torch.cuda.synchronize</c>):
    /// GPU launches return before they run, so time a GPU op between two of these. The CPU runs
    /// its ops as they are called; there it returns at once. A device that does not exist is an error.
    /// </summary>
    public void Synchronize() => Backends.Backend.Synchronize(this, "synchronize");

    /// <summary>What the device is, as its driver names it (<c>torch.cuda.get_device_name</c>): the GPU's model, or the simulator's accelerator.</summary>
    public string Name => Backends.Backend.Name(this, "device_name");

    /// <summary>Bytes held by tensors on this GPU device (torch.cuda.memory_allocated); the CPU keeps no such counter and raises.</summary>
    public long MemoryAllocated => Backends.Backend.Memory(this, "memory_allocated").Allocated;

    /// <summary>Bytes the device's caching allocator holds from the driver, in use or cached (torch.cuda.memory_reserved).</summary>
    public long MemoryReserved => Backends.Backend.Memory(this, "memory_reserved").Reserved;

    /// <summary>The most bytes tensors held at once since the start or <see cref="ResetPeakMemory"/> (torch.cuda.max_memory_allocated).</summary>
    public long MaxMemoryAllocated => Backends.Backend.Memory(this, "max_memory_allocated").MaxAllocated;

    /// <summary>The most bytes the allocator may hold from the driver, or null for no limit but the device's.</summary>
    public long? MemoryLimit => Backends.Backend.Memory(this, "memory_limit").Limit;

    /// <summary>Starts <see cref="MaxMemoryAllocated"/> again from what is allocated now.</summary>
    public void ResetPeakMemory() => Backends.Backend.Memory(this, "reset_peak_memory").ResetPeak();

    /// <summary>Returns the cached memory no tensor uses to the driver (torch.cuda.empty_cache).</summary>
    public void EmptyCache() => Backends.Backend.Memory(this, "empty_cache").EmptyCache();

    /// <summary>
    /// Caps what the allocator may hold from the driver (for tests, and for sharing a GPU; as
    /// torch.cuda.set_per_process_memory_fraction, but in bytes); null lifts the cap. A request
    /// past it empties the cache, retries, then raises <see cref="OutOfDeviceMemoryException"/>.
    /// </summary>
    public void SetMemoryLimit(long? bytes)
    {
        if (bytes is < 0) throw new OpArgumentException("set_memory_limit", $"set_memory_limit: the limit is a number of bytes, 0 or more, got {bytes}");
        Backends.Backend.Memory(this, "set_memory_limit").Limit = bytes;
    }

    /// <summary>PyTorch's spelling: <c>cpu</c>, <c>cuda:1</c>; <c>sim:0</c> for a simulated device.</summary>
    public override string ToString() => Type switch
    {
        DeviceType.Cpu => "cpu",
        DeviceType.Cuda => $"cuda:{Index}",
        _ => $"sim:{Index}",
    };
}
