// Cotangent against TorchSharp-cpu (libtorch) on the same workloads, in one process run.
// Each workload is warmed up, then timed on both sides in alternating rounds as the median of
// batches (see Timing.Interleaved). Both sides run each call in a scope that frees its intermediates (Tensor.Scope, NewDisposeScope).
// libtorch needs a newer libstdc++ than Debian 12 has, so run the built dll through the
// shared script (see bench/README.md):
//   dotnet build bench -c Release && ../shared/tools/dotnet-glibc241 bench/bin/Release/net10.0/Bench.dll [--quick] [--memory] [--breakdown] [--best] [--sequential] [--only a,b]
using System.Diagnostics;
using System.Runtime.Intrinsics;
using Cotangent;
using Cotangent.Nn;
using TorchSharp;
using static TorchSharp.torch;
using Tensor = Cotangent.Tensor;
using TTensor = TorchSharp.torch.Tensor;

// DDP's throughput over MPI ranks (no libtorch involved: plain dotnet runs it); see DdpBench.cs
if (args.Contains("--ddp-worker")) return DdpBench.Worker(args);
if (args.Contains("--ddp")) return DdpBench.Run(args);

bool quick = args.Contains("--quick");
bool torchToo = !args.Contains("--no-torch");   // --no-torch: Cotangent alone (e.g. where libtorch cannot load)
Timing.Best = args.Contains("--best");           // --best: the fastest batch instead of the median (A/B comparisons on a noisy machine)
double budget = quick ? 0.3 : args.Contains("--only") ? 5.0 : 1.0;   // seconds of timing per measurement

Console.WriteLine($"Cotangent vs TorchSharp {typeof(torch).Assembly.GetName().Version} (libtorch), {Environment.ProcessorCount} cores, .NET {Environment.Version}");
Console.WriteLine($"Vector512 hardware-accelerated: {Vector512.IsHardwareAccelerated}; torch threads: {(torchToo ? torch.get_num_threads().ToString() : "not loaded")}");
double peak = args.Contains("--only") || args.Contains("--dsl") ? double.NaN : Timing.FmaPeakGflops();
Console.WriteLine($"measured FMA peak (fp32, all cores): {peak:F0} GFLOP/s");
Console.WriteLine();

// Each workload is timed on both sides in alternating rounds (see Timing.Interleaved).
var work = new List<(string Name, Action Ours, Func<Action> Theirs, double Flops)>();
void Compare(string name, Action ours, Func<Action> theirs, double flops = 0) => work.Add((name, ours, theirs, flops));

// the seed example: x = randn(3) requiring grad, 11 multiplies by 2, backward(v)
{
    var v = Tensor.From(0.1f, 1.0f, 0.0001f);
    Compare("seed example (11 muls + backward)",
        () =>
        {
            using var scope = Tensor.Scope();
            var x = Tensor.Randn(3).RequireGrad();
            var y = x * 2;
            for (int i = 0; i < 10; i++) y = y * 2;
            y.Backward(v);
        },
        () =>
        {
            var vt = torch.tensor(new[] { 0.1f, 1.0f, 0.0001f });
            return () =>
            {
                using var scope = torch.NewDisposeScope();
                var x = torch.randn(3, requires_grad: true);
                var y = x * 2;
                for (int i = 0; i < 10; i++) y = y * 2;
                y.backward(new[] { vt });
            };
        });
}

// MLP 784-256-256-10 training step: forward, cross-entropy, backward, SGD
foreach (int batch in new[] { 64, 512 })
{
    var net = new Sequential(new Linear(784, 256), new ReLU(), new Linear(256, 256), new ReLU(), new Linear(256, 10));
    var opt = new Sgd(net.Parameters(), 0.01);
    var xb = Tensor.Randn(batch, 784);
    var yb = Tensor.Randint(0, 10, [batch]);
    Compare($"MLP 784-256-256-10 step, batch {batch}",
        () =>
        {
            using var scope = Tensor.Scope();
            opt.ZeroGrad();
            Tensor.CrossEntropy(net.Forward(xb), yb).Backward();
            opt.Step();
        },
        () =>
        {
            var tnet = nn.Sequential(("l1", nn.Linear(784, 256)), ("r1", nn.ReLU()), ("l2", nn.Linear(256, 256)), ("r2", nn.ReLU()), ("l3", nn.Linear(256, 10)));
            var topt = optim.SGD(tnet.parameters(), 0.01);
            var txb = torch.randn(batch, 784);
            var tyb = torch.randint(0, 10, new long[] { batch });
            return () =>
            {
                using var scope = torch.NewDisposeScope();
                topt.zero_grad();
                nn.functional.cross_entropy(tnet.forward(txb), tyb).backward();
                topt.step();
            };
        });
}

