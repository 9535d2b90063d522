using System.Collections.Concurrent;
using System.Runtime.CompilerServices;

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
/// <see cref="Tensor.Keep"/> on anything else that must outlive the scope. Values of those
/// that a scope's step replaced (old parameter values after <c>Step</c>, gradients after
/// <c>ZeroGrad</c>, old optimizer state) go back at its end too, when the library made them;
/// to hold on to one, <see cref="Tensor.Keep"/> it (PyTorch's <c>p.detach().clone()</c>).
/// A tensor whose buffer was recycled throws <see cref="ObjectDisposedException"/> on use — a
/// clear error instead of reading another tensor's values. Fresh large buffers cost page
/// faults, cache misses and collections; recycled ones are already warm, which is the point.
/// <para>
/// Threads: a scope's tensors belong to the flow that opened it. A read on another thread that
/// overlaps the scope's end races with the recycling and may see the values of the tensor the
/// buffer goes to next; <see cref="Tensor.Keep"/> tensors before sharing them. Reads that start
/// after the end throw, on every thread.
/// </para>
/// </summary>
public sealed class TensorScope : IDisposable
{
    static readonly FlowStack<TensorScope> Open = new();
    readonly List<Storage> owned = [];
    readonly Lock gate = new();
    bool disposed;

    internal TensorScope() => Open.Push(this);

    /// <summary>The innermost open scope of this flow (scopes disposed out of order are simply removed).</summary>
    internal static TensorScope? Current => Open.Top;

    /// <summary>Buffers handed back for reuse by this scope.</summary>
    public int Recycled { get; private set; }

    internal void Own(Storage s)
    {
        lock (gate)
            if (!disposed) owned.Add(s);
    }

    /// <summary>Recycles the buffers of every tensor made inside that was not kept.</summary>
    public void Dispose()
    {
        Open.Remove(this);
        lock (gate)
        {
            if (disposed) return;
            disposed = true;
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
    // an optimizer step frees three buffers a parameter (values and two moments), and models repeat
    // shapes: ten 100,000-element parameters under Adam free 30 of one length a step, and a cap of
    // 8 sent 22 of them (8.6 MB a step) to the GC, with a gen-2 collection every few steps
    const int PerLength = 64;

    /// <summary>Buffers shorter than this are left to the GC: pooling them costs more than it saves.</summary>
    public const int MinPooled = 256;
    const long MaxPooledBytes = 1L << 30;
    static long pooledBytes;

    /// <summary>Free buffers by length, each list behind its own lock (ConcurrentBag's lock-taking pops showed up in profiles).</summary>
    static class Pool<T> where T : unmanaged
    {
        public static readonly ConcurrentDictionary<int, Stack<T[]>> ByLength = new();
    }

    /// <summary>A buffer of n elements whose contents are unspecified: the caller writes every one.</summary>
    public static T[] Uninitialized<T>(int n) where T : unmanaged
    {
        if (n >= MinPooled && TensorScope.Current is not null && Pool<T>.ByLength.TryGetValue(n, out var free))
        {
            T[]? a = null;
            lock (free) free.TryPop(out a);
            if (a is not null)
            {
                Interlocked.Add(ref pooledBytes, -(long)n * Unsafe.SizeOf<T>());
                return a;
            }
        }
        try { return GC.AllocateUninitializedArray<T>(n); }
        catch (OutOfMemoryException e) { throw OutOfMemory<T>(n, e); }
    }

    /// <summary>The runtime's bare OutOfMemoryException, as one that names the op and the size.</summary>
    static TensorOutOfMemoryException OutOfMemory<T>(int n, OutOfMemoryException e) =>
        new(OpCall.Blame("alloc"), (long)n * Unsafe.SizeOf<T>(), e);

    /// <summary>A buffer of n zeros.</summary>
    public static T[] Zeroed<T>(int n) where T : unmanaged
    {
        if (n < MinPooled || TensorScope.Current is null)
        {
            try { return new T[n]; }
            catch (OutOfMemoryException e) { throw OutOfMemory<T>(n, e); }
        }
        var a = Uninitialized<T>(n);
        Array.Clear(a);
        return a;
    }

    public static void Return<T>(T[] a) where T : unmanaged
    {
        long bytes = (long)a.Length * Unsafe.SizeOf<T>();
        if (Interlocked.Add(ref pooledBytes, bytes) > MaxPooledBytes)
        {
            Interlocked.Add(ref pooledBytes, -bytes);
            return;
        }
        var free = Pool<T>.ByLength.GetOrAdd(a.Length, _ => new Stack<T[]>());
        bool added = false;
        lock (free)
            if (free.Count < PerLength)
            {
                free.Push(a);
                added = true;
            }
        if (!added) Interlocked.Add(ref pooledBytes, -bytes);
    }
}
