// Fits y = 3·x₁ − 2·x₂ + 0.5 (plus noise) with a linear model written as diff { } and a
// hand-rolled SGD loop over its pullback.
//   dotnet tool restore && dotnet build src/Dsl.FSharp && dotnet fsi examples/Regression.fsx
#load "Cotangent.fsx"

open Cotangent
open Cotangent.FSharp

let gen = Generator 7UL
let n = 256
let xs = Tensor.Randn([| n; 2 |], DType.Float32, gen)
let noise = Tensor.Randn([| n; 1 |], DType.Float32, gen) * 0.05
let trueW = tensor [ [ 3.0; -2.0 ] ]
let ys = xs *@ trueW.T + 0.5 + noise

/// The model and its loss: one linear step, one mean-squared-error step.
let lossOf (w: Tensor) (b: Tensor) =
    diff {
        let! prediction = Diff.linear w b xs
        return! Diff.mse ys prediction
    }

let mutable w = Tensor.zeros [ 1; 2 ]
let mutable b = Tensor.zeros [ 1 ]
let learningRate = 0.1

for step in 0..150 do
    let loss, pullback = Diff.run (lossOf w b)
    let g = pullback (Tensor.scalar 1.0)
    // SGD: new parameter values; tensors themselves never change
    w <- noGrad (fun () -> w - learningRate * g.[w])
    b <- noGrad (fun () -> b - learningRate * g.[b])

    if step % 25 = 0 then
        printfn "step %3d  loss %.6f" step (item loss)

printfn "w = %O\nb = %O" w b
let fitted = Tensor.toArray w

let ok =
    abs (fitted.[0] - 3.0) < 0.05
    && abs (fitted.[1] + 2.0) < 0.05
    && abs (item b - 0.5) < 0.05

printfn "recovered 3, -2 and 0.5 within 0.05: %s" (if ok then "OK" else "NO")

if not ok then
    exit 1
