using System.Numerics;

namespace Cotangent.Distributed;

/// <summary>How a collective combines the ranks' values.</summary>
public enum ReduceOp
{
    /// <summary>The sum over ranks.</summary>
    Sum,
    /// <summary>The sum divided by the world size (integer division for int64).</summary>
    Average,
    /// <summary>The largest value (in process NaN wins, as in max; MPI's MPI_MAX does not promise it).</summary>
    Max,
    /// <summary>The smallest value.</summary>
    Min,
}

/// <summary>
/// A collective failed on some rank, timed out, or was called differently by the ranks: every
/// rank of the group gets this, not a hang (MPI ranks are aborted instead, with the message on
/// stderr: an MPI job cannot be resumed once one collective is lost).
/// </summary>
public sealed class DistributedException(string message, Exception? inner = null) : InvalidOperationException(message, inner);

/// <summary>
/// The processes (ranks) that train together, as <c>torch.distributed</c>'s process group: each
/// rank knows its <see cref="Rank"/>, the <see cref="WorldSize"/> and its <see cref="LocalRank"/>
/// on its host, and calls the same collectives in the same order. Tensors of any device take
/// part; GPU tensors stage through host memory (no NCCL yet). Every rank gets the same bits:
/// in process, sums add the ranks' values in rank order and NaN wins max and min; over MPI,
/// MPICH's reductions decide the order (the same result on every rank) and its max and min
/// follow C's comparisons, where NaN does not win. Two backends: <see cref="Mpi"/> (one process per
/// rank, launched by <c>mpiexec -n N</c>, across hosts with a host file) and
/// <see cref="InProcess"/> (one thread per rank, for tests). A collective that waits longer than
/// <see cref="Timeout"/> fails the whole group.
/// </summary>
public abstract class ProcessGroup : IDisposable
{
    private protected ProcessGroup(int rank, int worldSize, int localRank)
    {
        (Rank, WorldSize, LocalRank) = (rank, worldSize, localRank);
        Timeout = DefaultTimeout();
    }

    /// <summary>This process's rank, 0 to <see cref="WorldSize"/> − 1.</summary>
    public int Rank { get; }

    /// <summary>How many ranks there are.</summary>
    public int WorldSize { get; }

    /// <summary>This rank's index among the ranks on its host: which GPU it takes.</summary>
    public int LocalRank { get; }

    /// <summary>"mpi" or "in-process".</summary>
    public abstract string Backend { get; }

    TimeSpan timeout;

    /// <summary>
    /// How long a collective waits for the other ranks before failing the group (default 5
    /// minutes, or <c>COTANGENT_DIST_TIMEOUT</c> seconds); positive, at most 24 days.
    /// </summary>
    public TimeSpan Timeout
    {
        get => timeout;
        set => timeout = value > TimeSpan.Zero && value <= TimeSpan.FromDays(24)
            ? value
            : throw new OpArgumentException("process_group", $"process_group: the timeout must be positive and at most 24 days, got {value}");
    }

    static TimeSpan DefaultTimeout() =>
        double.TryParse(Environment.GetEnvironmentVariable("COTANGENT_DIST_TIMEOUT"), System.Globalization.CultureInfo.InvariantCulture, out var s) && s > 0
            ? TimeSpan.FromSeconds(s)
            : TimeSpan.FromMinutes(5);

    /// <summary>
    /// The device this rank should use: <c>cuda:LocalRank</c> (modulo the visible GPUs) where
    /// there are GPUs, else the CPU, as a DDP script picks <c>torch.device("cuda", local_rank)</c>.
    /// </summary>
    public Device LocalDevice => Device.CudaCount > 0 ? Device.Cuda(LocalRank % Device.CudaCount) : Device.Cpu;

    // ---- collectives on tensors ------------------------------------------------------------

    /// <summary>Every rank's <paramref name="tensor"/> combined by <paramref name="op"/>, on every rank, on the tensor's device.</summary>
    public Tensor AllReduce(Tensor tensor, ReduceOp op = ReduceOp.Sum)
    {
        Check("all_reduce", tensor);
        return OnHost("all_reduce", tensor, (g, data) => g.AllReduceOf(data, op));
    }

    /// <summary>Rank <paramref name="root"/>'s values on every rank; every rank passes a tensor of the same shape and dtype.</summary>
    public Tensor Broadcast(Tensor tensor, int root = 0)
    {
        Check("broadcast", tensor);
        CheckRoot("broadcast", root);
        return OnHost("broadcast", tensor, (g, data) => g.BroadcastOf(data, root));
    }

