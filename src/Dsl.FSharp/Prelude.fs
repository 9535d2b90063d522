namespace Cotangent.FSharp

open Cotangent

/// The functions a script reaches for most, unqualified after `open Cotangent.FSharp`
/// (F#'s own exp, log, sqrt, abs, sin, cos and tanh already apply to tensors).
[<AutoOpen>]
module Prelude =

    /// Standard normal float32 values. Example: `randn [ 3 ] |> requiresGrad`.
    let randn (shape: int list) = Tensor.randn shape
    /// Float32 zeros. Example: `zeros [ 2; 2 ]`.
    let zeros (shape: int list) = Tensor.zeros shape
    /// Float32 ones. Example: `ones [ 3 ]`.
    let ones (shape: int list) = Tensor.ones shape
    /// A new leaf that accumulates gradients. Example: `let w = randn [ 3 ] |> requiresGrad`.
    let requiresGrad (x: Tensor) = x.RequireGrad()
    /// Backward from a scalar. Example: `backward loss`.
    let backward (y: Tensor) = y.Backward()
    /// Backward with seed v, adding Jᵀv to the leaves' grads. Example: `y |> backwardWith (tensor [ 0.1; 1.0; 0.0001 ])`.
    let backwardWith (v: Tensor) (y: Tensor) = y.Backward(v)
    /// Sum of all elements. Example: `sum (tanh (w *@ w))`.
    let sum (x: Tensor) = x.Sum()
    /// Mean of all elements. Example: `mean ((p - y) * (p - y))`.
    let mean (x: Tensor) = x.Mean()
    /// The 2-norm of all elements as a float, for loop conditions. Example: `while norm y < 1000.0 do ...`.
    let norm (x: Tensor) = x.Norm().Item<float>()
    /// max(x, 0). Example: `relu (w *@ x)`.
    let relu (x: Tensor) = x.Relu()
    /// 1/(1 + e⁻ˣ). Example: `sigmoid z`.
    let sigmoid (x: Tensor) = x.Sigmoid()
    /// softmax over the last axis. Example: `softmax logits`.
    let softmax (x: Tensor) = x.Softmax(-1)
    /// The value of a one-element tensor as a float. Example: `item loss`.
    let item (x: Tensor) = x.Item<float>()

    /// Runs f with nothing recorded (torch.no_grad). Example: `noGrad (fun () -> w - 0.1 * g)`.
    let noGrad (f: unit -> 'T) : 'T =
        use _ = Autograd.NoGrad()
        f ()
