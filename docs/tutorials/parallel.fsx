(**
---
title: DataParallel and DistributedDataParallel
category: Tutorials
categoryindex: 2
index: 6
---
*)
(*** hide ***)
#load "../../scripts/docs/refs.fsx"
(**
# DataParallel and DistributedDataParallel

The seed chapter ends with training on several GPUs: `DataParallel` in one process, and
`DistributedDataParallel` with one process a GPU, each told its place by `WORLD_SIZE`, `RANK`
and `LOCAL_RANK`. Both are here under PyTorch's names, in `Cotangent.Distributed`; the processes
are started by MPI's `mpiexec`, which gives each rank its place. This page runs them on simulated devices and in-process ranks, and
then runs the DDP example under `mpiexec`, as you would on a machine with GPUs.

## DataParallel: one process, the batch split over devices

Each forward splits the batch along its first axis over the devices (as `torch.chunk`, so an
uneven last batch works), copies the parameters to each device with differentiable copies (so
gradients flow back and add up on the originals), runs the devices at once and gathers the
outputs on the first. One optimizer updates the one model.
*)
open System
open System.IO
open System.Threading.Tasks
open Cotangent
open Cotangent.FSharp
open Cotangent.Nn
open Cotangent.Distributed
open Cotangent.Examples

let devices = [| Device.Simulated 0; Device.Simulated 1 |] // or Device.Cuda 0, Device.Cuda 1
let xs, ys = Spirals.make (Generator 2026UL) 100
let x, y = (xs.To DType.Float64).To devices.[0], ys.To devices.[0]

let trainOn (forward: Tensor -> Tensor) (parameters: Parameter seq) =
    let opt = Adam(parameters, 0.01)

    for _ in 1..15 do
        use _ = Tensor.Scope()
        opt.ZeroGrad()
        Tensor.CrossEntropy(forward x, y).Backward()
        opt.Step()

let single = (Spirals.mlp (Generator 1UL) DType.Float64).To devices.[0]
trainOn single.Forward (single.Parameters())

let net = (Spirals.mlp (Generator 1UL) DType.Float64).To devices.[0]
let dp = DataParallel(net, devices)
trainOn dp.Forward (dp.Parameters())

let flat (m: Module) =
    Tensor.Cat([| for p in m.Parameters() -> p.Value.Flatten().Cpu() |], 0)

let gap = item ((flat single - flat net).Abs().Max())
printfn "largest difference from one device after 15 steps: %.1e" gap

if not (gap < 1e-12) then
    failwithf "DataParallel drifted from one device by %g" gap
(*** include-output ***)
(**
The two sides agree to rounding: the split batch's gradients add up to the whole batch's.

## DistributedDataParallel: one process a device

Every rank runs the same program on its own shard of the data; after each backward the ranks'
gradients are averaged, so every rank takes the same optimizer step. Buckets of gradients are
all-reduced while backward is still running (a bucket starts as soon as its last gradient is
complete). `ProcessGroup.InProcess n` makes n ranks in one process, one thread each: what the
test suite uses, and a way to try DDP code without `mpiexec`.
*)
let rankMain (group: ProcessGroup) =
    let net = Spirals.mlp (Generator(uint64 (1 + group.Rank))) DType.Float64 // rank 0's values win
    let ddp = DistributedDataParallel(net, group)
    let opt = Sgd(ddp.Parameters(), 0.1)
    let sampler = DistributedSampler(xs.Size 0, group, seed = 7UL)
    let xc = xs.To DType.Float64

    let mutable rows = 0

    for epoch in 1..5 do
        sampler.SetEpoch epoch // a new shuffle, the same on every rank
        let struct (xr, yr) = sampler.Shard(xc, ys) // this rank's rows
        rows <- xr.Size 0

        for xb, yb in DataLoader(xr, yr, 32) do
            use _ = Tensor.Scope()
            opt.ZeroGrad()
            Tensor.CrossEntropy(ddp.Forward xb, yb).Backward() // gradients averaged over ranks
            opt.Step()

    let w = (flat net).ToArray<float>()

    sprintf
        "rank %d of %d: %d rows an epoch, weights %.17g %.17g …"
        group.Rank
        group.WorldSize
        rows
        w.[0]
        w.[w.Length - 1]

let lines =
    ProcessGroup.InProcess 2
    |> Array.map (fun g -> Task.Factory.StartNew((fun () -> rankMain g), TaskCreationOptions.LongRunning))
    |> Array.map (fun t -> t.Result)

lines |> Array.iter (printfn "%s")

// the ranks' lines differ only in their rank: the same rows an epoch and the same weights
if
    lines
    |> Array.map (fun l -> l.Substring(l.IndexOf ':'))
    |> Array.distinct
    |> Array.length
    <> 1
then
    failwith "the ranks ended with different weights"
(*** include-output ***)
(**
Both ranks end with the same weights, bit for bit.

## Under mpiexec

With MPI (Debian's `mpich` package), each rank is a process; `ProcessGroup.FromEnvironment()`
joins the MPI world when the program runs under `mpiexec`, is a world of one when run alone, and
refuses a `WORLD_SIZE` above 1 without `mpiexec` (ranks join through MPI, not through a
rendezvous address). Its `Rank`, `WorldSize` and `LocalRank` come from the MPI communicator
(torchrun's `RANK`, `WORLD_SIZE` and `LOCAL_RANK` must agree where they are set), and
`group.LocalDevice` is `cuda:(LocalRank mod CudaCount)` on a machine with GPUs, else the CPU. The repository's `examples/Ddp` trains the spiral
classifier this way, then checks that every rank holds the same parameters:

```sh
dotnet build examples/Ddp -c Release
mpiexec -n 2 dotnet examples/Ddp/bin/Release/net10.0/Ddp.dll       # one host, two ranks
mpiexec -f hosts -n 4 dotnet /shared/path/Ddp.dll                   # hosts: lines of "name:ranks"
```

Run while this page was built, the `mpiexec -n 2` line printed (the ranks' lines interleave in
whatever order they arrive):
*)
(*** hide ***)
let root = Path.GetFullPath(Path.Combine(__SOURCE_DIRECTORY__, "../.."))

let run file args =
    DocsKit.run root file args [ "MPIEXEC_TIMEOUT", "300" ] // mpiexec ends a job that outlives it

run "dotnet" "build examples/Ddp -c Release -v q -nologo" |> ignore
printf "%s" (run "mpiexec" "-n 2 dotnet examples/Ddp/bin/Release/net10.0/Ddp.dll")
(*** include-output ***)
(**
A rank that throws, times out in a collective (`group.Timeout`, 5 minutes by default, or
`COTANGENT_DIST_TIMEOUT` seconds) or fails during backward aborts the whole MPI job with the
reason on stderr, rather than leaving the others waiting.

## Model and intra-layer parallelism

A model too big for one device is split into stages, each on its own device, with
`ToDevice d` between them: `Sequential(stage1.To d0, ToDevice d1, stage2.To d1)` trains as one
model, gradients flowing back across the devices. `ColumnParallelLinear` and
`RowParallelLinear` split one layer's output or input features over ranks (Megatron's MLP),
joined by the differentiable collectives `Collectives.AllGather`, `Collectives.AllReduce` and
`Collectives.Replicate`.
*)
