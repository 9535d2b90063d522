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
/// call takes the device's gate, and a block freed by a finalizer makes no driver call.
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

    /// <summary>Bytes in blocks handed out.</summary>
    public long Allocated { get; private set; }

    /// <summary>Bytes held from the device (segments).</summary>
    public long Reserved { get; private set; }

    /// <summary>The most bytes handed out at once since the last reset.</summary>
    public long MaxAllocated { get; private set; }

    /// <summary>The most bytes this allocator may hold from the device; null for no limit but the device's.</summary>
    public long? Limit { get; set; }

    /// <summary>A block of at least <paramref name="bytes"/> bytes, 512-aligned in its segment.</summary>
    public Block Allocate(long bytes, string op)
    {
        long size = Math.Max(Round, (bytes + Round - 1) / Round * Round);
        bool small = size <= SmallRequest;
        lock (gate)
        {
            var block = BestFit(small ? smallFree : largeFree, size) ?? FromNewSegment(size, small, bytes, op);
            var pool = small ? smallFree : largeFree;
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
            Allocated += block.Size;
            MaxAllocated = Math.Max(MaxAllocated, Allocated);
            return block;
        }
    }

    Block? BestFit(SortedSet<Block> pool, long size)
    {
        if (pool.Count == 0 || pool.Max!.Size < size) return null;
        var probe = new Block { Segment = probeSegment, Size = size, Offset = long.MinValue };
        return pool.GetViewBetween(probe, pool.Max).Min;
    }

    Block FromNewSegment(long size, bool small, long requested, string op)
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
        if (buffer is null)
            throw new OutOfDeviceMemoryException(op, device, requested, Allocated, Reserved, Limit is { } l ? Math.Max(0, l - Reserved) : null);
        var segment = new Segment { Buffer = buffer, Size = segmentSize, Small = small, Id = nextSegment++ };
        segments.Add(segment);
        Reserved += segmentSize;
        var block = new Block { Segment = segment, Offset = 0, Size = segmentSize, Free = true };
        (small ? smallFree : largeFree).Add(block);
        return block;
    }

    MemoryBuffer1D<byte, Stride1D.Dense>? TryReserve(long bytes)
    {
        if (Limit is { } limit && Reserved + bytes > limit) return null;
        try
        {
            accelerator.Bind();
            return accelerator.Allocate1D<byte>(bytes);
        }
        catch (Exception e) when (e is OutOfMemoryException or AcceleratorException) { return null; }
    }

    /// <summary>Gives a block back; it merges with free neighbours in its segment.</summary>
    public void Free(Block block)
    {
        lock (gate)
        {
            if (block.Free) return;
            var pool = block.Segment.Small ? smallFree : largeFree;
            Allocated -= block.Size;
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
    }

    /// <summary>Returns every wholly free segment to the device (torch.cuda.empty_cache).</summary>
    public void EmptyCache()
    {
        lock (gate) EmptyCacheLocked();
    }

    void EmptyCacheLocked()
    {
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
            Reserved -= s.Size;
            segments.RemoveAt(i);
        }
    }

    /// <summary>Starts <see cref="MaxAllocated"/> again from what is allocated now.</summary>
    public void ResetPeak()
    {
        lock (gate) MaxAllocated = Allocated;
    }
}
