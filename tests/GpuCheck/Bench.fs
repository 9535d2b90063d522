/// The GPU benchmark against PyTorch on the same GPU: the same workloads, timed the same way
/// (warm-up, then the median of several rounds, each ended by a device synchronize). PyTorch
/// runs first, in its own process (python3 with torch), then Cotangent; nothing else uses the
/// GPU meanwhile.
module Cotangent.GpuCheck.Bench

open System
open System.Diagnostics
open System.IO
open System.Text.Json
open Cotangent
open Cotangent.Nn

/// The workload sizes: the issue's on a GPU; small ones for a quick try on a simulated device.
type Sizes =
    { Gemm: int
      BigBatch: int
      Chain: int }

    static member Full =
        { Gemm = 4096
          BigBatch = 4096
          Chain = 16 * 1024 * 1024 }

    static member Quick =
        { Gemm = 256
          BigBatch = 256
          Chain = 65536 }

/// One timed workload: milliseconds per iteration on each side, and what it checks.
type Row =
    { Name: string
      Cotangent: float
      Torch: float option
      Target: float option }

    /// PyTorch's time over ours: above 1, we are faster.
    member r.Ratio = r.Torch |> Option.map (fun t -> t / r.Cotangent)

/// The median over rounds of the mean time per iteration, each round ended by a synchronize.
let time (device: Device) rounds iters (f: unit -> unit) =
    for _ in 1..3 do
        f ()

    device.Synchronize()

    let samples =
        [| for _ in 1..rounds do
               let sw = Stopwatch.StartNew()

               for _ in 1..iters do
                   f ()

               device.Synchronize()
               sw.Elapsed.TotalMilliseconds / float iters |]

    Array.sortInPlace samples
    samples.[samples.Length / 2]

let private mlp (gen: Generator) (device: Device) =
    Sequential(
        Linear(784, 256, generator = gen),
        ReLU(),
        Linear(256, 256, generator = gen),
        ReLU(),
        Linear(256, 10, generator = gen)
    )
        .To
        device

/// One SGD step of the MLP at this batch, in a scope so its intermediates go back to the allocator.
let private stepper (device: Device) batch =
    let gen = Generator 7UL
    let net = mlp gen device
    let opt = Sgd(net.Parameters(), 0.01)
    let x = Tensor.Randn([| batch; 784 |], DType.Float32, gen, device).Keep()
    let y = Tensor.Randint(0L, 10L, [| batch |], gen, device).Keep()

    fun () ->
        use _ = Tensor.Scope()
        opt.ZeroGrad()
        let loss = Tensor.CrossEntropy(net.Forward x, y)
        loss.Backward()
        opt.Step()

/// The PyTorch side, as a script: prints one JSON object of milliseconds by workload name.
let torchScript (z: Sizes) quick =
    let rounds = if quick then 3 else 7

    $"""
import json, sys, time, torch
dev = torch.device("cuda:0")
torch.manual_seed(0)
def timed(f, iters, rounds={rounds}):
    for _ in range(3): f()
    torch.cuda.synchronize()
    samples = []
    for _ in range(rounds):
        t = time.perf_counter()
        for _ in range(iters): f()
        torch.cuda.synchronize()
        samples.append((time.perf_counter() - t) * 1000 / iters)
    samples.sort()
    return samples[len(samples) // 2]
out = {{"name": torch.cuda.get_device_name(0), "torch": torch.__version__}}
a = torch.randn({z.Gemm}, {z.Gemm}, device=dev); b = torch.randn({z.Gemm}, {z.Gemm}, device=dev)
torch.backends.cuda.matmul.allow_tf32 = False
out["gemm_fp32"] = timed(lambda: a @ b, 10)
torch.backends.cuda.matmul.allow_tf32 = True
out["gemm_tf32"] = timed(lambda: a @ b, 10)
torch.backends.cuda.matmul.allow_tf32 = False
for batch in (64, {z.BigBatch}):
    net = torch.nn.Sequential(torch.nn.Linear(784, 256), torch.nn.ReLU(), torch.nn.Linear(256, 256), torch.nn.ReLU(), torch.nn.Linear(256, 10)).to(dev)
    opt = torch.optim.SGD(net.parameters(), lr=0.01)
    x = torch.randn(batch, 784, device=dev); y = torch.randint(0, 10, (batch,), device=dev)
    def step():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(net(x), y)
        loss.backward()
        opt.step()
    out["mlp_64" if batch == 64 else "mlp_big"] = timed(step, 20)
x = torch.randn({z.Chain}, device=dev)
def chain():
    z = x.detach().requires_grad_()
    ((z.tanh() * z + z.exp()).sigmoid()).sum().backward()
out["chain"] = timed(chain, 10)
print(json.dumps(out))
"""

