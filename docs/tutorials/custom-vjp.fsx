(**
---
title: A custom VJP, checked by the property kit
category: Tutorials
categoryindex: 2
index: 3
---
*)
(*** hide ***)
#load "../../scripts/docs/refs.fsx"
(**
# A custom VJP, checked by the property kit

An op Cotangent lacks, or one whose derivative you can compute better than the chain rule
through its parts, gets a hand-written vector-Jacobian product. A hand-written rule can be
wrong, and a wrong gradient trains a model quietly badly; so the kit `Cotangent.Testing`
checks rules against finite differences, as FsCheck properties that shrink a failure to the
simplest input that shows it.

## Writing the rule

`customOp name inputs forward vjp` records `forward` as one op whose backward is `vjp`:
given the input's index, the output's cotangent g, the inputs and the output, it returns that
input's gradient. softplus(x) = log(1 + eˣ) has ∂/∂x = σ(x), so the gradient is g·σ(x):
*)
open Cotangent
open Cotangent.FSharp
open Cotangent.Testing

let softplusWith (rule: Tensor -> Tensor -> Tensor) (xs: Tensor list) =
    customOp "my_softplus" xs (fun xs -> log (1.0 + exp xs.Head)) (fun _ g xs _ -> Some(rule g xs.Head))

let softplus = softplusWith (fun g x -> g * sigmoid x)

let x = tensor [ -2.0; 0.0; 1.5 ] |> requiresGrad
let y = softplus [ x ]
(sum y).Backward()
printfn "y = %O, y.GradFn = %O" y y.GradFn
printfn "x.Grad = %O" x.Grad
(*** include-output ***)
(**
The same op written as PyTorch's `torch.autograd.Function`, a class with a forward that saves
what the backward needs, is `Function` in the C# core; from F#:
*)
type Softplus() =
    inherit Function()

    override _.Forward(ctx, inputs) =
        ctx.SaveForBackward inputs.[0]
        log (1.0 + exp inputs.[0])

    override _.Backward(ctx, g) = [| g * sigmoid ctx.SavedTensors.[0] |]

let x2 = tensor [ -2.0; 0.0; 1.5 ] |> requiresGrad
(sum (Softplus().Apply x2)).Backward()
printfn "Softplus().Apply: x.Grad = %O" x2.Grad
(*** include-output ***)
(**
## Checking it once

Finite differences need float64 (a float32 difference quotient is good to about 1e-3), so the
checks take float64 tensors: `Tensor.From` of F# floats makes one. `GradCheck.vjpVsJacobian` builds the Jacobian from central differences, column by column, and
compares Jᵀv with the rule's answer for a random v (the seed picks v). It returns quietly when
they agree:
*)
GradCheck.vjpVsJacobian GradCheck.defaultTolerance softplus [ Tensor.From(0.5, -1.0, 3.0) ] 1
printfn "the rule agrees with finite differences"
(*** include-output ***)
(**
A rule that is slightly wrong, σ(x) plus a tenth, does not:
*)
let wrong = softplusWith (fun g x -> g * sigmoid x + 0.1 * g)

let caught =
    try
        GradCheck.vjpVsJacobian GradCheck.defaultTolerance wrong [ Tensor.From(0.5, -1.0, 3.0) ] 1
        None
    with :? GradCheck.GradCheckException as e ->
        Some e.Message

match caught with
| Some message -> printfn "%s" message
| None -> failwith "the wrong rule passed the check" // the page must not claim what did not happen
(*** include-output ***)
(**
## Checking it everywhere, and shrinking a failure

One input proves little. `GradProps.vjpMatchesJacobian` is the same check as an FsCheck
property over generated inputs: here tensors of rank 1 to 3, sizes 1 to 4, values drawn from
[−2, 2] (`Sampling.Real`, the domain of functions defined everywhere). The correct rule passes a
hundred of them:
*)
open FsCheck
open FsCheck.FSharp

let inputs = Arbs.tensors Sampling.Real (Gen.map List.singleton (Gens.shape 1 3))

Check.One(Config.QuickThrowOnFailure, GradProps.vjpMatchesJacobian GradCheck.defaultTolerance inputs softplus)
(*** include-output ***)
(**
The wrong rule fails, and FsCheck shrinks the input that showed it: every value set to the
simplest one of the domain (0 here), else one value at a time, else values rounded to one
decimal (`Arbs.tensor`, for a single tensor, first drops elements too). The report shows the
original and the shrunk input, the cotangent v, both gradients, and the seed that replays the
run (`(20261203,3)`, given back to `Config.WithReplay`):
*)
let config =
    Config.QuickThrowOnFailure.WithReplay(
        Some
            { Rnd = Rnd(20261203UL, 3UL)
              Size = None }
    )

let falsified =
    try
        Check.One(config, GradProps.vjpMatchesJacobian GradCheck.defaultTolerance inputs wrong)
        None
    with e when e.Message.StartsWith "Falsifiable" && e.Message.Contains "GradCheckException" ->
        Some e.Message

match falsified with
| Some message ->
    // FsCheck's report, without the stack trace at its end
    message.Split '\n'
    |> Array.takeWhile (fun line -> not (line.TrimStart().StartsWith "at "))
    |> Array.iter (printfn "%s")
| None -> failwith "the wrong rule passed the property"
(*** include-output ***)
(**
In a test project the same property is one line of Expecto (what `tests/Properties` does for
every registered op):

    testProperty "my_softplus's rule" (GradProps.vjpMatchesJacobian GradCheck.defaultTolerance inputs softplus)

`GradProps.vjpMatchesDifferences` compares along random directions instead of the whole
Jacobian (cheaper for big inputs), and `GradProps.adjointIdentity` checks ⟨J u, w⟩ = ⟨u, Jᵀ w⟩
with J u from finite differences and `jvp` against the same J u, so a rule cannot pass by
agreeing with itself.
*)
