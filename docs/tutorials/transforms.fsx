(**
---
title: Functional transforms and diff { }
category: Tutorials
categoryindex: 2
index: 2
---
*)
(*** hide ***)
#load "../../scripts/docs/refs.fsx"
(**
# Functional transforms and `diff { }`

Besides PyTorch's imperative face (`requiresGrad`, `backward`), Cotangent has JAX's functional
one: transforms that take a function and return derivatives, with nothing mutated. They nest,
closures included, so higher derivatives are exact.
*)
open Cotangent
open Cotangent.FSharp

let f (x: Tensor) = sum (sin x * x)
let x = tensor [ 0.5; 1.0; 2.0 ]

printfn "grad f x      = %O" (grad f x) // sin x + x cos x
printfn "analytic      = %O" (sin x + x * cos x)
let y, pullback = vjp (fun x -> x * x) x
printfn "vjp: pullback [1; 0; 2] = %O" (pullback (tensor [ 1.0; 0.0; 2.0 ]))
let _, jt = jvp sin x (tensor [ 1.0; 1.0; 1.0 ])
printfn "jvp sin: J·1 = %O (cos x = %O)" jt (cos x)
(*** include-output ***)
(**
## Higher order: transforms over closures

`grad` of a function that itself calls `grad` on a closure over the outer argument. For
g(a) = d/dx (a·x³) at x = 2, g(a) = 12a, so dg/da = 12.
*)
let inner (a: Tensor) =
    grad (fun x -> sum (a * x * x * x)) (tensor [ 2.0 ])

printfn "dg/da = %O" (grad (fun a -> sum (inner a)) (tensor [ 1.5 ]))
printfn "hessian of Σx³ at x: %O" (hessian (fun x -> sum (x * x * x)) x)
(*** include-output ***)
(**
## `diff { }`: differentiable programs as computation expressions

A `diff { }` program is a chain of steps; running it returns the value and the composed pullback
v ↦ J₁ᵀ(J₂ᵀ(… v)), which gives the cotangent of every tensor that entered the program.
*)
let w1 = tensor [ [ 0.5; -1.0 ]; [ 1.0; 0.25 ]; [ -0.5; 2.0 ] ]
let b1 = tensor [ 0.1; 0.0; -0.1 ]
let w2 = tensor [ [ 1.0; -1.0; 0.5 ] ]
let b2 = tensor [ 0.2 ]
let input = tensor [ 1.0; -2.0 ]

let layer w b x =
    diff {
        let! h = Diff.linear w b x
        return! Diff.tanh h
    }

let net =
    diff {
        let! h = layer w1 b1 input
        return! Diff.linear w2 b2 h
    }

let out, pb = Diff.run net
let grads = pb (tensor [ 1.0 ])
printfn "out = %O" out
printfn "∂out/∂w2 = %O" grads.[w2]
printfn "∂out/∂input = %O" grads.[input]
(*** include-output ***)
(**
The same cotangent through the imperative face, as a check that the two agree:
*)
let inputG = input.Detach() |> requiresGrad
let h = tanh (w1 *@ inputG + b1)
(w2 *@ h + b2) |> backward
printfn "backward: ∂out/∂input = %O" inputG.Grad
(*** include-output ***)
