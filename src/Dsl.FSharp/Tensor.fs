namespace Cotangent.FSharp

open Cotangent

/// Resolves `tensor` literals by overload (a witness type for statically resolved calls).
type TensorLiteral =
    static member Of(_: TensorLiteral, values: float list) : Tensor =
        Tensor.FromArray(values |> List.map float32 |> Array.ofList, [| List.length values |])

    static member Of(_: TensorLiteral, values: float list list) : Tensor =
        let rows = List.length values
        let cols = if rows = 0 then 0 else List.length values.Head

        if values |> List.exists (fun r -> List.length r <> cols) then
            invalidArg "values" "tensor: every row of a 2-D literal must have the same length"

        Tensor.FromArray(values |> List.concat |> List.map float32 |> Array.ofList, [| rows; cols |])

    static member Of(_: TensorLiteral, values: int64 list) : Tensor =
        Tensor.FromArray(Array.ofList values, [| List.length values |])

/// Builds tensors from F# values: `tensor [1.0; 2.0]`, `tensor [[1.0; 2.0]; [3.0; 4.0]]`.
[<AutoOpen>]
module Construction =

    let inline private ofLiteral (w: ^w) (v: ^a) : Tensor =
        ((^w or ^a): (static member Of: ^w * ^a -> Tensor) (w, v))

    /// A float32 tensor from a float list (1-D) or a list of float lists (2-D); int64 from an int64 list.
    /// Example: `tensor [0.1; 1.0; 0.0001]`.
    let inline tensor (values: ^a) : Tensor = ofLiteral Unchecked.defaultof<TensorLiteral> values

/// Curried functions over tensors, for piping: `x |> Tensor.exp |> Tensor.sum`.
[<RequireQualifiedAccess>]
module Tensor =

    /// Standard normal float32 values of the given shape. Example: `Tensor.randn [3]`.
    let randn (shape: int list) = Tensor.Randn(Array.ofList shape)

    /// Float32 zeros of the given shape.
    let zeros (shape: int list) = Tensor.Zeros(Array.ofList shape)

    /// Float32 ones of the given shape.
    let ones (shape: int list) = Tensor.Ones(Array.ofList shape)

    /// A new leaf with the same values that accumulates gradients. Example: `Tensor.randn [3] |> Tensor.requiresGrad`.
    let requiresGrad (x: Tensor) = x.RequireGrad()

    /// Backward pass from a non-scalar output with seed v: adds Jᵀv to each leaf's grad.
    let backwardWith (v: Tensor) (y: Tensor) = y.Backward(v)

    /// Backward pass from a scalar output.
    let backward (y: Tensor) = y.Backward()

    /// The accumulated gradient of a leaf, if any.
    let grad (x: Tensor) = Option.ofObj x.Grad

    /// The 2-norm of all elements, as a float. Example: `norm y < 1000.0`.
    let norm (x: Tensor) = x.Norm().Item<float>()

    /// The sum of all elements.
    let sum (x: Tensor) = x.Sum()

    /// Elementwise exponential.
    let exp (x: Tensor) = x.Exp()

    /// Elementwise tanh.
    let tanh (x: Tensor) = x.Tanh()

    /// Reshapes to the given shape (one axis may be -1).
    let reshape (shape: int list) (x: Tensor) = x.Reshape(Array.ofList shape)

    /// The elements as a float array, row-major.
    let toArray (x: Tensor) = x.ToArray<float>()
