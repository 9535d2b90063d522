using System.Globalization;
using System.Reflection;
using System.Runtime.InteropServices;
using ILGPU;
using ILGPU.Runtime.Cuda;

namespace Cotangent.Backends.Gpu;

/// <summary>
/// The CUDA devices this process sees. The driver applies <c>CUDA_VISIBLE_DEVICES</c> itself
/// (ordinals here are the visible ones, renumbered from 0); <see cref="Visible"/> spells out its
/// rules so that an error can say why a device is missing, and so the rules are tested on a
/// machine without a GPU. A machine without the driver has no CUDA devices: that is a count of
/// 0, and a use of <c>cuda:N</c> there is an error saying so, never a crash.
/// </summary>
internal static class CudaDevices
{
    sealed record Found(Context? Context, CudaDevice[] Devices, string Why);

    static readonly Lazy<Found> found = new(Discover);
    static readonly Lazy<GpuDevice?[]> made = new(() => new GpuDevice?[Count]);

    /// <summary>How many CUDA devices are visible.</summary>
    public static int Count => found.Value.Devices.Length;

    /// <summary>Why there are no more devices than <see cref="Count"/>, for error messages.</summary>
    public static string Why => found.Value.Why;

    /// <summary>The accelerator of visible CUDA device <paramref name="index"/>, made on first use.</summary>
    public static GpuDevice Get(int index)
    {
        var f = found.Value;
        var all = made.Value;
        if (all[index] is { } d) return d;
        lock (all)
        {
            if (all[index] is { } again) return again;
            var acc = f.Devices[index].CreateCudaAccelerator(f.Context!);
            acc.Bind();   // cuBLAS makes its handle in the current context
            // grid-stride kernels: 256 threads a group, enough groups to fill every multiprocessor several times
            return all[index] = GpuDevice.Create(Device.Cuda(index), acc, acc.NumMultiprocessors * 8, 256, Cublas.Create());
        }
    }

    static Found Discover()
    {
        MapDriverLibrary();
        string visible = Environment.GetEnvironmentVariable("CUDA_VISIBLE_DEVICES") is { } v ? $" ({Explain(v)})" : "";
        if (!NativeLibrary.TryLoad("libcuda.so.1", out _) && !NativeLibrary.TryLoad("libcuda.so", out _) && !NativeLibrary.TryLoad("nvcuda.dll", out _))
            return new(null, [], "this machine has no CUDA driver (libcuda.so.1 was not found)");
        try
        {
            var context = Context.Create(b => b.Cuda().EnableAlgorithms());
            var collection = context.GetCudaDevices();
            var devices = new CudaDevice[collection.Count];
            for (int i = 0; i < devices.Length; i++) devices[i] = collection[i];
            if (devices.Length == 0)
            {
                context.Dispose();
                return new(null, [], $"the CUDA driver reports no devices{visible}");
            }
            return new(context, devices, $"{devices.Length} CUDA device{(devices.Length == 1 ? " is" : "s are")} visible{visible}");
        }
        catch (Exception e)
        {
            return new(null, [], $"the CUDA driver could not be started ({e.GetType().Name}: {e.Message})");
        }
    }

    /// <summary>
    /// ILGPU imports the driver as <c>cuda</c>, which finds <c>libcuda.so</c>: a driver-only
    /// machine has just <c>libcuda.so.1</c>. Resolve the import to either. ILGPU installs a
    /// resolver of its own only under WSL, where this one is then refused, harmlessly.
    /// </summary>
    static void MapDriverLibrary()
    {
        try
        {
            NativeLibrary.SetDllImportResolver(typeof(Context).Assembly, (name, assembly, path) =>
                name == "cuda" && (NativeLibrary.TryLoad("libcuda.so", out var h) || NativeLibrary.TryLoad("libcuda.so.1", out h)) ? h : IntPtr.Zero);
        }
        catch (InvalidOperationException)
        {
            // a resolver is already set for ILGPU (its own, under WSL)
        }
    }

    /// <summary>What a CUDA_VISIBLE_DEVICES value leaves visible, whatever the machine has: for error messages.</summary>
    internal static string Explain(string value) => Visible(value, int.MaxValue) switch
    {
        [] => $"CUDA_VISIBLE_DEVICES=\"{value}\" hides every device",
        var shown => $"CUDA_VISIBLE_DEVICES=\"{value}\" shows at most physical device{(shown.Length == 1 ? "" : "s")} {string.Join(", ", shown)}, renumbered from 0",
    };

    /// <summary>
    /// The physical ordinals CUDA exposes for a <c>CUDA_VISIBLE_DEVICES</c> value, in the order
    /// they are renumbered 0, 1, …: PyTorch's reading of the driver's rules. Unset shows every
    /// device; entries are comma-separated and read by their leading digits; an entry without
    /// digits (a negative number, a word, empty) ends the list, as does an ordinal the machine
    /// does not have; a repeated ordinal hides every device. GPU UUIDs (<c>GPU-…</c>) need the
    /// driver to resolve and end the list here.
    /// </summary>
    public static int[] Visible(string? value, int physical)
    {
        if (value is null) return [.. Enumerable.Range(0, physical)];
        var listed = new List<int>();
        foreach (var entry in value.Split(','))
        {
            var s = entry.Trim();
            int digits = 0;
            while (digits < s.Length && char.IsAsciiDigit(s[digits])) digits++;
            if (digits == 0 || !int.TryParse(s.AsSpan(0, digits), NumberStyles.None, CultureInfo.InvariantCulture, out int ordinal)) break;
            if (listed.Contains(ordinal)) return [];
            listed.Add(ordinal);
        }
        int shown = listed.FindIndex(o => o >= physical);
        return [.. shown < 0 ? listed : listed.Take(shown)];
    }
}