/// Runs the PyTorch side; None (with the reason) where python3 or torch is missing or fails.
let runTorch (z: Sizes) quick : Result<Map<string, JsonElement>, string> =
    let script =
        Path.Combine(Path.GetTempPath(), $"cotangent-gpu-check-{Environment.ProcessId}.py")

    File.WriteAllText(script, torchScript z quick)

    try
        try
            let psi =
                ProcessStartInfo(
                    "python3",
                    $"\"{script}\"",
                    RedirectStandardOutput = true,
                    RedirectStandardError = true
                )

            use p = Process.Start psi
            let stdout = p.StandardOutput.ReadToEndAsync()
            let stderr = p.StandardError.ReadToEndAsync()

            if not (p.WaitForExit(TimeSpan.FromMinutes 3.0)) then
                p.Kill true
                Error "PyTorch did not finish within 3 minutes"
            elif p.ExitCode <> 0 then
                Error $"python3 exited with {p.ExitCode}: {stderr.Result.Trim()}"
            else
                let last = stdout.Result.Trim().Split('\n') |> Array.last
                use doc = JsonDocument.Parse last

                Ok(
                    doc.RootElement.EnumerateObject()
                    |> Seq.map (fun p -> p.Name, p.Value.Clone())
                    |> Map.ofSeq
                )
        with e ->
            Error $"python3 could not be run: {e.Message}"
    finally
        File.Delete script

/// Our side of every workload, in milliseconds per iteration, with the targets the issue sets.
let runOurs (device: Device) (z: Sizes) quick (torch: Map<string, JsonElement>) =
    let rounds = if quick then 3 else 7

    let torchMs key =
        torch |> Map.tryFind key |> Option.map (fun e -> e.GetDouble())

    let gen = Generator 1UL
    let a = Tensor.Randn([| z.Gemm; z.Gemm |], DType.Float32, gen, device).Keep()
    let b = Tensor.Randn([| z.Gemm; z.Gemm |], DType.Float32, gen, device).Keep()

    let gemm () =
        use _ = Tensor.Scope()
        Tensor.MatMul(a, b) |> ignore

    let fp32 = time device rounds 10 gemm
    Device.AllowTf32 <- true

    let tf32 =
        try
            time device rounds 10 gemm
        finally
            Device.AllowTf32 <- false

    let x = Tensor.Randn([| z.Chain |], DType.Float32, gen, device).Keep()

    let chain () =
        use _ = Tensor.Scope()

        Autograd.Grad((fun (z: Tensor) -> ((z.Tanh() * z + z.Exp()).Sigmoid()).Sum()), x)
        |> ignore

    [ { Name = $"GEMM {z.Gemm}³ fp32"
        Cotangent = fp32
        Torch = torchMs "gemm_fp32"
        Target = Some 0.8 }
      { Name = $"GEMM {z.Gemm}³ TF32 (both sides allow TF32)"
        Cotangent = tf32
        Torch = torchMs "gemm_tf32"
        Target = None }
      { Name = "MLP 784-256-256-10 SGD step, batch 64"
        Cotangent = time device rounds 20 (stepper device 64)
        Torch = torchMs "mlp_64"
        Target = None }
      { Name = $"MLP 784-256-256-10 SGD step, batch {z.BigBatch}"
        Cotangent = time device rounds 20 (stepper device z.BigBatch)
        Torch = torchMs "mlp_big"
        Target = Some 0.8 }
      { Name = $"{z.Chain} elements: tanh·x + exp, sigmoid, sum, backward"
        Cotangent = time device rounds 10 chain
        Torch = torchMs "chain"
        Target = None } ]

