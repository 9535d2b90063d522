using System.Diagnostics;
using System.Numerics;
using System.Text;
using Cotangent.Nn;

namespace Cotangent.Distributed;

/// <summary>
/// Data-parallel training over the ranks of a <see cref="ProcessGroup"/>, as PyTorch's
/// <c>DistributedDataParallel</c>: each rank runs the same model on its own shard of the batch,
/// and backward leaves on every rank the average of all ranks' gradients, so one optimizer step
/// per rank keeps the replicas identical. At construction every rank must hold the same
/// parameter names, shapes and dtypes (a mismatch names the parameter and the ranks), and rank
/// 0's values are copied to all, buffers included (and buffers again at every forward). Gradients are averaged in buckets of about
/// <c>bucketCapMb</c> megabytes, parameters in reverse order (the order backward produces them);
/// a bucket's all-reduce starts as soon as its last gradient is complete, while backward goes
/// on, and buckets start in the same order on every rank. Inside <see cref="NoSync"/> gradients
/// only accumulate locally; the next backward outside it averages the sums. Wrap after moving the
/// module to its device (<c>module.To(group.LocalDevice)</c>).
/// </summary>
public sealed class DistributedDataParallel : Module
{
    readonly GradHook hook;
    readonly Parameter[] parameters;
    readonly Bucket[] buckets;
    readonly Dictionary<object, (int Bucket, int Slot)> byAccumulator = new(ReferenceEqualityComparer.Instance);
    readonly bool overlap;
    int next, noSync;
    readonly Stopwatch waiting = new();
    static long made;
    readonly long order = Interlocked.Increment(ref made);

    // decided by Forward, as PyTorch's prepare_for_backward: only a backward after a forward of
    // this module reduces, and NoSync at forward time decides whether it does
    volatile bool expecting, syncing;

    /// <summary>Wraps <paramref name="module"/> for the ranks of <paramref name="group"/>; every rank must construct it, with the same model.</summary>
    public DistributedDataParallel(Module module, ProcessGroup group, double bucketCapMb = 25, bool overlap = true)
    {
        const string op = "distributed_data_parallel";
        if (module is null) throw new OpArgumentException(op, $"{op}: the module is null");
        if (group is null) throw new OpArgumentException(op, $"{op}: the process group is null");
        if (!(bucketCapMb > 0) || double.IsInfinity(bucketCapMb))
            throw new OpArgumentException(op, $"{op}: the bucket size must be a positive number of megabytes, got {bucketCapMb}");
        Module = AddModule("module", module);
        Group = group;
        this.overlap = overlap;
        hook = new GradHook(this);
        var named = module.NamedParameters().ToArray();
        parameters = [.. named.Select(p => p.Parameter)];
        CheckSameEverywhere(op, group, named);
        using (Autograd.NoGrad())
            foreach (var p in parameters)
                p.Assign(group.Broadcast(p.Value.Detach(), 0));
        buffers = [.. module.NamedBuffers().Select(b => b.Buffer)];
        BroadcastBuffers();
        buckets = MakeBuckets(parameters, (long)(bucketCapMb * 1024 * 1024));
        for (int b = 0; b < buckets.Length; b++)
            for (int s = 0; s < buckets[b].Members.Length; s++)
            {
                var acc = buckets[b].Members[s].Value.Accumulator!;
                if (acc.Hook is not null && !ReferenceEquals(acc.Hook, hook))
                    throw new InvalidOperationException($"{op}: a parameter is already wrapped by another DistributedDataParallel");
                acc.Hook = hook;
                byAccumulator[acc] = (b, s);
            }
    }

    /// <summary>The wrapped module (registered as the child "module", as PyTorch names it).</summary>
    public Module Module { get; }

    /// <summary>The ranks that average gradients.</summary>
    public ProcessGroup Group { get; }

    /// <summary>How many buckets the gradients travel in.</summary>
    public int BucketCount => buckets.Length;

    /// <summary>Time the last synchronised backward spent waiting for all-reduces after its own work was done.</summary>
    public TimeSpan LastWait { get; private set; }

    readonly Nn.Buffer[] buffers;

    /// <summary>Rank 0's buffers on every rank (PyTorch's broadcast_buffers): batch norm's running statistics stay one set.</summary>
    void BroadcastBuffers()
    {
        using var _ = Autograd.NoGrad();
        foreach (var b in buffers) b.Assign(Group.Broadcast(b.Value, 0));
    }

    /// <summary>
    /// The wrapped module's forward, after rank 0's buffers are broadcast to every rank (as
    /// PyTorch's broadcast_buffers; each rank then updates them from its own shard, and the next
    /// forward broadcasts rank 0's again). Every rank must call it, as every collective.
    /// </summary>
    public override Tensor Forward(Tensor input)
    {
        if (buffers.Length > 0) BroadcastBuffers();
        foreach (var p in parameters)
            if (!ReferenceEquals(p.Value.Accumulator?.Hook, hook))
                throw new InvalidOperationException("distributed_data_parallel: a parameter was moved or replaced after wrapping (module.To?); move the module first, then wrap it");
        if (GradMode.IsEnabled)
        {
            syncing = Volatile.Read(ref noSync) == 0;
            expecting = true;
        }
        return Module.Forward(input);
    }

