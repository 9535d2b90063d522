// The seed chapter's autograd example in the F# DSL, three ways.
//   dotnet tool restore && dotnet build src/Dsl.FSharp && dotnet fsi examples/Seed.fsx
#load "Cotangent.fsx"

open Cotangent
open Cotangent.FSharp

Tensor.manualSeed 2025UL

// 1. Imperative, as in PyTorch: y = x·2, doubled while ‖y‖ < 1000, then y.backward(v).
let x = randn [ 3 ] |> requiresGrad
let mutable y = x * 2.0
let mutable i = 0

while norm y < 1000.0 do
    y <- y * 2.0
    i <- i + 1

let v = tensor [ 0.1; 1.0; 0.0001 ]
y |> backwardWith v
printfn "i = %d\nx.grad = %O" i x.Grad

// 2. The same program as diff { }: each doubling is a step; the pullback composes them.
let program =
    diff {
        let y = ref x
        let! first = Diff.lift1 (fun t -> t * 2.0) x
        y.Value <- first

        while norm y.Value < 1000.0 do
            let! doubled = Diff.lift1 (fun t -> t * 2.0) y.Value
            y.Value <- doubled

        return y.Value
    }

let _, pullback = Diff.run program
printfn "pullback v = %O" (pullback v).[x]

// 3. Functional: the Jacobian is 2^(i+1)·I, and grad of a scalar function.
let jac = jacobian (fun x -> x * (2.0 ** float (i + 1))) (x.Detach())
printfn "J = %O" jac
printfn "grad Σ tanh(x) = %O" (grad (fun x -> sum (tanh x)) (x.Detach()))

let expected = Tensor.toArray v |> Array.map (fun e -> e * 2.0 ** float (i + 1))

let agree (t: Tensor) =
    Array.forall2 (fun a e -> abs (a - e) <= 1e-5 * abs e) (Tensor.toArray t) expected

let ok = agree x.Grad && agree (pullback v).[x]
printfn "x.grad = pullback v = 2^(i+1)·v: %s" (if ok then "OK" else "MISMATCH")

if not ok then
    exit 1
