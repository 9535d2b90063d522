/// The examples' data set: three interleaved spiral arms with noise, generated (no downloads),
/// and the accuracy of a classifier on it. Linked into TrainMlp, Ddp and DataParallel.
module Cotangent.Examples.Spirals

open System
open Cotangent
open Cotangent.FSharp
open Cotangent.Nn

/// n points per class on three interleaved spiral arms, with Gaussian noise.
let make (gen: Generator) n =
    let classes = 3
    let t = gen.Uniform(n * classes)
    let noise = gen.Normal(2 * n * classes)
    let xs = Array.zeroCreate (n * classes * 2)
    let ys = Array.zeroCreate (n * classes)

    for k in 0 .. n * classes - 1 do
        let c = k % classes
        let r = 0.1 + 0.9 * t.[k]
        let angle = 3.0 * Math.PI * t.[k] + 2.0 * Math.PI * float c / float classes
        xs.[2 * k] <- float32 (r * cos angle + 0.04 * noise.[2 * k])
        xs.[2 * k + 1] <- float32 (r * sin angle + 0.04 * noise.[2 * k + 1])
        ys.[k] <- int64 c

    Tensor.FromArray(xs, [| n * classes; 2 |]), Tensor.FromArray(ys, [| n * classes |])

/// The examples' classifier: 2 → 64 → 64 → 3 with ReLUs, drawn from the generator.
let mlp (gen: Generator) (dtype: DType) =
    Sequential(
        Linear(2, 64, generator = gen, dtype = dtype),
        ReLU(),
        Linear(64, 64, generator = gen, dtype = dtype),
        ReLU(),
        Linear(64, 3, generator = gen, dtype = dtype)
    )

/// The share of rows whose largest logit is the label's.
let accuracy (net: Module) (x: Tensor) (y: Tensor) =
    noGrad (fun () ->
        let logits = net.Forward x

        let predicted =
            logits.Eq(logits.Max(1, keepDim = true)).To(DType.Int64).Gather(1, y.Unsqueeze 1)

        predicted.To(DType.Float64).Mean().Item<float>())