// matmul n×n by n×n, fp32
foreach (int n in new[] { 256, 1024, 2048 })
{
    var a = Tensor.Randn(n, n);
    var b = Tensor.Randn(n, n);
    Compare($"matmul {n}", () => { using var s = Tensor.Scope(); Tensor.MatMul(a, b); }, () =>
    {
        var ta = torch.randn(n, n);
        var tb = torch.randn(n, n);
        return () => { using var s = torch.NewDisposeScope(); ta.matmul(tb); };
    }, 2.0 * n * n * n);
}

// elementwise and reductions
foreach (int n in new[] { 1 << 20, 1 << 24 })
{
    var a = Tensor.Randn(n);
    string size = n == 1 << 20 ? "1M" : "16M";
    Func<TTensor> input = () => torch.randn(n);
    Compare($"exp over {size}", () => { using var s = Tensor.Scope(); a.Exp(); }, () => { var ta = input(); return () => { using var s = torch.NewDisposeScope(); ta.exp(); }; });
    Compare($"tanh over {size}", () => { using var s = Tensor.Scope(); a.Tanh(); }, () => { var ta = input(); return () => { using var s = torch.NewDisposeScope(); ta.tanh(); }; });
    if (n == 1 << 24) Compare($"sum over {size}", () => { using var s = Tensor.Scope(); a.Sum(); }, () => { var ta = input(); return () => { using var s = torch.NewDisposeScope(); ta.sum(); }; });
}
{
    var logits = Tensor.Randn(512, 1000);
    var labels = Tensor.Randint(0, 1000, [512]);
    Compare("softmax + cross-entropy 512x1000", () => { using var s = Tensor.Scope(); Tensor.CrossEntropy(logits, labels); }, () =>
    {
        var tl = torch.randn(512, 1000);
        var tlab = torch.randint(0, 1000, new long[] { 512 });
        return () => { using var s = torch.NewDisposeScope(); nn.functional.cross_entropy(tl, tlab); };
    });
}

// --breakdown: the GEMMs of the MLP step, one by one, in the layouts its forward and VJPs use
// (x·wᵀ forward, g·w for ∂x, gᵀ·x for ∂w), to tell GEMM time from the rest of the step
if (args.Contains("--breakdown"))
    foreach (int batch in new[] { 64, 512 })
        foreach (var (m, k, n, how) in new[] {
            (batch, 784, 256, "x·wᵀ"), (batch, 256, 256, "x·wᵀ"), (batch, 256, 10, "x·wᵀ"),
            (batch, 10, 256, "g·w"), (batch, 256, 256, "g·w"),
            (10, batch, 256, "gᵀ·x"), (256, batch, 256, "gᵀ·x"), (256, batch, 784, "gᵀ·x") })
        {
            // A [m×k] and B [k×n] built so that their strides match the step's operands
            var (a, b) = how switch
            {
                "x·wᵀ" => (Tensor.Randn(m, k), Tensor.Randn(n, k).T),
                "g·w" => (Tensor.Randn(m, k), Tensor.Randn(k, n)),
                _ => (Tensor.Randn(k, m).T, Tensor.Randn(k, n)),
            };
            Compare($"gemm {m}x{k}x{n} {how}", () => { using var s = Tensor.Scope(); Tensor.MatMul(a, b); }, () =>
            {
                var (ta, tb) = how switch
                {
                    "x·wᵀ" => (torch.randn(m, k), torch.randn(n, k).t()),
                    "g·w" => (torch.randn(m, k), torch.randn(k, n)),
                    _ => (torch.randn(k, m).t(), torch.randn(k, n)),
                };
                return () => { using var s = torch.NewDisposeScope(); ta.matmul(tb); };
            }, 2.0 * m * n * k);
        }

