// DistributedDataParallel's throughput: the MLP 784-256-256-10 SGD step on one global batch,
// two MPI ranks of one thread each (each rank takes half the batch) against one process of one
// thread (the whole batch), both launched from here with DOTNET_PROCESSOR_COUNT=1 so each
// process keeps to one core. Also the share of a step spent waiting on all-reduce after
// backward, with buckets started during backward (overlap) and only after it.
//   dotnet build bench -c Release && dotnet bench/bin/Release/net10.0/Bench.dll --ddp [--steps N] [--batch B]
using System.Diagnostics;
using Cotangent;
using Cotangent.Distributed;
using Cotangent.Nn;
using Tensor = Cotangent.Tensor;

static class DdpBench
{
    static int Arg(string[] args, string name, int fallback)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length && int.TryParse(args[i + 1], out int v) ? v : fallback;
    }

    /// <summary>One process of the measurement: alone, or a rank of an MPI job. Rank 0 prints one result line.</summary>
    public static int Worker(string[] args)
    {
        int steps = Arg(args, "--steps", 300), batch = Arg(args, "--batch", 256);
        bool alone = args.Contains("--alone"), overlap = !args.Contains("--no-overlap");
        bool wrapped = args.Contains("--wrap-alone");   // DDP over a world of one: its bookkeeping without communication
        using var group = alone ? ProcessGroup.InProcess(1)[0] : ProcessGroup.Mpi();
        var gen = new Generator(1);
        var net = new Sequential(new Linear(784, 256, generator: gen), new ReLU(), new Linear(256, 256, generator: gen), new ReLU(), new Linear(256, 10, generator: gen));
        double bucketMb = Arg(args, "--bucket-kb", 25 * 1024) / 1024.0;
        Module model = alone && !wrapped ? net : new DistributedDataParallel(net, group, bucketMb, overlap);
        var ddp = model as DistributedDataParallel;
        var opt = new Sgd(model.Parameters(), 0.01);
        int mine = batch / group.WorldSize;
        var data = new Generator((ulong)(7 + group.Rank));
        var x = Tensor.Randn([mine, 784], DType.Float32, data).Keep();
        var y = Tensor.Randint(0, 10, [mine], data).Keep();
        var times = new double[steps];
        var waits = new double[steps];
        for (int i = -1000; i < steps; i++)   // a long warm-up: the tiered JIT recompiles hot code on a background thread, which takes a core here
        {
            var sw = Stopwatch.StartNew();
            using (Tensor.Scope())
            {
                opt.ZeroGrad();
                Tensor.CrossEntropy(model.Forward(x), y).Backward();
                opt.Step();
            }
            if (i < 0) continue;
            times[i] = sw.Elapsed.TotalMilliseconds;
            waits[i] = ddp?.LastWait.TotalMilliseconds ?? 0;
        }
        Array.Sort(times);
        if (group.Rank == 0)
            Console.WriteLine(FormattableString.Invariant($"DDP-RESULT {group.WorldSize} {times[steps / 2]:F4} {waits.Average() / times.Average():F4}"));
        return 0;
    }

    /// <summary>Launches the three measurements and prints the ratios.</summary>
    public static int Run(string[] args)
    {
        string self = Environment.ProcessPath!, dll = typeof(DdpBench).Assembly.Location;
        string pass = string.Join(' ', new[] { "--steps", "--batch", "--bucket-kb" }.Where(a => Array.IndexOf(args, a) >= 0).Select(a => $"{a} {args[Array.IndexOf(args, a) + 1]}"));
        (double Step, double Wait) Launch(string launcher, string arguments)
        {
            var psi = new ProcessStartInfo(launcher, arguments) { RedirectStandardOutput = true, RedirectStandardError = true };
            psi.Environment["DOTNET_PROCESSOR_COUNT"] = "1";
            psi.Environment["MPIEXEC_TIMEOUT"] = "600";
            using var p = Process.Start(psi)!;
            string output = p.StandardOutput.ReadToEnd() + p.StandardError.ReadToEnd();
            p.WaitForExit();
            var line = output.Split('\n').FirstOrDefault(l => l.StartsWith("DDP-RESULT"))
                ?? throw new InvalidOperationException($"ddp bench: {launcher} {arguments} gave no result (exit {p.ExitCode}):\n{output}");
            var parts = line.Split(' ');
            return (double.Parse(parts[2], System.Globalization.CultureInfo.InvariantCulture), double.Parse(parts[3], System.Globalization.CultureInfo.InvariantCulture));
        }
        string me = Path.GetFileNameWithoutExtension(self) == "dotnet" ? $"{self} {dll}" : self;
        int batch = Arg(args, "--batch", 256);
        Console.WriteLine($"DDP: MLP 784-256-256-10 SGD step, global batch {batch}, every process on one thread (DOTNET_PROCESSOR_COUNT=1), {Environment.ProcessorCount} cores here");
        // this machine's speed drifts 1.5-2x over seconds: alternate the three, five rounds, and take medians
        // the ceiling: two processes on half the batch each, at once, that never talk (what two busy cores give here)
        string half = pass.Replace($"--batch {batch}", "") + $" --batch {batch / 2}";
        var runs = new List<((double Step, double Wait) Alone, (double Step, double Wait) Overlapped, (double Step, double Wait) Serial, (double Step, double Wait) Apart)>();
        for (int round = 0; round < 5; round++)
            runs.Add((Launch(self, $"{(me == self ? "" : dll + " ")}--ddp-worker --alone {pass}"),
                Launch("mpiexec", $"-n 2 {me} --ddp-worker {pass}"),
                Launch("mpiexec", $"-n 2 {me} --ddp-worker --no-overlap {pass}"),
                Launch("mpiexec", $"-n 2 {me} --ddp-worker --alone {half}")));
        (double Step, double Wait) Median(Func<((double, double), (double, double), (double, double), (double, double)), (double Step, double Wait)> pick)
        {
            var picked = runs.Select(r => pick(r)).ToArray();
            return (picked.Select(p => p.Step).Order().ElementAt(2), picked.Select(p => p.Wait).Order().ElementAt(2));
        }
        var alone = Median(r => r.Item1);
        var overlapped = Median(r => r.Item2);
        var serial = Median(r => r.Item3);
        var apart = Median(r => r.Item4);
        var ratios = runs.Select(r => r.Alone.Step / r.Overlapped.Step).Order().ToArray();
        Console.WriteLine($"  ratio per round (alone / overlapped, same round): {string.Join(", ", ratios.Select(x => x.ToString("F2")))}");
        Console.WriteLine($"  1 process x 1 thread:           {alone.Step,8:F3} ms a step");
        Console.WriteLine($"  2 ranks x 1 thread, overlapped: {overlapped.Step,8:F3} ms a step: {alone.Step / overlapped.Step:F2}x the throughput (target 1.7x); waiting on all-reduce after backward {100 * overlapped.Wait:F1}% of a step");
        Console.WriteLine($"  2 ranks x 1 thread, after:      {serial.Step,8:F3} ms a step: {alone.Step / serial.Step:F2}x; waiting on all-reduce after backward {100 * serial.Wait:F1}% of a step");
        Console.WriteLine($"  ceiling, 2 processes that never talk, half the batch each, at once: {apart.Step,8:F3} ms a step: {alone.Step / apart.Step:F2}x; DDP reaches {100 * apart.Step / overlapped.Step:F0}% of it");
        return 0;
    }
}
