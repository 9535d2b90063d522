using System.Runtime.ExceptionServices;

namespace Cotangent.Backends.Cpu;

/// <summary>
/// A fork-join team for the CPU kernels: one worker thread per extra core, which spins for a
/// millisecond after each job before it sleeps, so the many small parallel ops of a training
/// step start their second half in well under a microsecond (Parallel.For wakes a thread-pool
/// worker, tens of microseconds, and the caller often ends up waiting for it). The caller works
/// too, and parts are claimed one at a time, so a job never waits for a sleeping or busy
/// worker: the caller claims what nobody else has. One job runs at a time; a caller that finds
/// the team busy (another thread's op, or a kernel called from inside a job) runs its parts itself.
/// </summary>
internal static class Team
{
    /// <summary>
    /// How long an idle worker spins before it blocks, in Stopwatch ticks (about 1 ms, as
    /// OpenMP runtimes spin for a while before they sleep). A serial stretch of a step (a
    /// reduction on one thread, the autograd's work between ops) is often longer than 50 µs,
    /// the spin before, and a blocked worker takes tens of microseconds to wake: same-process
    /// A/B, the transformer block 1.4-4% faster at s256 and 2-3% at s64. Spinning and yielding
    /// the core between looks gained less (0-1.6%). Processes that share cores (the ranks of an
    /// MPI job on one machine) should run one thread each, DOTNET_PROCESSOR_COUNT=1, as with
    /// OMP_NUM_THREADS=1 for PyTorch.
    /// </summary>
    static readonly long SpinTicks = System.Diagnostics.Stopwatch.Frequency / 1_000;

    static readonly object gate = new();
    static readonly int workers = Math.Max(0, Environment.ProcessorCount - 1);
    static int busy;          // 1 while a caller owns the team
    static int sleepers;      // workers blocked on the gate
    static long claims;       // job number << 32 | next unclaimed part
    static int done;          // parts finished in the current job
    static int parts;
    static Action<int>? body;
    static ExceptionDispatchInfo? failure;

    static Team()
    {
        for (int w = 0; w < workers; w++)
            new Thread(Work) { IsBackground = true, Name = $"Cotangent CPU worker {w + 1}" }.Start();
    }

    /// <summary>The number of threads a job can use: the cores.</summary>
    public static int Size => workers + 1;

    /// <summary>Runs body(0) … body(count − 1), spread over the team, and returns when all are done.</summary>
    public static void For(int count, Action<int> work)
    {
        if (count <= 0) return;
        if (count == 1 || workers == 0 || Interlocked.CompareExchange(ref busy, 1, 0) != 0)
        {
            for (int p = 0; p < count; p++) work(p);
            return;
        }
        try
        {
            body = work;
            parts = count;
            failure = null;
            done = 0;
            int job = unchecked(JobOf(claims) + 1);        // job numbers wrap around; only equality matters
            Interlocked.Exchange(ref claims, (long)job << 32);   // publishes the fields above
            if (Volatile.Read(ref sleepers) > 0) lock (gate) Monitor.PulseAll(gate);
            Run(job);
            var spin = new SpinWait();
            while (Volatile.Read(ref done) < count) spin.SpinOnce(sleep1Threshold: -1);
            failure?.Throw();
        }
        finally
        {
            body = null;
            Volatile.Write(ref busy, 0);
        }
    }

    /// <summary>Claims and runs parts of the given job until none is left.</summary>
    static void Run(int job)
    {
        while (true)
        {
            long c = Volatile.Read(ref claims);
            if (JobOf(c) != job) return;                // a later job: this one is finished
            int next = (int)c, count = parts;           // parts read after the job check, so it is this job's
            if (next >= count) return;
            if (Interlocked.CompareExchange(ref claims, c + 1, c) != c) continue;
            try { body!(next); }
            catch (Exception e) { Interlocked.CompareExchange(ref failure, ExceptionDispatchInfo.Capture(e), null); }
            Interlocked.Increment(ref done);
        }
    }

    static int JobOf(long claim) => (int)(claim >> 32);

    static void Work()
    {
        int seen = 0;
        while (true)
        {
            int job = JobOf(Volatile.Read(ref claims));
            if (job == seen)
            {
                long until = System.Diagnostics.Stopwatch.GetTimestamp() + SpinTicks;
                while ((job = JobOf(Volatile.Read(ref claims))) == seen && System.Diagnostics.Stopwatch.GetTimestamp() < until)
                    Thread.SpinWait(20);
                if (job == seen)
                {
                    // announce the sleep first, then look once more: a caller publishes first, then looks for sleepers
                    lock (gate)
                    {
                        Interlocked.Increment(ref sleepers);
                        while ((job = JobOf(Volatile.Read(ref claims))) == seen) Monitor.Wait(gate);
                        Interlocked.Decrement(ref sleepers);
                    }
                }
            }
            seen = job;
            Run(job);
        }
    }
}