// --real: the workloads users run first (RealWorkloads.cs), after the ones above
if (args.Contains("--real")) RealWorkloads.Add((name, ours, theirs, flops) => Compare(name, ours, theirs, flops));

// --only TEXT: just the workloads whose name contains TEXT (for profiling one of them)
int only = Array.IndexOf(args, "--only");
if (args.Contains("--dsl")) work.Clear();
if (only >= 0 && only + 1 < args.Length) work.RemoveAll(w => !args[only + 1].Split(',').Any(w.Name.Contains));
double[] ours, theirs;
if (args.Contains("--sequential"))
{
    // --sequential: every Cotangent workload first, then every TorchSharp one (the bench's
    // first method; kept to check that the interleaved one below costs neither side anything)
    ours = work.Select(w => Timing.Median(w.Ours, budget)).ToArray();
    theirs = work.Select(w => torchToo ? Timing.Median(w.Theirs(), budget) : double.NaN).ToArray();
}
else
{
    var pairs = work.Select(w => Timing.Interleaved(w.Ours, torchToo ? w.Theirs() : null, budget)).ToArray();
    ours = pairs.Select(p => p.Ours).ToArray();
    theirs = pairs.Select(p => p.Theirs).ToArray();
}
if (work.Count > 0)
    Console.WriteLine($"{"workload",-34} {"Cotangent",10} {"TorchSharp",10} {"ratio",8}  (ratio = TorchSharp time / Cotangent time; above 1 is faster)");
for (int i = 0; i < work.Count; i++)
{
    var (name, _, _, flops) = work[i];
    var note = flops > 0 ? $"{flops / ours[i] / 1e9:F0} vs {flops / theirs[i] / 1e9:F0} GFLOP/s; ours {100 * flops / ours[i] / 1e9 / peak:F0}% of peak" : "";
    Console.WriteLine($"{name,-34} {Timing.Format(ours[i]),10} {Timing.Format(theirs[i]),10} {theirs[i] / ours[i],7:F2}x  {note}");
}

// diff { } against the imperative API on the same engine: the cost of composing a program's
// pullback (target: at most 1.2x the imperative time). --dsl runs only this table.
var dsl = new List<(string Name, Action Diff, Action Imperative)>
{
    ("seed example", Cotangent.Bench.DslPrograms.seedDiff(Tensor.From(0.1f, 1.0f, 0.0001f)), Cotangent.Bench.DslPrograms.seedImperative(Tensor.From(0.1f, 1.0f, 0.0001f))),
    ("MLP 784-256-256-10 step, batch 64", Cotangent.Bench.DslPrograms.mlpDiff(64), Cotangent.Bench.DslPrograms.mlpImperative(64)),
    ("MLP 784-256-256-10 step, batch 512", Cotangent.Bench.DslPrograms.mlpDiff(512), Cotangent.Bench.DslPrograms.mlpImperative(512)),
};
if (only >= 0 && only + 1 < args.Length) dsl.RemoveAll(w => !args[only + 1].Split(',').Any(w.Name.Contains));
if (dsl.Count > 0)
{
    Console.WriteLine();
    Console.WriteLine($"{"diff { } against the imperative API",-34} {"diff { }",10} {"imperative",10} {"ratio",8}  (ratio = diff time / imperative time; target at most 1.2)");
    foreach (var (name, diffStep, imperativeStep) in dsl)
    {
        var (d, im) = Timing.Interleaved(diffStep, imperativeStep, budget);
        Console.WriteLine($"{name,-34} {Timing.Format(d),10} {Timing.Format(im),10} {d / im,7:F2}x");
    }
}