    /// <summary>Every rank's tensor, stacked along a new first axis in rank order: shape [WorldSize, …]; the shapes must agree.</summary>
    public Tensor AllGather(Tensor tensor)
    {
        Check("all_gather", tensor);
        var shape = tensor.Shape;
        return OnHost("all_gather", tensor, (g, data) => data switch
        {
            float[] f => g.GatherOf(f, shape),
            double[] d => g.GatherOf(d, shape),
            long[] l => g.GatherOf(l, shape),
            _ => throw new InvalidOperationException("all_gather: float, double or long arrays only"),
        }, [WorldSize, .. shape]);
    }

    T[] GatherOf<T>(T[] mine, int[] shape) where T : unmanaged, INumber<T>
    {
        // the shapes must agree: gather them first, so a mismatch names the ranks instead of mixing elements
        var shapes = AllGatherRaw(Pad(shape));
        for (int r = 0; r < WorldSize; r++)
            if (!shapes.AsSpan(r * (MaxAxes + 1), MaxAxes + 1).SequenceEqual(Pad(shape)))
                throw new DistributedException($"all_gather: rank {r} passed shape {Unpad(shapes, r)} where rank {Rank} passed {ShapeMath.Format(shape)}");
        return AllGatherRaw(mine);
    }

    /// <summary>The most axes a gathered tensor's shape is checked over.</summary>
    const int MaxAxes = 16;

    static long[] Pad(int[] shape)
    {
        var p = new long[MaxAxes + 1];
        p[0] = shape.Length;
        for (int i = 0; i < shape.Length && i < MaxAxes; i++) p[i + 1] = shape[i];
        return p;
    }

    static string Unpad(long[] all, int rank)
    {
        int at = rank * (MaxAxes + 1), n = (int)all[at];
        return "[" + string.Join(", ", all.Skip(at + 1).Take(n)) + "]";
    }

    /// <summary>Waits until every rank has called it.</summary>
    public void Barrier()
    {
        CheckOpen("barrier");
        AllReduceOf(new long[1], ReduceOp.Sum);
    }

    /// <summary>Runs a collective on a host copy of the tensor's elements; the result goes back to the tensor's device, shaped <paramref name="shape"/> (by default the tensor's).</summary>
    Tensor OnHost(string op, Tensor tensor, Func<ProcessGroup, Array, Array> run, int[]? shape = null)
    {
        using var _ = OpCall.Enter(op);
        Array data = tensor.DType switch
        {
            DType.Float32 => tensor.ToArray<float>(),
            DType.Float64 => tensor.ToArray<double>(),
            DType.Int64 => tensor.ToArray<long>(),
            var t => throw new DTypeMismatchException(op, $"{op}: {t.Name()} tensors are not supported; use float32, float64 or int64"),
        };
        return Tensor.Adopt(op, run(this, data), shape ?? tensor.Shape, tensor.Device);
    }

    Array AllReduceOf(Array data, ReduceOp op) => data switch
    {
        float[] f => Reduce(f, op),
        double[] d => Reduce(d, op),
        long[] l => Reduce(l, op),
        _ => throw new InvalidOperationException("all_reduce: float, double or long arrays only"),
    };

    T[] Reduce<T>(T[] data, ReduceOp op) where T : unmanaged, INumber<T>
    {
        PostAllReduce(data, op).Wait();
        return data;
    }

    Array BroadcastOf(Array data, int root) => data switch
    {
        float[] f => Bcast(f, root),
        double[] d => Bcast(d, root),
        long[] l => Bcast(l, root),
        _ => throw new InvalidOperationException("broadcast: float, double or long arrays only"),
    };

    T[] Bcast<T>(T[] data, int root) where T : unmanaged, INumber<T>
    {
        // the lengths must agree, or ranks would read past each other's buffers
        var lengths = AllGatherRaw(new long[] { data.Length }, "broadcast");
        for (int r = 0; r < WorldSize; r++)
            if (lengths[r] != data.Length)
                throw new DistributedException($"broadcast: rank {r} passed {lengths[r]} elements where rank {Rank} passed {data.Length}");
        BroadcastRaw(data, root, "broadcast");
        return data;
    }

