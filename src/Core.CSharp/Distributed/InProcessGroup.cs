using System.Numerics;

namespace Cotangent.Distributed;

/// <summary>
/// The meeting place of in-process ranks. Each rank numbers its collectives 0, 1, 2, …; the
/// n-th collective of every rank meets in one slot, whatever order threads reach it in (DDP
/// posts buckets while backward runs), and is checked to be the same kind of call. The last
/// rank to arrive computes the result, in rank order, for everyone.
/// </summary>
internal sealed class InProcessWorld(int size)
{
    sealed class Slot(int size, string kind)
    {
        public readonly string Kind = kind;
        public readonly Array?[] Parts = new Array?[size];
        public int Arrived, Collected;
        public Array? Result;
    }

    readonly object gate = new();
    readonly Dictionary<long, Slot> slots = [];
    Exception? failure;

    public int Size { get; } = size;

    /// <summary>Fails every rank's current and later collectives with this error.</summary>
    public void Fail(DistributedException e)
    {
        lock (gate)
        {
            failure ??= e;
            Monitor.PulseAll(gate);
        }
    }

    /// <summary>Adds this rank's part to collective <paramref name="seq"/>; the last part in computes the result.</summary>
    public void Arrive(long seq, int rank, string kind, Array part, Func<Array?[], Array> combine)
    {
        lock (gate)
        {
            ThrowIfFailed();
            if (!slots.TryGetValue(seq, out var slot)) slots[seq] = slot = new Slot(Size, kind);
            if (slot.Kind != kind)
            {
                var e = new DistributedException($"{kind}: rank {rank} called {kind} as collective #{seq}, where another rank called {slot.Kind}: every rank must call the same collectives in the same order");
                failure ??= e;
                Monitor.PulseAll(gate);
                throw e;
            }
            slot.Parts[rank] = part;
            if (++slot.Arrived == Size)
            {
                try { slot.Result = combine(slot.Parts); }
                catch (Exception ex)
                {
                    failure ??= ex as DistributedException ?? new DistributedException($"{kind}: collective #{seq} failed: {ex.Message}", ex);
                    Monitor.PulseAll(gate);
                    throw;
                }
                Monitor.PulseAll(gate);
            }
        }
    }

    /// <summary>True once collective <paramref name="seq"/> has its result.</summary>
    public bool Done(long seq)
    {
        lock (gate)
        {
            ThrowIfFailed();
            return slots.TryGetValue(seq, out var s) && s.Result is not null;
        }
    }

    /// <summary>Waits for collective <paramref name="seq"/>'s result, until <paramref name="deadline"/>; then fails the world.</summary>
    public Array Collect(long seq, int rank, long deadline, TimeSpan timeout)
    {
        lock (gate)
        {
            while (true)
            {
                ThrowIfFailed();
                var slot = slots[seq];
                if (slot.Result is { } result)
                {
                    if (++slot.Collected == Size) slots.Remove(seq);
                    return result;
                }
                var left = TimeSpan.FromSeconds((deadline - System.Diagnostics.Stopwatch.GetTimestamp()) / (double)System.Diagnostics.Stopwatch.Frequency);
                if (left <= TimeSpan.Zero)
                {
                    var missing = Enumerable.Range(0, Size).Where(r => slot.Parts[r] is null);
                    var e = new DistributedException(
                        $"{slot.Kind}: rank {rank} waited {timeout.TotalSeconds:0.###} s for collective #{seq}; ranks {string.Join(", ", missing)} never joined it (a rank failed, hung or called a different sequence)");
                    failure ??= e;
                    Monitor.PulseAll(gate);
                    throw e;
                }
                Monitor.Wait(gate, left);
            }
        }
    }

    void ThrowIfFailed()
    {
        if (failure is { } f) throw new DistributedException($"the process group failed: {f.Message}", f);
    }
}

/// <summary>One rank of an in-process world: a thread that plays one process.</summary>
internal sealed class InProcessGroup(InProcessWorld world, int rank) : ProcessGroup(rank, world.Size, rank)
{
    readonly InProcessWorld world = world;
    long next;