if (args.Contains("--memory"))
{
    Console.WriteLine();
    var net = new Sequential(new Linear(784, 256), new ReLU(), new Linear(256, 256), new ReLU(), new Linear(256, 10));
    var opt = new Sgd(net.Parameters(), 0.01);
    var xb = Tensor.Randn(64, 784);
    var yb = Tensor.Randint(0, 10, [64]);
    void Step() { using var scope = Tensor.Scope(); opt.ZeroGrad(); Tensor.CrossEntropy(net.Forward(xb), yb).Backward(); opt.Step(); }
    for (int i = 0; i < 100; i++) Step();
    var proc = Process.GetCurrentProcess();
    proc.Refresh();
    long start = proc.WorkingSet64;
    var sw = Stopwatch.StartNew();
    for (int i = 1; i <= 10_000; i++)
    {
        Step();
        if (i % 2500 == 0)
        {
            proc.Refresh();
            Console.WriteLine($"step {i,6}: working set {proc.WorkingSet64 / 1e6:F0} MB, managed heap {GC.GetTotalMemory(false) / 1e6:F0} MB");
        }
    }
    proc.Refresh();
    Console.WriteLine($"10,000 MLP steps (batch 64) in {sw.Elapsed.TotalSeconds:F1} s: working set {start / 1e6:F0} MB at start, {proc.WorkingSet64 / 1e6:F0} MB at end");
}
return 0;

static class Timing
{
    public static bool Best;

    /// <summary>
    /// Both sides' median (or best) time of one call, timed in alternating rounds: this VM's
    /// speed drifts 1.5–2× over tens of seconds (memory bandwidth most of all: a sum over 16M
    /// floats took 0.7 ms in one stretch and 1.5 ms in the next, on either side), so timing all
    /// of one side and then all of the other compared different machines. Each switch waits
    /// 50 ms: libtorch's OpenMP threads spin for some milliseconds after each op, and on two
    /// cores they would take our time (and our worker theirs).
    /// </summary>
    public static (double Ours, double Theirs) Interleaved(Action ours, Action theirs, double seconds, int rounds = 5)
    {
        if (theirs is null) return (Median(ours, seconds), double.NaN);
        WarmUp(ours);
        WarmUp(theirs);
        int perOurs = Calibrate(ours), perTheirs = Calibrate(theirs);
        var a = new List<double>();
        var b = new List<double>();
        for (int r = 0; r < rounds; r++)
        {
            Thread.Sleep(50);
            Sample(ours, perOurs, seconds / rounds, a, 2);
            Thread.Sleep(50);
            Sample(theirs, perTheirs, seconds / rounds, b, 2);
        }
        return (Pick(a), Pick(b));
    }

    /// <summary>The median time of one call, from batches of calls that each take at least a millisecond.</summary>
    public static double Median(Action f, double seconds)
    {
        WarmUp(f);
        var samples = new List<double>();
        Sample(f, Calibrate(f), seconds, samples, 5);
        return Pick(samples);
    }

    static double Pick(List<double> samples)
    {
        samples.Sort();
        return Best ? samples[0] : samples[samples.Count / 2];
    }

    static void WarmUp(Action f)
    {
        // warm up for two seconds (at least 20 calls): .NET's tiered JIT keeps promoting hot
        // methods over the first thousand or so calls of a training step, and a training loop
        // runs many thousands; libtorch needs no warm-up, and gets the same treatment
        var warm = Stopwatch.StartNew();
        for (int i = 0; i < 20 || warm.Elapsed.TotalSeconds < 2.0; i++) f();
    }

    /// <summary>How many calls make a batch of at least a millisecond.</summary>
    static int Calibrate(Action f)
    {
        var sw = Stopwatch.StartNew();
        int per = 1;
        while (true)
        {
            sw.Restart();
            for (int i = 0; i < per; i++) f();
            if (sw.Elapsed.TotalMilliseconds >= 1 || per >= 1 << 20) return per;
            per *= 2;
        }
    }

    /// <summary>Times batches of <paramref name="per"/> calls for about <paramref name="seconds"/> (at least <paramref name="least"/>, at most 200 batches).</summary>
    static void Sample(Action f, int per, double seconds, List<double> samples, int least)
    {
        var sw = new Stopwatch();
        var total = Stopwatch.StartNew();
        for (int n = 0; n < 200 && (total.Elapsed.TotalSeconds < seconds || n < least); n++)
        {
            sw.Restart();
            for (int i = 0; i < per; i++) f();
            samples.Add(sw.Elapsed.TotalSeconds / per);
        }
    }

