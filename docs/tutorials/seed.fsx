(**
---
title: Autograd, from the seed chapter
category: Tutorials
categoryindex: 2
index: 1
---
*)
(*** hide ***)
#load "../../scripts/docs/refs.fsx"
(**
# Autograd, from the seed chapter

Cotangent began as a port of a PyTorch chapter on autograd: tensors that record the operations
made on them, a `grad_fn` on every result, `backward(v)` computing a vector-Jacobian product
Jᵀv, and gradients that accumulate in `.grad` until they are cleared. This page runs that
chapter in F#; every value shown was computed when the page was built.

## Tensors that require a gradient

A leaf tensor asks for its gradient with `requiresGrad`. Operations on it produce tensors
that remember the operation that made them: their `GradFn`, PyTorch's `grad_fn`.
*)
open Cotangent
open Cotangent.FSharp

Tensor.manualSeed 2025UL
let x = randn [ 3 ] |> requiresGrad
let y0 = x * 2.0
printfn "x is a leaf: %b, x.GradFn = %O" x.IsLeaf x.GradFn
printfn "y0 is a leaf: %b, y0.GradFn = %O" y0.IsLeaf y0.GradFn
(*** include-output ***)
(**
## backward(v) is Jᵀv

The chapter doubles `y` until its norm passes 1000. The result is not a scalar, so `backward`
needs a vector `v`: it computes Jᵀv, where J is the Jacobian of y with respect to x. Here
J = 2^(i+1)·I, so the gradient is `v` scaled by the same power of two.
*)
let mutable y = x * 2.0
let mutable i = 0

while norm y < 1000.0 do
    y <- y * 2.0
    i <- i + 1

let v = tensor [ 0.1; 1.0; 0.0001 ]
y |> backwardWith v
printfn "doublings: %d" (i + 1)
printfn "x.Grad        = %O" x.Grad
printfn "2^(i+1) · v   = %O" (v * (2.0 ** float (i + 1)))
(*** include-output ***)
(**
## The graph behind y

Each `GradFn` points at the backward functions of its inputs (`NextFunctions`, PyTorch's
`next_functions`); a leaf that requires a gradient ends a chain. Walking them from `y.GradFn`
draws the graph the backward pass followed (rendered with Graphviz when this page was built):
*)
/// The backward functions from a tensor's GradFn down to its leaves, as Graphviz's DOT text;
/// `names` labels the leaves, and inputs that need no gradient (the constant 2) are left out.
let graphOf (names: (Tensor * string) list) (t: Tensor) =
    let lines =
        ResizeArray
            [ "digraph autograd {"
              "  rankdir=BT; node [shape=box, fontname=\"DejaVu Sans\"];" ]

    let ids = System.Collections.Generic.Dictionary<obj, string>(HashIdentity.Reference)

    let leafId (leaf: Tensor) =
        match ids.TryGetValue leaf with
        | true, id -> id
        | _ ->
            let id = sprintf "leaf%d" ids.Count
            ids.[leaf] <- id

            let name =
                names
                |> List.tryFind (fun (l, _) -> obj.ReferenceEquals(l, leaf))
                |> Option.map snd

            lines.Add(
                sprintf "  %s [label=\"%s %A (leaf)\", shape=ellipse];" id (defaultArg name "") (Tensor.shape leaf)
            )

            id

    let rec visit (n: Node) =
        match ids.TryGetValue n with
        | true, id -> id
        | _ ->
            let id = sprintf "n%d" ids.Count
            ids.[n] <- id
            lines.Add(sprintf "  %s [label=\"%O\"];" id n)

            for next, leaf in Seq.zip n.NextFunctions n.NextLeaves do
                match next, leaf with
                | null, null -> () // a constant: no gradient flows there
                | null, leaf -> lines.Add(sprintf "  %s -> %s;" (leafId leaf) id)
                | next, _ -> lines.Add(sprintf "  %s -> %s;" (visit next) id)

            id

    let root = visit t.GradFn
    lines.Add(sprintf "  out [label=\"y %A\", shape=ellipse]; %s -> out;" (Tensor.shape t) root)
    lines.Add "}"
    String.concat "\n" lines

(*** hide ***)
DocsKit.png
    "the autograd graph of y: a chain of MulBackward nodes from the leaf x"
    (DocsKit.dot (graphOf [ (x, "x") ] y))
(*** include-it-raw ***)
(**
## The chain rule as a product of Jacobians

For a composition loss = g(f(x)) the chain rule says ∂loss/∂x = J_fᵀ J_gᵀ v. With the
functional transform `jacobian` both Jacobians can be written out for a small case and
multiplied by hand; the product agrees with what `backward` accumulates.
*)
let w = tensor [ [ 1.0; 2.0; 0.0 ]; [ 0.0; -1.0; 3.0 ] ]
let f (x: Tensor) = w *@ x // ℝ³ → ℝ²
let g (u: Tensor) = tanh u // ℝ² → ℝ²
let x1 = tensor [ 0.5; -0.25; 0.1 ]
let v1 = tensor [ 1.0; 0.5 ]

let jf = jacobian f x1 // 2 × 3
let jg = jacobian g (f x1) // 2 × 2
let byHand = jf.Transpose(0, 1) *@ (jg.Transpose(0, 1) *@ v1)

let x1g = x1 |> requiresGrad
g (f x1g) |> backwardWith v1
printfn "J_fᵀ J_gᵀ v = %O" byHand
printfn "x.Grad      = %O" x1g.Grad
(*** include-output ***)
(**
## Gradients accumulate

A second backward pass adds to `.Grad` rather than replacing it, as in PyTorch; `ZeroGrad`
clears it between steps.
*)
let z = x1g * 3.0
sum z |> backward
printfn "after a second pass: %O" x1g.Grad
x1g.ZeroGrad()
printfn "after ZeroGrad: %O" x1g.Grad
(*** include-output ***)
