namespace Cotangent.FSharp

open System
open Cotangent

/// Functional transforms (JAX-style), unqualified after `open Cotangent.FSharp`. They nest:
/// `grad (grad f >> sum)` is a second derivative. None of them touch a leaf's accumulated grad.
[<AutoOpen>]
module Autodiff =

    let private fn (f: Tensor -> Tensor) = Func<Tensor, Tensor> f

    /// ∇f(x) of a scalar-valued f. Example: `grad (fun w -> sum (tanh (w *@ w))) w0`.
    let grad (f: Tensor -> Tensor) (x: Tensor) = Autograd.Grad(fn f, x)

    /// f(x) and ∇f(x) in one pass. Example: `let loss, g = valueAndGrad lossOf w`.
    let valueAndGrad (f: Tensor -> Tensor) (x: Tensor) =
        let struct (v, g) = Autograd.ValueAndGrad(fn f, x)
        v, g

    /// f(x) and its pullback v ↦ Jᵀv. Example: `let y, pullback = vjp tanh x in pullback v`.
    let vjp (f: Tensor -> Tensor) (x: Tensor) =
        let struct (y, pb) = Autograd.Vjp(fn f, x)
        y, (fun v -> pb.Invoke v)

    /// The many-input vjp: one gradient per input. Example: `let y, pb = vjpN (fun [ a; b ] -> a * b) [ a; b ]`.
    let vjpN (f: Tensor list -> Tensor) (xs: Tensor list) =
        let struct (y, pb) =
            Autograd.Vjp(Func<Tensor[], Tensor>(List.ofArray >> f), Array.ofList xs)

        y, (fun v -> pb.Invoke v |> List.ofArray)

    /// The gradient of a scalar f with respect to each input. Example: `gradN (fun [ w; b ] -> loss w b) [ w; b ]`.
    let gradN (f: Tensor list -> Tensor) (xs: Tensor list) =
        let y, pb = vjpN f xs

        if y.Numel <> 1 then
            invalidOp (sprintf "grad: f must return a scalar, but returned shape %A" y.Shape)

        pb (Tensor.OnesLike y)

    /// f(x) and J·t. Example: `let y, jt = jvp sin x t`.
    let jvp (f: Tensor -> Tensor) (x: Tensor) (t: Tensor) =
        let struct (y, jt) = Autograd.Jvp(fn f, x, t)
        y, jt

    /// The Jacobian, shape f(x).Shape ++ x.Shape. Example: `jacobian (fun x -> a *@ x) x`.
    let jacobian (f: Tensor -> Tensor) (x: Tensor) = Autograd.Jacobian(fn f, x)

    /// The Hessian of a scalar f. Example: `hessian (fun x -> sum (x * x * x)) x`.
    let hessian (f: Tensor -> Tensor) (x: Tensor) = Autograd.Hessian(fn f, x)

    /// H·v without forming H. Example: `hvp f x v`.
    let hvp (f: Tensor -> Tensor) (x: Tensor) (v: Tensor) = Autograd.Hvp(fn f, x, v)

    /// A differentiable function with a hand-written VJP, recorded by the engine like any op
    /// (torch.autograd.Function). `vjp i g inputs output` gives input i's gradient, or None.
    /// Example: `customOp "square" [ x ] (fun [ x ] -> x * x) (fun _ g [ x ] _ -> Some(2.0 * x * g))`.
    let customOp
        (name: string)
        (inputs: Tensor list)
        (forward: Tensor list -> Tensor)
        (vjp: int -> Tensor -> Tensor list -> Tensor -> Tensor option)
        =
        CustomOp.Apply(
            name,
            Array.ofList inputs,
            Func<Tensor[], Tensor>(List.ofArray >> forward),
            VjpRule(fun i g xs y -> vjp i g (List.ofArray xs) y |> Option.toObj)
        )