/// Allocated and reserved bytes after step 100 and after the last of `steps` scoped MLP steps.
let memoryOver (device: Device) steps =
    let step = stepper device 64

    let settle () =
        GC.Collect()
        GC.WaitForPendingFinalizers()
        device.MemoryAllocated, device.MemoryReserved

    let mutable early = (0L, 0L)

    for i in 1..steps do
        step ()

        if i = 100 then
            early <- settle ()
            device.ResetPeakMemory()

    early, settle (), device.MaxMemoryAllocated

/// The report, as Markdown.
let report
    (device: Device)
    (tests: int * int)
    (torch: Result<Map<string, JsonElement>, string>)
    (rows: Row list)
    memory
    =
    let passed, failed = tests
    let (a0, r0), (a1, r1), peak = memory
    let mib (b: int64) = float b / 1048576.0
    let w = new StringWriter()
    let line (s: string) = w.WriteLine s
    line $"# GPU check: {device.Name}"
    line ""
    let stamp = DateTime.UtcNow.ToString "yyyy-MM-dd HH:mm"
    line $"Run {stamp} UTC on {device} by the program scripts/gpu-check.sh publishes."

    match torch with
    | Ok t when t.ContainsKey "torch" ->
        let version = t.["torch"].GetString()
        line $"PyTorch {version} on the same GPU, in its own process before ours."
    | Ok _ -> ()
    | Error why -> line $"PyTorch: not measured ({why})."

    let gemm =
        match device.Type with
        | DeviceType.Cuda ->
            match Backends.Gpu.CudaDevices.Get(device.Index).Blas with
            | null -> "the ILGPU kernel (cuBLAS did not load or start)"
            | blas -> "cuBLAS (" + blas.LibraryName + ")"
        | _ -> "the ILGPU kernel"

    line $"Matrix products ran through {gemm}."
    line ""
    line $"## Op suite on {device} against the CPU"
    line ""

    line
        $"{passed} passed, {failed} failed (every registered op, float64 to 1e-10 and float32 to 1e-4, forward and VJP; kernels at size, twice for the same bits)."

    line ""
    line "## Against PyTorch (ms per iteration, median of rounds; ratio = PyTorch / Cotangent, above 1 is faster)"
    line ""
    line "| workload | Cotangent | PyTorch | ratio | target |"
    line "|---|---:|---:|---:|---:|"

    for r in rows do
        let torchCell = r.Torch |> Option.map (sprintf "%.3f") |> Option.defaultValue "–"
        let ratio = r.Ratio |> Option.map (sprintf "%.2f×") |> Option.defaultValue "–"

        let target =
            match r.Target, r.Ratio with
            | Some t, Some x -> sprintf "≥ %.1f× %s" t (if x >= t then "met" else "**missed**")
            | Some t, None -> sprintf "≥ %.1f×" t
            | None, _ -> ""

        line $"| {r.Name} | {r.Cotangent:F3} | {torchCell} | {ratio} | {target} |"

    line ""
    line "## Allocator over scoped MLP steps (batch 64)"
    line ""
    let verdict = if (a0, r0) = (a1, r1) then "Flat." else "**Not flat.**"

    line
        $"After step 100: {mib a0:F2} MiB allocated, {mib r0:F2} MiB reserved; at the end: {mib a1:F2} MiB allocated, {mib r1:F2} MiB reserved; peak {mib peak:F2} MiB. {verdict}"

    w.ToString()
