/// The same training code twice, once with the imperative API (leaves, Backward, .Grad) and
/// once as a diff { } program whose pullback gives the gradients, for the bench to time side
/// by side: what diff { } costs over the engine it runs on.
module Cotangent.Bench.DslPrograms

open System
open Cotangent
open Cotangent.FSharp
open Cotangent.Nn

/// The seed example: x = randn(3), doubled 11 times, then Jᵀv.
let seedImperative (v: Tensor) =
    Action(fun () ->
        use _ = Tensor.Scope()
        let x = Tensor.Randn(3).RequireGrad()
        let mutable y = x * 2.0

        for _ in 1..10 do
            y <- y * 2.0

        y.Backward v)

/// The seed example as a program of 11 steps, pulled back with v.
let seedDiff (v: Tensor) =
    Action(fun () ->
        use _ = Tensor.Scope()
        let x = Tensor.Randn(3)

        let program = Diff.fold (fun h _ -> Diff.lift1 (fun t -> t * 2.0) h) x [ 1..11 ]

        let _, pullback = Diff.run program
        (pullback v).[x] |> ignore)

let private mlp () =
    Sequential(Linear(784, 256), ReLU(), Linear(256, 256), ReLU(), Linear(256, 10))

/// An MLP 784-256-256-10 training step: forward, cross-entropy, Backward, SGD.
let mlpImperative (batch: int) =
    let net = mlp ()
    let opt = Sgd(net.Parameters(), 0.01)
    let xb = Tensor.Randn(batch, 784)
    let yb = Tensor.Randint(0L, 10L, [| batch |])

    Action(fun () ->
        use _ = Tensor.Scope()
        opt.ZeroGrad()
        Tensor.CrossEntropy(net.Forward xb, yb).Backward()
        opt.Step())

/// The same step as a diff { } program over the parameters' values: its pullback's gradients
/// are handed to the same optimizer.
let mlpDiff (batch: int) =
    let net = mlp ()
    let ps = net.Parameters() |> Array.ofSeq
    let opt = Sgd(ps, 0.01)
    let xb = Tensor.Randn(batch, 784)
    let yb = Tensor.Randint(0L, 10L, [| batch |])

    let program () =
        let w i = ps.[i].Value

        diff {
            let! h1 = Diff.linear (w 0) (w 1) xb
            let! a1 = Diff.relu h1
            let! h2 = Diff.linear (w 2) (w 3) a1
            let! a2 = Diff.relu h2
            let! logits = Diff.linear (w 4) (w 5) a2
            return! Diff.crossEntropy yb logits
        }

    Action(fun () ->
        use _ = Tensor.Scope()
        let loss, pullback = Diff.runFor [ for p in ps -> p.Value ] (program ())
        let grads = pullback (Tensor.OnesLike loss)

        for p in ps do
            p.SetGrad grads.[p.Value]

        opt.Step())
