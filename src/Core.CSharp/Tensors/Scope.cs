using System.Collections.Concurrent;

namespace Cotangent;

/// <summary>
/// A region whose tensors give their buffers back for reuse when it ends (like TorchSharp's
/// dispose scopes or a PyTorch caching allocator, for one training step):
/// <code>
/// for (int step = 0; step &lt; steps; step++)
/// {
///     using var scope = Tensor.Scope();
///     opt.ZeroGrad();
///     Tensor.CrossEntropy(net.Forward(x), y).Backward();
///     opt.Step();                       // new parameter values are kept automatically
/// }
/// </code>
/// Buffers of 256 elements or more allocated inside are recycled at the end (smaller ones are
/// left to the GC) unless their tensor was kept: parameter
/// values, accumulated gradients and optimizer state are kept automatically; call
/// <see cref="Tensor.Keep"/> on anything else that must outlive the scope. A tensor whose buffer
/// was recycled throws <see cref="ObjectDisposedException"/> on use — a clear error instead of
/// reading another tensor's values. Fresh large buffers cost page faults and collections;
/// recycled ones are already warm, which is the point.
/// </summary>
public sealed class TensorScope : IDisposable
{
    static readonly AsyncLocal<TensorScope?> CurrentScope = new();
    readonly TensorScope? outer;
    readonly List<Storage> owned = [];
    readonly Lock gate = new();
    bool disposed;

    internal TensorScope()
    {
        outer = CurrentScope.Value;
        CurrentScope.Value = this;
    }

    internal static TensorScope? Current => CurrentScope.Value;

    /// <summary>Buffers handed back for reuse by this scope.</summary>
    public int Recycled { get; private set; }

    internal void Own(Storage s)
    {
        lock (gate) owned.Add(s);
    }

    /// <summary>Recycles the buffers of every tensor made inside that was not kept.</summary>
    public void Dispose()
    {
        if (disposed) return;
        disposed = true;
        CurrentScope.Value = outer;
        lock (gate)
        {
            foreach (var s in owned)
                if (s.Release()) Recycled++;
            owned.Clear();
        }
    }
}

/// <summary>
/// Exact-length buffers recycled by <see cref="TensorScope"/>: a training loop allocates the
/// same shapes every step, so the buffer a step frees is the one the next step asks for.
/// </summary>
internal static class Buffers
{
    const int PerLength = 8;

    /// <summary>Buffers shorter than this are left to the GC: pooling them costs more than it saves.</summary>
    public const int MinPooled = 256;
    const long MaxPooledBytes = 1L << 30;
    static long pooledBytes;

    static class Pool<T> where T : unmanaged
    {
        public static readonly ConcurrentDictionary<int, ConcurrentBag<T[]>> ByLength = new();
    }

    /// <summary>A buffer of n elements whose contents are unspecified: the caller writes every one.</summary>
    public static T[] Uninitialized<T>(int n) where T : unmanaged
    {
        if (n >= MinPooled && TensorScope.Current is not null && Pool<T>.ByLength.TryGetValue(n, out var bag) && bag.TryTake(out var a))
        {
            Interlocked.Add(ref pooledBytes, -(long)n * System.Runtime.CompilerServices.Unsafe.SizeOf<T>());
            return a;
        }
        return GC.AllocateUninitializedArray<T>(n);
    }

    /// <summary>A buffer of n zeros.</summary>
    public static T[] Zeroed<T>(int n) where T : unmanaged
    {
        if (n < MinPooled || TensorScope.Current is null) return new T[n];
        var a = Uninitialized<T>(n);
        Array.Clear(a);
        return a;
    }

    public static void Return<T>(T[] a) where T : unmanaged
    {
        long bytes = (long)a.Length * System.Runtime.CompilerServices.Unsafe.SizeOf<T>();
        if (Interlocked.Add(ref pooledBytes, bytes) > MaxPooledBytes)
        {
            Interlocked.Add(ref pooledBytes, -bytes);
            return;
        }
        var bag = Pool<T>.ByLength.GetOrAdd(a.Length, _ => []);
        if (bag.Count < PerLength) bag.Add(a);
        else Interlocked.Add(ref pooledBytes, -bytes);
    }
}
