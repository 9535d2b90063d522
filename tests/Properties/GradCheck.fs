/// Independent oracles for gradients: central finite differences in float64, along a
/// direction or column by column into an explicit Jacobian.
module Cotangent.Tests.GradCheck

open System
open Cotangent

let toF (t: Tensor) = t.ToArray<float>()

let dot (a: float[]) (b: float[]) = Array.fold2 (fun s x y -> s + x * y) 0.0 a b

/// |a − b| ≤ tol · (1 + max(|a|, |b|)): relative for large values, absolute near zero.
let close tol (a: float) (b: float) =
    abs (a - b) <= tol * (1.0 + max (abs a) (abs b)) || (Double.IsNaN a && Double.IsNaN b)

let failf fmt = Printf.ksprintf (fun s -> raise (Exception s)) fmt

let expectClose what tol (expected: float[]) (actual: float[]) =
    if expected.Length <> actual.Length then failf "%s: %d values expected, %d computed" what expected.Length actual.Length
    for i in 0 .. expected.Length - 1 do
        if not (close tol expected.[i] actual.[i]) then
            failf "%s: element %d is %.12g, expected %.12g (tolerance %g)\nexpected %A\nactual   %A" what i actual.[i] expected.[i] tol expected actual

/// f evaluated with nothing recorded.
let eval (f: Tensor list -> Tensor) xs =
    use _ = Autograd.NoGrad()
    f xs

let private shifted (x: Tensor) (d: float[]) h =
    Tensor.FromArray(Array.map2 (fun v dv -> v + h * dv) (toF x) d, x.Shape).To(x.DType)

/// (f(x + εt) − f(x − εt)) / 2ε: the directional derivative J·t, error O(ε²).
let directional f (xs: Tensor list) (ts: float[] list) eps =
    let at h = eval f (List.map2 (fun x t -> shifted x t h) xs ts) |> toF
    Array.map2 (fun p m -> (p - m) / (2.0 * eps)) (at eps) (at -eps)

/// Column j of the Jacobian of f with respect to input i, for every j: J_i as a list of columns.
let jacobianColumns f (xs: Tensor list) i eps =
    let n = xs.[i].Numel
    Array.init n (fun j ->
        let ts = xs |> List.mapi (fun k x -> Array.init x.Numel (fun q -> if k = i && q = j then 1.0 else 0.0))
        directional f xs ts eps)

/// The pullback of f at xs (one gradient per input), through the functional API.
let pullback (f: Tensor list -> Tensor) (xs: Tensor list) =
    let struct (y, pb) = Autograd.Vjp(Func<Tensor[], Tensor>(List.ofArray >> f), Array.ofList xs)
    y, (fun v -> pb.Invoke v |> List.ofArray)
