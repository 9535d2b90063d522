using ILGPU;
using ILGPU.Runtime;

namespace Cotangent.Backends.Gpu;

/// <summary>A piece of a segment: in use by one tensor, or free.</summary>
internal sealed class Block
{
    public required Segment Segment;
    public long Offset, Size;
    public bool Free;
    public Block? Prev, Next;
}

/// <summary>One allocation from the device (one cuMemAlloc), carved into blocks.</summary>
internal sealed class Segment
{
    public required MemoryBuffer1D<byte, Stride1D.Dense> Buffer;
    public long Size;
    public bool Small;
    public int Id;
}

/// <summary>
/// A caching allocator per device, PyTorch's design: requests round up to 512 bytes; up to 1 MiB
/// they come from a small pool carved from 2 MiB segments, above from a large pool (20 MiB
/// segments for requests under 10 MiB, else the request rounded to 2 MiB); the best-fitting
/// free block is split when enough is left and merged with free neighbours when it comes back.
/// A training step that frees its intermediates at the end of a scope asks the driver for
/// nothing in the next. A request the device (or the set limit) cannot meet first empties the
/// cache (segments wholly free go back to the driver) and retries once, then raises
/// <see cref="OutOfDeviceMemoryException"/>; the allocator stays usable. Thread-safe: every
/// call takes the device's gate, except <see cref="FreeLater"/>, which a finalizer calls: it
/// only queues the block (a finalizer that waited on the gate could stall the finalizer thread
/// behind a long launch, or deadlock a thread that waits for finalizers while holding it); the
/// queue is drained by the next call that holds the gate. Before the out-of-memory error, the
/// allocator also collects garbage once: tensors kept past their scope and dropped give their
/// blocks back only when finalized.
/// </summary>
internal sealed class CachingAllocator(Device device, Accelerator accelerator, object gate)
{
    const long Round = 512, SmallRequest = 1 << 20, SmallSegment = 2 << 20, LargeSegment = 20 << 20, MidRequest = 10 << 20, RoundLarge = 2 << 20;

    sealed class BySize : IComparer<Block>
    {
        public static readonly BySize Instance = new();

        public int Compare(Block? a, Block? b)
        {
            int c = a!.Size.CompareTo(b!.Size);
            if (c != 0) return c;
            c = a.Segment.Id.CompareTo(b.Segment.Id);
            return c != 0 ? c : a.Offset.CompareTo(b.Offset);
        }
    }

    readonly SortedSet<Block> smallFree = new(BySize.Instance), largeFree = new(BySize.Instance);
    readonly List<Segment> segments = [];
    int nextSegment;
    readonly Segment probeSegment = new() { Buffer = null!, Id = -1 };
    readonly System.Collections.Concurrent.ConcurrentQueue<Block> finalized = new();

    long allocated, reserved, maxAllocated;

    /// <summary>Bytes in blocks handed out (blocks finalized since the last call counted back first).</summary>
    public long Allocated => Read(ref allocated);

    /// <summary>Bytes held from the device (segments).</summary>
    public long Reserved => Read(ref reserved);

    /// <summary>The most bytes handed out at once since the last reset.</summary>
    public long MaxAllocated => Read(ref maxAllocated);

    long Read(ref long counter)
    {
        lock (gate)
        {
            DrainFinalized();
            return counter;
        }
    }

    /// <summary>The most bytes this allocator may hold from the device; null for no limit but the device's.</summary>
    public long? Limit { get; set; }

    /// <summary>A block of at least <paramref name="bytes"/> bytes, 512-aligned in its segment.</summary>
    public Block Allocate(long bytes, string op)
    {
        long size = Math.Max(Round, (bytes + Round - 1) / Round * Round);
        lock (gate)
            if (TryAllocate(size) is { } block) return block;
        // what is unreachable but not yet finalized still holds blocks: collect, then try again
        GC.Collect();
        GC.WaitForPendingFinalizers();
        lock (gate)
            return TryAllocate(size)
                ?? throw new OutOfDeviceMemoryException(op, device, bytes, allocated, reserved, FreeBytes());
    }

    /// <summary>What is left under the limit, or what the driver says is free; null on the CPU accelerator without a limit.</summary>
    long? FreeBytes()
    {
        long? device = null;
        if (accelerator is ILGPU.Runtime.Cuda.CudaAccelerator cuda)
            try { device = cuda.GetFreeMemory(); }
            catch (AcceleratorException) { }   // only for the message: the request failed either way
        long? underLimit = Limit is { } l ? Math.Max(0, l - reserved) : null;
        return (device, underLimit) switch
        {
            ({ } d, { } u) => Math.Min(d, u),
            _ => device ?? underLimit,
        };
    }