    public override string Backend => "in-process";

    /// <summary>A world of one: nothing to wait for, and any thread may call it (the op suite's cases do, in parallel).</summary>
    sealed class Done : CollectiveWork
    {
        public static readonly Done Instance = new();

        public override bool Test() => true;

        public override void Wait() { }
    }

    sealed class Work(InProcessGroup group, long seq, Action<Array> finish) : CollectiveWork
    {
        // a monotonic deadline: the wall clock may jump
        readonly long deadline = System.Diagnostics.Stopwatch.GetTimestamp() + (long)(group.Timeout.TotalSeconds * System.Diagnostics.Stopwatch.Frequency);
        bool done;

        public override bool Test() => done || group.world.Done(seq);

        public override void Wait()
        {
            if (done) return;
            finish(group.world.Collect(seq, group.Rank, deadline, group.Timeout));
            done = true;
        }
    }

    CollectiveWork Post(string kind, Array part, Func<Array?[], Array> combine, Action<Array> finish)
    {
        CheckOpen(kind);
        if (world.Size == 1)
        {
            finish(combine([part]));
            return Done.Instance;
        }
        long seq = next++;
        world.Arrive(seq, Rank, kind, part, combine);
        return new Work(this, seq, finish);
    }

    internal override CollectiveWork PostAllReduce<T>(T[] data, ReduceOp op)
    {
        if (WorldSize == 1)
        {
            CheckOpen("all_reduce");
            return Done.Instance;   // every reduction of one value is that value
        }
        var mine = (T[])data.Clone();
        int n = WorldSize;
        // the kind carries the reduction and the element type: ranks that disagree on either fail
        return Post($"all_reduce ({op}, {typeof(T).Name})", mine, parts =>
        {
            var length = parts[0]!.Length;
            for (int r = 1; r < n; r++)
                if (parts[r]!.Length != length)
                    throw new DistributedException($"all_reduce: rank {r} passed {parts[r]!.Length} elements where rank 0 passed {length}");
            var acc = (T[])((T[])parts[0]!).Clone();
            for (int r = 1; r < n; r++)
            {
                var p = (T[])parts[r]!;
                for (int i = 0; i < acc.Length; i++)
                    acc[i] = op switch
                    {
                        ReduceOp.Sum or ReduceOp.Average => acc[i] + p[i],
                        ReduceOp.Max => T.IsNaN(acc[i]) || T.IsNaN(p[i]) ? (T.IsNaN(acc[i]) ? acc[i] : p[i]) : T.Max(acc[i], p[i]),
                        ReduceOp.Min => T.IsNaN(acc[i]) || T.IsNaN(p[i]) ? (T.IsNaN(acc[i]) ? acc[i] : p[i]) : T.Min(acc[i], p[i]),
                        _ => throw new DistributedException($"all_reduce: no reduction {op}"),
                    };
            }
            if (op == ReduceOp.Average)
                for (int i = 0; i < acc.Length; i++) acc[i] /= T.CreateTruncating(n);
            return acc;
        }, result => Array.Copy(result, data, data.Length));
    }

    internal override void BroadcastRaw<T>(T[] data, int root, string kind) =>
        Post($"{kind} (root {root})", (T[])data.Clone(), parts => parts[root]!, result => Array.Copy(result, data, data.Length)).Wait();

    internal override T[] AllGatherRaw<T>(T[] mine, string kind)
    {
        T[]? gathered = null;
        int n = WorldSize;
        Post(kind, (T[])mine.Clone(), parts =>
        {
            for (int r = 1; r < n; r++)
                if (parts[r]!.Length != parts[0]!.Length)
                    throw new DistributedException($"{kind}: rank {r} passed {parts[r]!.Length} elements where rank 0 passed {parts[0]!.Length}");
            return parts.SelectMany(p => (T[])p!).ToArray();
        }, result => gathered = (T[])result).Wait();
        return gathered!;
    }

    public override void Abort(string reason) => world.Fail(new DistributedException($"rank {Rank} aborted the group: {reason}"));
}