    void Check(string op, Tensor tensor)
    {
        CheckOpen(op);
        if (tensor is null) throw new OpArgumentException(op, $"{op}: the tensor is null");
        tensor.CheckAlive(op);
    }

    void CheckRoot(string op, int root)
    {
        if (root < 0 || root >= WorldSize)
            throw new OpArgumentException(op, $"{op}: root {root} is not a rank of this group (0 to {WorldSize - 1})");
    }

    private protected void CheckOpen(string op)
    {
        if (disposed) throw new ObjectDisposedException(op, $"{op}: this process group was disposed");
    }

    // ---- what a backend provides -----------------------------------------------------------

    /// <summary>Starts an in-place all-reduce of <paramref name="data"/>; the buffer must not be touched until the returned work completes.</summary>
    internal abstract CollectiveWork PostAllReduce<T>(T[] data, ReduceOp op) where T : unmanaged, INumber<T>;

    /// <summary>Overwrites <paramref name="data"/> with the root's (every rank passes the same length); <paramref name="kind"/> names the public op in errors.</summary>
    internal abstract void BroadcastRaw<T>(T[] data, int root, string kind = "broadcast") where T : unmanaged, INumber<T>;

    /// <summary>Every rank's <paramref name="mine"/> (all of one length), concatenated in rank order; <paramref name="kind"/> names the public op in errors.</summary>
    internal abstract T[] AllGatherRaw<T>(T[] mine, string kind = "all_gather") where T : unmanaged, INumber<T>;

    /// <summary>
    /// Stops every rank with an error naming <paramref name="reason"/>: in-process ranks throw
    /// <see cref="DistributedException"/> from their collectives; an MPI job is aborted.
    /// </summary>
    public abstract void Abort(string reason);

    bool disposed;

    /// <summary>Leaves the group (MPI: finalizes once every group of the process is disposed).</summary>
    public void Dispose()
    {
        if (disposed) return;
        disposed = true;
        Close();
        GC.SuppressFinalize(this);
    }

    private protected virtual void Close() { }

    // ---- making groups ---------------------------------------------------------------------

    /// <summary>
    /// <paramref name="worldSize"/> groups over one process, one per rank: hand each to its own
    /// thread (or task), as each would be its own process. For tests and for trying DDP code
    /// without mpiexec.
    /// </summary>
    public static ProcessGroup[] InProcess(int worldSize)
    {
        if (worldSize < 1) throw new OpArgumentException("process_group", $"process_group: the world size must be at least 1, got {worldSize}");
        var world = new InProcessWorld(worldSize);
        return [.. Enumerable.Range(0, worldSize).Select(r => (ProcessGroup)new InProcessGroup(world, r))];
    }

    /// <summary>
    /// This process's group in an MPI job (<c>mpiexec -n N dotnet App.dll</c>; alone, a world of
    /// one). Rank, world size and local rank come from the communicator; where torchrun's
    /// <c>RANK</c>, <c>WORLD_SIZE</c> or <c>LOCAL_RANK</c> are set they must agree with it. An
    /// unhandled exception on any rank then aborts the whole job instead of hanging it.
    /// </summary>
    public static ProcessGroup Mpi() => MpiGroup.Start();

    /// <summary>
    /// The group the environment describes: MPI under <c>mpiexec</c> (its PMI variables), or
    /// with <c>WORLD_SIZE</c> above 1; else a world of one, in process.
    /// </summary>
    public static ProcessGroup FromEnvironment()
    {
        bool underMpi = Environment.GetEnvironmentVariable("PMI_RANK") is not null || Environment.GetEnvironmentVariable("PMI_SIZE") is not null
            || Environment.GetEnvironmentVariable("OMPI_COMM_WORLD_RANK") is not null;
        if (underMpi) return Mpi();
        if (int.TryParse(Environment.GetEnvironmentVariable("WORLD_SIZE"), out int n) && n > 1)
            throw new DistributedException($"process_group: WORLD_SIZE={n} but this process was not started by mpiexec; Cotangent's process groups join through MPI: launch with mpiexec -n {n}");
        return InProcess(1)[0];
    }
}

/// <summary>A collective in flight.</summary>
internal abstract class CollectiveWork
{
    /// <summary>True once done (and drives an MPI request's progress).</summary>
    public abstract bool Test();

    /// <summary>Waits for it, up to the group's timeout; then the group fails.</summary>
    public abstract void Wait();
}
