using System.Numerics;
using System.Runtime.InteropServices;

namespace Cotangent.Distributed;

/// <summary>
/// The rank of an MPI job. MPI.NET starts and ends MPI (Debian's MPICH stands in for the
/// MS-MPI it was built against: the two share handle values, and its <c>msmpi.dll</c> import is
/// resolved to <c>libmpich.so.12</c>); the collectives call MPICH directly on pinned arrays,
/// non-blocking (MPI.NET has no non-blocking all-reduce and allocates a result per call), and
/// are polled so a wait can end at the group's timeout. What cannot be recovered is aborted:
/// a timeout or an unhandled exception on any rank writes the reason to stderr and calls
/// MPI_Abort, which ends every rank of the job within a fraction of a second; a hung MPI job
/// would otherwise wait forever (measured over MPICH 4.0: a rank that throws without aborting
/// leaves the others spinning in their collective). MPI starts once per process: each
/// <see cref="Start"/> hands out a group, and MPI is finalized when the last one is disposed,
/// or at process exit; it cannot be started again after that.
/// </summary>
internal sealed unsafe class MpiGroup : ProcessGroup
{
    const string Lib = "libmpich.so.12";
    const int CommWorld = 0x44000000, Float = 0x4c00040a, Double = 0x4c00080b, Int64 = 0x4c00083a;
    const int OpMax = 0x58000001, OpMin = 0x58000002, OpSum = 0x58000003;
    static readonly IntPtr InPlace = new(-1), StatusIgnore = new(1);

    [DllImport(Lib)] static extern int MPI_Iallreduce(IntPtr send, IntPtr recv, int count, int type, int op, int comm, int* request);
    [DllImport(Lib)] static extern int MPI_Ibcast(IntPtr buffer, int count, int type, int root, int comm, int* request);
    [DllImport(Lib)] static extern int MPI_Iallgather(IntPtr send, int sendCount, int sendType, IntPtr recv, int recvCount, int recvType, int comm, int* request);
    [DllImport(Lib)] static extern int MPI_Test(int* request, int* flag, IntPtr status);
    [DllImport(Lib)] static extern int MPI_Abort(int comm, int code);

    static readonly object Gate = new();
    static MPI.Environment? environment;
    static bool finalized, handlerSet;
    static int open, worldRank, worldSize, worldLocal;

    MpiGroup(int rank, int size, int localRank) : base(rank, size, localRank) { }

    public override string Backend => "mpi";

    /// <summary>Starts MPI on first use (thread level MULTIPLE) and returns a group of this process; every group it returns must be disposed.</summary>
    public static MpiGroup Start()
    {
        lock (Gate)
        {
            if (finalized)
                throw new DistributedException("process_group: MPI was finalized when its last group was disposed; a process can start it only once");
            if (environment is null) Init();
            open++;
            return new MpiGroup(worldRank, worldSize, worldLocal);
        }
    }

    static void Init()
    {
        try
        {
            NativeLibrary.SetDllImportResolver(typeof(MPI.Communicator).Assembly, (name, _, _) =>
                name == "msmpi.dll" && NativeLibrary.TryLoad(Lib, out var h) ? h : IntPtr.Zero);
        }
        catch (InvalidOperationException) { }   // set already
        if (!NativeLibrary.TryLoad(Lib, out _))
            throw new DistributedException($"process_group: MPI is not installed ({Lib} was not found); on Debian: apt-get install mpich");
        string[] args = [];
        environment = new MPI.Environment(ref args, MPI.Threading.Multiple);
        var world = MPI.Communicator.world;
        int rank = world.Rank, size = world.Size;
        if (!handlerSet)
        {
            handlerSet = true;
            // from here on a rank that dies unhandled would leave the others waiting forever: abort the job instead
            AppDomain.CurrentDomain.UnhandledException += (_, e) =>
            {
                if (environment is not null) AbortJob(rank, $"an unhandled {e.ExceptionObject.GetType().Name}: {(e.ExceptionObject as Exception)?.Message}\n{e.ExceptionObject}");
            };
            // a rank that ends well without disposing its group still finalizes, so mpiexec sees a
            // clean exit; one that exits with an error does not (finalize would wait for the
            // others), and mpiexec then ends the whole job at once
            AppDomain.CurrentDomain.ProcessExit += (_, _) =>
            {
                if (Environment.ExitCode == 0)
                    lock (Gate) FinalizeMpi(force: true);
            };
        }
        try
        {
            if (MPI.Environment.Threading != MPI.Threading.Multiple)
                throw new DistributedException($"process_group: MPI gave thread level {MPI.Environment.Threading}, Cotangent needs Multiple");
            CheckTorchrun("RANK", rank);
            CheckTorchrun("WORLD_SIZE", size);
        }
        catch (DistributedException e)
        {
            AbortJob(rank, e.Message);
            throw;
        }
        (worldRank, worldSize) = (rank, size);
        worldLocal = LocalRankFromEnvironment() ?? (size == 1 ? 0 : rank);
    }

    static void FinalizeMpi(bool force)
    {
        if (environment is null || (!force && open > 0)) return;
        environment.Dispose();
        environment = null;
        finalized = true;
    }

    static void CheckTorchrun(string name, int actual)
    {
        if (Environment.GetEnvironmentVariable(name) is { } v && int.TryParse(v, out int set) && set != actual)
            throw new DistributedException($"process_group: {name}={set} is set, but the MPI communicator says {actual}; unset it, or launch the ranks as it says");
    }

