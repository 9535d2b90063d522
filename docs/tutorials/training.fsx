(**
---
title: Training and checkpointing
category: Tutorials
categoryindex: 2
index: 4
---
*)
(*** hide ***)
#load "../../scripts/docs/refs.fsx"
(**
# Training and checkpointing

A classifier on three interleaved spiral arms (generated, no downloads), trained with Adam and
a cosine schedule, saved to a safetensors checkpoint and loaded back. The data set and the
2 → 64 → 64 → 3 network come from `examples/Shared/Spirals.fs`, the file the training
examples use.
*)
open System.IO
open Cotangent
open Cotangent.FSharp
open Cotangent.Nn
open Cotangent.Io
open Cotangent.Examples

let gen = Generator 2026UL
let xs, ys = Spirals.make gen 200
let net = Spirals.mlp gen DType.Float32
let epochs = 60
let opt = Adam(net.Parameters(), 0.01)
let schedule = CosineAnnealingLr(opt, epochs, 0.0005)
let loader = DataLoader(xs, ys, 64, shuffle = true, generator = Generator 2UL)
let losses = ResizeArray<float>()

for epoch in 1..epochs do
    let mutable total = 0.0

    for xb, yb in loader do
        use _ = Tensor.Scope() // the step's intermediates give their buffers back here
        opt.ZeroGrad()
        let loss = Tensor.CrossEntropy(net.Forward xb, yb)
        loss.Backward()
        opt.Step()
        total <- total + loss.Item<float>() * float (xb.Size 0)

    schedule.Step()
    losses.Add(total / float (xs.Size 0))

printfn "first epoch %.4f, last epoch %.4f" losses.[0] losses.[losses.Count - 1]
printfn "training accuracy %.1f%%" (100.0 * Spirals.accuracy net xs ys)
(*** include-output ***)
(**
## The loss curve
*)
let curve = new ScottPlot.Plot()

curve.Add.Scatter(Array.init losses.Count (fun i -> float (i + 1)), losses.ToArray())
|> ignore

curve.XLabel "epoch"
curve.YLabel "training cross-entropy"
(*** hide ***)
DocsKit.plot "the training loss falling over the epochs" 700 400 curve
(*** include-it-raw ***)
(**
## The decision boundary

The network's class for every point of a grid over the plane, drawn under the training points.
*)
let n = 120

let grid =
    Tensor.FromArray(
        Array.init (n * n * 2) (fun k ->
            let p = k / 2
            float32 (-1.2 + 2.4 * float (if k % 2 = 0 then p % n else p / n) / float (n - 1))),
        [| n * n; 2 |]
    )

let classes = noGrad (fun () -> (net.Forward grid).ArgMax(1) |> Tensor.toArray)
let picture = new ScottPlot.Plot()
let heat = Array2D.init n n (fun r c -> classes.[(n - 1 - r) * n + c])
let hm = picture.Add.Heatmap heat
hm.Extent <- ScottPlot.CoordinateRect(-1.2, 1.2, -1.2, 1.2)
hm.Opacity <- 0.35
let pts = Tensor.toArray xs
let labels = Tensor.toArray ys

for c in 0..2 do
    let idx =
        [| for k in 0 .. labels.Length - 1 do
               if int labels.[k] = c then
                   k |]

    let s =
        picture.Add.ScatterPoints(Array.map (fun k -> pts.[2 * k]) idx, Array.map (fun k -> pts.[2 * k + 1]) idx)

    s.LegendText <- sprintf "class %d" c
(*** hide ***)
DocsKit.plot "the classes the network assigns over the plane, with the spiral training points" 600 600 picture
(*** include-it-raw ***)
(**
## Checkpoints

`Checkpoint.Save` writes the model's parameters and buffers and the optimizer's state into one
safetensors file; `Checkpoint.Load` puts them back into a model of the same shape, so training
can resume where it stopped.
*)
let path = Path.Combine(Path.GetTempPath(), "spirals.safetensors")
Checkpoint.Save(path, net, opt)
let restored = Spirals.mlp (Generator 7UL) DType.Float32
Checkpoint.Load(path, restored)
printfn "saved %d bytes; restored accuracy %.1f%%" (FileInfo(path).Length) (100.0 * Spirals.accuracy restored xs ys)
(*** include-output ***)
