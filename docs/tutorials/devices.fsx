(**
---
title: Devices and memory
category: Tutorials
categoryindex: 2
index: 5
---
*)
(*** hide ***)
#load "../../scripts/docs/refs.fsx"
(**
# Devices and memory

The seed chapter's second half moves tensors and models to CUDA GPUs. Cotangent names devices
as PyTorch does (`cpu`, `cuda:0`, `cuda:1`) and adds simulated GPUs (`sim:0`, `sim:1`, …): the
GPU backend's own kernels and caching allocator, run on the CPU by ILGPU's CPU accelerator. Code
written against `sim:0` runs unchanged on `cuda:0`. This page uses `sim:0` so that it builds
anywhere; put `Device.Cuda 0` in its place on a machine with a GPU.

## Which devices there are
*)
open Cotangent
open Cotangent.FSharp
open Cotangent.Nn
open Cotangent.Examples

printfn "CUDA devices: %d" Device.CudaCount
printfn "available:    %s" (Device.Available |> Seq.map string |> String.concat ", ")
let dev = Device.Simulated 0
printfn "using %O, %s" dev dev.Name

/// Runs f, which must fail with 'E, and prints the error a user would see.
let showError<'E when 'E :> exn> (f: unit -> unit) =
    try
        f ()
        failwithf "expected a %s" typeof<'E>.Name
    with :? 'E as e ->
        printfn "%s: %s" (e.GetType().Name) e.Message
(*** include-output ***)
(**
Without the CUDA driver there are no CUDA devices, and asking for one is an error that says why
(as is a `CUDA_VISIBLE_DEVICES` that hides every GPU), never a silent fallback to the CPU:
*)
if Device.CudaCount = 0 then
    showError<DeviceUnavailableException> (fun () -> Tensor.Zeros([| 2 |], device = Device.Cuda 0) |> ignore)
else
    printfn "this machine has %d CUDA devices; cuda:0 is %s" Device.CudaCount (Device.Cuda 0).Name
(*** include-output ***)
(**
## Moving tensors and models

`x.To device` is the only way data crosses devices; it is an op of its own, so a gradient flows
back to the device its leaf lives on. Ops never copy implicitly: operands on two devices are an
error naming both.
*)
let a = Tensor.Randn([| 2; 3 |], device = dev)
let b = Tensor.Randn([| 2; 3 |])
printfn "a on %O, b on %O" a.Device b.Device

showError<DeviceMismatchException> (fun () -> a + b |> ignore)

let leaf = Tensor.Randn([| 3 |]).RequireGrad() // on the CPU
let onDevice = leaf.To dev
(sum (onDevice * onDevice)).Backward()
printfn "the gradient of a CPU leaf used on %O: %O" dev leaf.Grad
(*** include-output ***)
(**
`module.To device` moves every parameter (with its gradient), and an optimizer's state follows
its parameters at the next step. The spiral classifier of the training tutorial, trained on the
device for a few epochs:
*)
let gen = Generator 2026UL
let xs, ys = Spirals.make gen 100
let net = (Spirals.mlp gen DType.Float32).To dev
let opt = Adam(net.Parameters(), 0.01)
let xd, yd = xs.To dev, ys.To dev

for epoch in 1..20 do
    use _ = Tensor.Scope()
    opt.ZeroGrad()
    let loss = Tensor.CrossEntropy(net.Forward xd, yd)
    loss.Backward()
    opt.Step()

    if epoch % 5 = 0 then
        printfn
            "epoch %2d  loss %.4f  (parameters on %O)"
            epoch
            (loss.Item<float>())
            (Seq.head (net.Parameters())).Value.Device
(*** include-output ***)
(**
## Memory counters

A GPU device's memory comes from a caching allocator, as PyTorch's: blocks rounded to 512
bytes, carved from segments the driver gave once, and reused. `MemoryAllocated` counts bytes
in live tensors, `MemoryReserved` what the cache holds, `MaxMemoryAllocated` the peak since
`ResetPeakMemory()`. A `Tensor.Scope()` gives a step's blocks back at its end, so the loop above
asks the driver for nothing after its first steps:
*)
let mb (bytes: int64) = float bytes / 1048576.0

let report label =
    printfn
        "%-28s allocated %7.3f MiB  reserved %7.3f MiB  peak %7.3f MiB"
        label
        (mb dev.MemoryAllocated)
        (mb dev.MemoryReserved)
        (mb dev.MaxMemoryAllocated)

dev.ResetPeakMemory()
report "before"

do
    use _ = Tensor.Scope()
    let big = Tensor.Randn([| 1024; 1024 |], device = dev) // 4 MiB of float32
    report "inside a scope, 4 MiB live"
    (big * 2.0).Sum() |> ignore

report "after the scope"
dev.EmptyCache()
report "after EmptyCache"
(*** include-output ***)
(**
`SetMemoryLimit` caps a device (for tests, or a GPU shared with others). A request past the cap
first empties the cache and retries, then collects garbage and retries, and only then fails,
naming the op, the device, the request and the counters; the device stays usable:
*)
dev.SetMemoryLimit(System.Nullable(8L * 1048576L))

showError<OutOfDeviceMemoryException> (fun () -> Tensor.Zeros([| 4096; 4096 |], device = dev) |> ignore) // 64 MiB

dev.SetMemoryLimit(System.Nullable())
printfn "still usable: %O" (Tensor.Ones([| 2 |], device = dev))
(*** include-output ***)
(**
## Choosing a GPU

On a machine with GPUs, `Device.Cuda i` picks one, `Device.Parse "cuda:1"` reads a name, and
`CUDA_VISIBLE_DEVICES` reorders or hides them as for PyTorch (the driver applies it:
`CUDA_VISIBLE_DEVICES=1,0` makes physical GPU 1 `cuda:0`). `Device.Default <- d` places every
creation function's tensors on `d` for the process; `use _ = Device.UseDefault d` does it for the
current flow and the tasks it starts. GPU launches are queued; reading a value (`Item`,
`ToArray`, `Cpu()`) waits for them, and `dev.Synchronize()` waits explicitly.
*)