    /// <summary>MPICH's hydra sets MPI_LOCALRANKID; Open MPI and torchrun have their own names.</summary>
    static int? LocalRankFromEnvironment()
    {
        foreach (var name in new[] { "MPI_LOCALRANKID", "OMPI_COMM_WORLD_LOCAL_RANK", "LOCAL_RANK" })
            if (int.TryParse(Environment.GetEnvironmentVariable(name), out int r)) return r;
        return null;
    }

    static void AbortJob(int rank, string reason)
    {
        try
        {
            Console.Out.Flush();
            Console.Error.WriteLine($"cotangent: rank {rank}: {reason}; aborting the MPI job");
            Console.Error.Flush();
        }
        finally
        {
            MPI_Abort(CommWorld, 1);
        }
    }

    public override void Abort(string reason) => AbortJob(Rank, reason);

    static int TypeOf<T>() =>
        typeof(T) == typeof(float) ? Float
        : typeof(T) == typeof(double) ? Double
        : typeof(T) == typeof(long) ? Int64
        : throw new InvalidOperationException($"MPI: no datatype for {typeof(T).Name}");

    /// <summary>A request on pinned buffers: polled by Test, waited for with the group's timeout, then unpinned.</summary>
    sealed class Request : CollectiveWork
    {
        readonly MpiGroup group;
        readonly string kind;
        readonly GCHandle[] pins;
        readonly Action? finish;
        readonly long deadline;   // a Stopwatch timestamp: the wall clock may jump
        int handle;
        bool done;

        public Request(MpiGroup group, string kind, GCHandle[] pins, int handle, Action? finish)
        {
            (this.group, this.kind, this.pins, this.handle, this.finish) = (group, kind, pins, handle, finish);
            deadline = System.Diagnostics.Stopwatch.GetTimestamp() + (long)(group.Timeout.TotalSeconds * System.Diagnostics.Stopwatch.Frequency);
        }

        public override bool Test()
        {
            if (done) return true;
            int flag = 0;
            int h = handle;
            int rc = MPI_Test(&h, &flag, StatusIgnore);
            handle = h;
            if (rc != 0) group.Abort($"{kind}: MPI_Test failed with error {rc}");
            if (flag == 0) return false;
            done = true;
            foreach (var p in pins) p.Free();
            finish?.Invoke();
            return true;
        }

        public override void Wait()
        {
            var spin = new SpinWait();
            while (!Test())
            {
                if (System.Diagnostics.Stopwatch.GetTimestamp() > deadline)
                    group.Abort($"{kind} waited {group.Timeout.TotalSeconds:0.###} s for the other ranks (one failed, hung, or called a different sequence of collectives)");
                if (spin.Count > 100) Thread.Sleep(0);
                spin.SpinOnce(-1);
            }
        }
    }

    /// <summary>Posts a non-blocking collective: <paramref name="post"/> gets where to write the request handle.</summary>
    Request Post(string kind, Func<IntPtr, int> post, GCHandle[] pins, Action? finish)
    {
        CheckOpen(kind);
        int request = 0;
        int rc = post((IntPtr)(&request));
        if (rc != 0)
        {
            foreach (var p in pins) p.Free();
            Abort($"{kind}: MPI returned error {rc}");
        }
        return new Request(this, kind, pins, request, finish);
    }

    internal override CollectiveWork PostAllReduce<T>(T[] data, ReduceOp op)
    {
        int mpiOp = op switch { ReduceOp.Sum or ReduceOp.Average => OpSum, ReduceOp.Max => OpMax, ReduceOp.Min => OpMin, _ => throw new DistributedException($"all_reduce: no reduction {op}") };
        var pin = GCHandle.Alloc(data, GCHandleType.Pinned);
        int n = WorldSize;
        return Post("all_reduce", req => MPI_Iallreduce(InPlace, pin.AddrOfPinnedObject(), data.Length, TypeOf<T>(), mpiOp, CommWorld, (int*)req), [pin], op == ReduceOp.Average ? () => { for (int i = 0; i < data.Length; i++) data[i] /= T.CreateTruncating(n); } : null);
    }

    internal override void BroadcastRaw<T>(T[] data, int root, string kind)
    {
        var pin = GCHandle.Alloc(data, GCHandleType.Pinned);
        Post(kind, req => MPI_Ibcast(pin.AddrOfPinnedObject(), data.Length, TypeOf<T>(), root, CommWorld, (int*)req), [pin], null).Wait();
    }

    internal override T[] AllGatherRaw<T>(T[] mine, string kind)
    {
        var all = new T[mine.Length * WorldSize];
        var pinMine = GCHandle.Alloc(mine, GCHandleType.Pinned);
        var pinAll = GCHandle.Alloc(all, GCHandleType.Pinned);
        Post(kind, req => MPI_Iallgather(pinMine.AddrOfPinnedObject(), mine.Length, TypeOf<T>(), pinAll.AddrOfPinnedObject(), mine.Length, TypeOf<T>(), CommWorld, (int*)req),
            [pinMine, pinAll], null).Wait();
        return all;
    }

    private protected override void Close()
    {
        lock (Gate)
        {
            open--;
            FinalizeMpi(force: false);
        }
    }
}