    /// <summary>
    /// Until disposed, backward only accumulates gradients on this rank (PyTorch's
    /// <c>no_sync()</c>): for gradient accumulation over micro-batches, the last of which runs
    /// outside the scope and averages the accumulated sums.
    /// </summary>
    public IDisposable NoSync()
    {
        Interlocked.Increment(ref noSync);
        return new Scope(this);
    }

    sealed class Scope(DistributedDataParallel owner) : IDisposable
    {
        int done;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref done, 1) == 0) Interlocked.Decrement(ref owner.noSync);
        }
    }

    // ---- the hook --------------------------------------------------------------------------

    // the engine's hook interface is internal, so a nested object implements it for the module
    sealed class GradHook(DistributedDataParallel owner) : IGradHook
    {
        public long Order => owner.order;
        public void Ready(Tensor leaf) => owner.Ready(leaf);
        public void Finished(Exception? failure) => owner.Finished(failure);
    }

    void Ready(Tensor leaf)
    {
        if (!expecting || !syncing || !byAccumulator.TryGetValue(leaf.Accumulator!, out var at)) return;
        var bucket = buckets[at.Bucket];
        if (!bucket.Ready[at.Slot])
        {
            bucket.Ready[at.Slot] = true;
            bucket.ReadyCount++;
        }
        if (!overlap) return;
        // buckets start in index order on every rank, so MPI sees the same sequence everywhere
        while (next < buckets.Length && buckets[next].ReadyCount == buckets[next].Members.Length) Launch(buckets[next++]);
        for (int b = 0; b < next; b++) buckets[b].Work?.Test();   // MPI progresses only when polled
    }

    void Finished(Exception? failure)
    {
        if (!expecting) return;   // a backward through these parameters that no forward of this module prepared
        expecting = false;
        if (!syncing) return;
        if (failure is not null)
        {
            // the other ranks are waiting for this rank's buckets: stop them with the reason
            Group.Abort($"backward failed on rank {Group.Rank}: {failure.Message}");
            Reset();
            return;
        }
        try
        {
            // a parameter this pass did not reach adds its current gradient (or zeros)
            while (next < buckets.Length) Launch(buckets[next++]);
            waiting.Restart();
            foreach (var b in buckets) b.Work!.Wait();
            waiting.Stop();
            LastWait = waiting.Elapsed;
            using (Autograd.NoGrad())
                foreach (var b in buckets) b.Scatter();
        }
        finally
        {
            Reset();
        }
    }

    void Reset()
    {
        next = 0;
        foreach (var b in buckets)
        {
            Array.Clear(b.Ready);
            b.ReadyCount = 0;
            b.Work = null;
        }
    }

    void Launch(Bucket b) => b.Work = b.Post(Group);

    // ---- buckets ---------------------------------------------------------------------------

    /// <summary>Parameters of one dtype and device, flattened into one host buffer for one all-reduce.</summary>
    sealed class Bucket(Parameter[] members, DType dtype)
    {
        public readonly Parameter[] Members = members;
        public readonly bool[] Ready = new bool[members.Length];
        public int ReadyCount;
        public CollectiveWork? Work;
        Array? buffer;

        public CollectiveWork Post(ProcessGroup group) => dtype switch
        {
            DType.Float32 => PostT<float>(group),
            DType.Float64 => PostT<double>(group),
            var t => throw new DTypeMismatchException("distributed_data_parallel", $"distributed_data_parallel: {t.Name()} parameters cannot be averaged"),
        };

        /// <summary>
        /// Flattens the gradients, followed by one flag a parameter (1 where this rank has a
        /// gradient): a parameter no rank has a gradient for keeps none, as in one process,
        /// so an optimizer skips it instead of stepping on zeros.
        /// </summary>
        CollectiveWork PostT<T>(ProcessGroup group) where T : unmanaged, INumber<T>
        {
            int total = Members.Sum(p => ShapeMath.Numel(p.Shape));
            // one buffer for the bucket's life (a fresh megabyte a step cost a large-object allocation and gen2 collections)
            var data = buffer as T[] ?? new T[total + Members.Length];
            for (int i = 0; i < Members.Length; i++)
                data[total + i] = Members[i].Grad is not null ? T.One : T.Zero;
            int at = 0;
            foreach (var p in Members)
            {
                int n = ShapeMath.Numel(p.Shape);
                if (p.Grad is { } g)
                {
                    // a host gradient is read in place; a device one stages through the host
                    if (g.Device == Device.Cpu) Backends.Cpu.Walk.Span<T>(g.View).CopyTo(data.AsSpan(at, n));
                    else g.ToArray<T>().CopyTo(data, at);
                }
                else data.AsSpan(at, n).Clear();
                at += n;
            }
            buffer = data;
            return group.PostAllReduce(data, ReduceOp.Average);
        }

        public void Scatter()
        {
            switch (buffer)
            {
                case float[] f: ScatterT(f); break;
                case double[] d: ScatterT(d); break;
            }
        }

        /// <summary>
        /// Each parameter's averaged gradient, copied out of the bucket into a buffer of its own
        /// (from the scope's pool on the CPU) and held as the backward pass holds the gradients
        /// it makes: retained, so ZeroGrad in the next step gives it back for reuse.
        /// </summary>
        void ScatterT<T>(T[] data) where T : unmanaged
        {
            var device = Members[0].Value.Device;
            int at = 0, total = data.Length - Members.Length;
            for (int i = 0; i < Members.Length; i++)
            {
                var p = Members[i];
                int n = ShapeMath.Numel(p.Shape);
                bool anyone = !EqualityComparer<T>.Default.Equals(data[total + i], default);
                if (anyone)
                {
                    Tensor g;
                    if (device == Device.Cpu)
                    {
                        var own = Buffers.Uninitialized<T>(n);
                        data.AsSpan(at, n).CopyTo(own);
                        g = Tensor.Adopt("distributed_data_parallel", own, p.Shape, Device.Cpu);
                    }
                    else g = Tensor.FromArray(data.AsSpan(at, n).ToArray(), p.Shape, device);
                    p.SetGradOwned(g);
                }
                at += n;
            }
        }
    }

    static Bucket[] MakeBuckets(Parameter[] ps, long cap)
    {
        var made = new List<Bucket>();
        var open = new Dictionary<(DType, Device), (List<Parameter> Members, long Bytes)>();
        // reverse registration order: the last layers' gradients are ready first
        for (int i = ps.Length - 1; i >= 0; i--)
        {
            var p = ps[i];
            var key = (p.Value.DType, p.Value.Device);
            long bytes = (long)ShapeMath.Numel(p.Shape) * p.Value.DType.Size();
            if (!open.TryGetValue(key, out var b)) b = ([], 0);
            b.Members.Add(p);
            b.Bytes += bytes;
            if (b.Bytes >= cap)
            {
                made.Add(new Bucket([.. b.Members], key.Item1));
                open.Remove(key);
            }
            else open[key] = b;
        }
        foreach (var (key, b) in open) made.Add(new Bucket([.. b.Members], key.Item1));
        return [.. made];
    }

    // ---- the check at wrap time ------------------------------------------------------------

    static void CheckSameEverywhere(string op, ProcessGroup group, (string Name, Parameter Parameter)[] named)
    {
        // devices may differ by ordinal (each rank its own GPU), not by kind
        var mine = string.Join("\n", named.Select(p => $"{p.Name}\t{ShapeMath.Format(p.Parameter.Shape)} {p.Parameter.Value.DType.Name()} ({p.Parameter.Value.Device.Type.ToString().ToLowerInvariant()})"));
        var bytes = Encoding.UTF8.GetBytes(mine);
        var lengths = group.AllGatherRaw(new long[] { bytes.Length }, op);
        long longest = lengths.Max();
        var padded = new long[longest];
        for (int i = 0; i < bytes.Length; i++) padded[i] = bytes[i];
        var all = group.AllGatherRaw(padded, op);
        List<(string Name, string What)> Read(int rank)
        {
            var b = new byte[lengths[rank]];
            for (int i = 0; i < b.Length; i++) b[i] = (byte)all[rank * longest + i];
            var text = Encoding.UTF8.GetString(b);
            return text.Length == 0 ? [] : [.. text.Split('\n').Select(l => l.Split('\t')).Select(l => (l[0], l[1]))];
        }
        // every rank reads the same gathered lists, so every rank raises the same error
        for (int r = 1; r < group.WorldSize; r++)
            if (!all.AsSpan(r * (int)longest, (int)longest).SequenceEqual(all.AsSpan(0, (int)longest)) || lengths[r] != lengths[0])
            {
                var a = Read(0);
                var b = Read(r);
                Describe(a.ToDictionary(p => p.Name, p => p.What), b.ToDictionary(p => p.Name, p => p.What), r);
                // the same parameters, in another order: broadcast and buckets go by position
                int at = Enumerable.Range(0, a.Count).First(i => a[i].Name != b[i].Name);
                throw new DistributedException($"{op}: rank 0 registers parameter '{a[at].Name}' at position {at}, rank {r} registers '{b[at].Name}' there: every rank must build the model in the same order");
            }

        void Describe(Dictionary<string, string> first, Dictionary<string, string> other, int r)
        {
            foreach (var (name, what) in first)
            {
                if (!other.TryGetValue(name, out var theirs))
                    throw new DistributedException($"{op}: parameter '{name}' ({what}) exists on rank 0 but not on rank {r}: every rank must wrap the same model");
                if (theirs != what)
                    throw new DistributedException($"{op}: parameter '{name}' is {what} on rank 0 but {theirs} on rank {r}: every rank must wrap the same model");
            }
            foreach (var (name, what) in other)
                if (!first.ContainsKey(name))
                    throw new DistributedException($"{op}: parameter '{name}' ({what}) exists on rank {r} but not on rank 0: every rank must wrap the same model");
        }
    }
}
