using System.Collections.Concurrent;
using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;

namespace Cotangent.Backends.Gpu;

/// <summary>
/// One accelerator and what belongs to it: the kernels loaded for it (held strongly: ILGPU's own
/// cache keeps them only by weak reference, and a collected kernel is recompiled at its next
/// launch), the launch configuration for its grid-stride kernels, and the gate every launch,
/// allocation and copy takes (one host thread at a time binds and drives an accelerator).
/// </summary>
internal sealed class GpuDevice
{
    readonly ConcurrentDictionary<(string Kernel, Type A, Type B, Type C), Delegate> kernels = new();

    GpuDevice(Device device, Accelerator accelerator, int groups, int groupSize, Cublas? blas = null)
    {
        if (groupSize < 1) throw new ArgumentOutOfRangeException(nameof(groupSize), $"{device}: a thread group needs at least one thread");
        Device = device;
        Blas = blas;
        Accelerator = accelerator;
        (Groups, GroupSize) = (groups, groupSize);
        Allocator = new CachingAllocator(device, accelerator, Gate);
    }

    /// <summary>The device's memory.</summary>
    public CachingAllocator Allocator { get; }

    /// <summary>A device around an accelerator made elsewhere (CUDA's), with cuBLAS where it loaded.</summary>
    public static GpuDevice Create(Device device, Accelerator accelerator, int groups, int groupSize, Cublas? blas) =>
        new(device, accelerator, groups, groupSize, blas);

    /// <summary>cuBLAS for this device's GEMMs; null on a simulated device or without the library.</summary>
    public Cublas? Blas { get; }

    /// <summary>
    /// Takes the gate and binds the accelerator to this thread (a CUDA accelerator has a context
    /// of its own, which every thread that drives it must make current); dispose to leave.
    /// </summary>
    public Guard Enter()
    {
        Monitor.Enter(Gate);
        try { Accelerator.Bind(); }
        catch { Monitor.Exit(Gate); throw; }
        return new Guard(Gate);
    }

    /// <summary>Leaves the gate.</summary>
    public readonly struct Guard(object gate) : IDisposable
    {
        public void Dispose() => Monitor.Exit(gate);
    }

    /// <summary>The device this accelerator is.</summary>
    public Device Device { get; }

    /// <summary>The ILGPU accelerator.</summary>
    public Accelerator Accelerator { get; }

    /// <summary>Taken around every launch, allocation and copy.</summary>
    public object Gate { get; } = new();

    /// <summary>The most thread groups a launch uses.</summary>
    public int Groups { get; }

    /// <summary>Threads per group.</summary>
    public int GroupSize { get; }

    // one context for every simulated device: each has its own accelerator, kernels and memory
    static readonly Lazy<Context> SimContext = new(() => Context.Create(b => b.CPU()));
    static readonly GpuDevice?[] Sims = new GpuDevice?[Device.SimulatedCount];

    /// <summary>
    /// The simulated device of that ordinal, made on first use. The CPU accelerator pays about a
    /// microsecond per thread group, not per element, so its grid is tiny: two groups of the
    /// simulator's 16 threads (a grid-stride loop over 64K elements takes ~1 ms; auto-grouped ~80).
    /// </summary>
    public static GpuDevice Simulated(int index)
    {
        if (Sims[index] is { } made) return made;
        lock (Sims)
        {
            if (Sims[index] is { } again) return again;
            var acc = CPUDevice.Default.CreateCPUAccelerator(SimContext.Value);
            return Sims[index] = new GpuDevice(Device.Simulated(index), acc, 2, acc.MaxNumThreadsPerGroup);
        }
    }

    /// <summary>The kernel for this key, loaded on first use and kept.</summary>
    public TKernel Kernel<TKernel>((string, Type, Type, Type) key, Func<Accelerator, TKernel> load) where TKernel : Delegate
    {
        if (kernels.TryGetValue(key, out var k)) return (TKernel)k;
        using (Enter()) return (TKernel)kernels.GetOrAdd(key, _ => load(Accelerator));
    }

    /// <summary>
    /// A launch of one thread group per work item (a row, or a piece of one), at most
    /// <see cref="Groups"/> groups, each with shared memory for one <typeparamref name="T"/> a thread.
    /// </summary>
    public KernelConfig GroupConfig<T>(long items) where T : unmanaged =>
        new(new Index1D((int)Math.Clamp(items, 1, Groups)), new Index1D(GroupSize), SharedMemoryConfig.RequestDynamic<T>(GroupSize));

    /// <summary>A grid-stride launch over n work items: at most <see cref="Groups"/> groups.</summary>
    public KernelConfig Config(long n)
    {
        long groups = Math.Clamp((n + GroupSize - 1) / GroupSize, 1, Groups);
        return new KernelConfig((int)groups, GroupSize);
    }
}