    public static string Format(double s) => s < 1e-3 ? $"{s * 1e6:F1} µs" : s < 1 ? $"{s * 1e3:F2} ms" : $"{s:F2} s";

    /// <summary>fp32 FMA throughput with every core running 12 independent Vector512 (or Vector256) chains.</summary>
    public static double FmaPeakGflops()
    {
        int threads = Environment.ProcessorCount;
        const long iters = 20_000_000;
        double best = 0;
        for (int rep = 0; rep < 5; rep++)
        {
            // dedicated threads: a cold thread pool may run Parallel.For's iterations one after another
            var workers = Enumerable.Range(0, threads).Select(_ => new Thread(() => Chains(iters))).ToArray();
            var sw = Stopwatch.StartNew();
            foreach (var w in workers) w.Start();
            foreach (var w in workers) w.Join();
            double flops = Vector512.IsHardwareAccelerated ? 2.0 * 16 * 12 * iters * threads : 2.0 * 8 * 12 * iters * threads;
            best = Math.Max(best, flops / sw.Elapsed.TotalSeconds / 1e9);
        }
        return best;
    }

    static float Chains(long iters)
    {
        if (Vector512.IsHardwareAccelerated)
        {
            var a = Vector512.Create(0.999f); var b = Vector512.Create(0.001f);
            Vector512<float> c0 = a, c1 = a, c2 = a, c3 = a, c4 = a, c5 = a, c6 = a, c7 = a, c8 = a, c9 = a, c10 = a, c11 = a;
            for (long i = 0; i < iters; i++)
            {
                c0 = Vector512.FusedMultiplyAdd(c0, a, b); c1 = Vector512.FusedMultiplyAdd(c1, a, b);
                c2 = Vector512.FusedMultiplyAdd(c2, a, b); c3 = Vector512.FusedMultiplyAdd(c3, a, b);
                c4 = Vector512.FusedMultiplyAdd(c4, a, b); c5 = Vector512.FusedMultiplyAdd(c5, a, b);
                c6 = Vector512.FusedMultiplyAdd(c6, a, b); c7 = Vector512.FusedMultiplyAdd(c7, a, b);
                c8 = Vector512.FusedMultiplyAdd(c8, a, b); c9 = Vector512.FusedMultiplyAdd(c9, a, b);
                c10 = Vector512.FusedMultiplyAdd(c10, a, b); c11 = Vector512.FusedMultiplyAdd(c11, a, b);
            }
            return Vector512.Sum(c0 + c1 + c2 + c3 + c4 + c5 + c6 + c7 + c8 + c9 + c10 + c11);
        }
        var x = Vector256.Create(0.999f); var y = Vector256.Create(0.001f);
        Vector256<float> d0 = x, d1 = x, d2 = x, d3 = x, d4 = x, d5 = x, d6 = x, d7 = x, d8 = x, d9 = x, d10 = x, d11 = x;
        for (long i = 0; i < iters; i++)
        {
            d0 = Vector256.FusedMultiplyAdd(d0, x, y); d1 = Vector256.FusedMultiplyAdd(d1, x, y);
            d2 = Vector256.FusedMultiplyAdd(d2, x, y); d3 = Vector256.FusedMultiplyAdd(d3, x, y);
            d4 = Vector256.FusedMultiplyAdd(d4, x, y); d5 = Vector256.FusedMultiplyAdd(d5, x, y);
            d6 = Vector256.FusedMultiplyAdd(d6, x, y); d7 = Vector256.FusedMultiplyAdd(d7, x, y);
            d8 = Vector256.FusedMultiplyAdd(d8, x, y); d9 = Vector256.FusedMultiplyAdd(d9, x, y);
            d10 = Vector256.FusedMultiplyAdd(d10, x, y); d11 = Vector256.FusedMultiplyAdd(d11, x, y);
        }
        return Vector256.Sum(d0 + d1 + d2 + d3 + d4 + d5 + d6 + d7 + d8 + d9 + d10 + d11);
    }
}