    Block? TryAllocate(long size)
    {
        DrainFinalized();
        bool small = size <= SmallRequest;
        var pool = small ? smallFree : largeFree;
        var block = BestFit(pool, size) ?? FromNewSegment(size, small);
        if (block is null) return null;
        pool.Remove(block);
        long rest = block.Size - size;
        if (small ? rest >= Round : rest > SmallRequest)
        {
            var tail = new Block { Segment = block.Segment, Offset = block.Offset + size, Size = rest, Free = true, Prev = block, Next = block.Next };
            if (block.Next is { } n) n.Prev = tail;
            block.Next = tail;
            block.Size = size;
            pool.Add(tail);
        }
        block.Free = false;
        allocated += block.Size;
        maxAllocated = Math.Max(maxAllocated, allocated);
        return block;
    }

    Block? BestFit(SortedSet<Block> pool, long size)
    {
        if (pool.Count == 0 || pool.Max!.Size < size) return null;
        var probe = new Block { Segment = probeSegment, Size = size, Offset = long.MinValue };
        return pool.GetViewBetween(probe, pool.Max).Min;
    }

    /// <summary>A free block spanning a new segment, or null where neither the device nor the limit has room even after emptying the cache.</summary>
    Block? FromNewSegment(long size, bool small)
    {
        // PyTorch's segment sizes; where one does not fit (near the device's end, or a limit), a
        // segment of just the request (2 MiB-rounded) still may: PyTorch would raise there
        long fitted = (size + RoundLarge - 1) / RoundLarge * RoundLarge;
        long preferred = small ? SmallSegment : size < MidRequest ? LargeSegment : fitted;
        long segmentSize = preferred;
        var buffer = TryReserve(preferred) ?? (fitted < preferred ? TryReserve(segmentSize = fitted) : null);
        if (buffer is null)
        {
            EmptyCacheLocked();
            buffer = TryReserve(segmentSize = preferred) ?? (fitted < preferred ? TryReserve(segmentSize = fitted) : null);
        }
        if (buffer is null) return null;
        var segment = new Segment { Buffer = buffer, Size = segmentSize, Small = small, Id = nextSegment++ };
        segments.Add(segment);
        reserved += segmentSize;
        var block = new Block { Segment = segment, Offset = 0, Size = segmentSize, Free = true };
        (small ? smallFree : largeFree).Add(block);
        return block;
    }

    MemoryBuffer1D<byte, Stride1D.Dense>? TryReserve(long bytes)
    {
        if (Limit is { } limit && reserved + bytes > limit) return null;
        try
        {
            accelerator.Bind();
            return accelerator.Allocate1D<byte>(bytes);
        }
        // the CPU accelerator's Marshal.AllocHGlobal, or the driver's own out-of-memory code;
        // any other driver error is not a full device and must surface as itself
        catch (OutOfMemoryException) { return null; }
        catch (ILGPU.Runtime.Cuda.CudaException e) when (e.Error == "CUDA_ERROR_OUT_OF_MEMORY") { return null; }
    }

    /// <summary>Gives a block back; it merges with free neighbours in its segment.</summary>
    public void Free(Block block)
    {
        lock (gate) FreeLocked(block);
    }

    /// <summary>Queues a block to be given back by the next call that holds the gate (for finalizers).</summary>
    public void FreeLater(Block block) => finalized.Enqueue(block);

    void DrainFinalized()
    {
        while (finalized.TryDequeue(out var b)) FreeLocked(b);
    }

    void FreeLocked(Block block)
    {
        if (block.Free) return;
        var pool = block.Segment.Small ? smallFree : largeFree;
        allocated -= block.Size;
        block.Free = true;
        if (block.Prev is { Free: true } p)
        {
            pool.Remove(p);
            p.Size += block.Size;
            p.Next = block.Next;
            if (block.Next is { } n) n.Prev = p;
            block = p;
        }
        if (block.Next is { Free: true } next)
        {
            pool.Remove(next);
            block.Size += next.Size;
            block.Next = next.Next;
            if (next.Next is { } nn) nn.Prev = block;
        }
        pool.Add(block);
    }

    /// <summary>Returns every wholly free segment to the device (torch.cuda.empty_cache).</summary>
    public void EmptyCache()
    {
        lock (gate) EmptyCacheLocked();
    }

    void EmptyCacheLocked()
    {
        DrainFinalized();
        for (int i = segments.Count - 1; i >= 0; i--)
        {
            var s = segments[i];
            var pool = s.Small ? smallFree : largeFree;
            var whole = new Block { Segment = s, Offset = 0, Size = s.Size };
            if (!pool.TryGetValue(whole, out var b) || b.Prev is not null || b.Next is not null) continue;
            pool.Remove(b);
            accelerator.Bind();
            accelerator.Synchronize();
            s.Buffer.Dispose();
            reserved -= s.Size;
            segments.RemoveAt(i);
        }
    }

    /// <summary>Starts <see cref="MaxAllocated"/> again from what is allocated now.</summary>
    public void ResetPeak()
    {
        lock (gate)
        {
            DrainFinalized();
            maxAllocated = allocated;
        }
    }
}
