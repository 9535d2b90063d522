namespace Cotangent.FSharp

open Cotangent

/// Witness type resolving `tensor` literals by overload; not called directly.
type TensorLiteral =
    /// A float scalar: `tensor 2.0`.
    static member Of(_: TensorLiteral, value: float) : Tensor = Tensor.Scalar(value)

    /// A float32 vector from a list: `tensor [ 1.0; 2.0 ]`.
    static member Of(_: TensorLiteral, values: float list) : Tensor =
        Tensor.FromArray(values |> List.map float32 |> Array.ofList, [| List.length values |])

    /// A float32 matrix from rows of equal length: `tensor [ [ 1.0; 2.0 ]; [ 3.0; 4.0 ] ]`.
    static member Of(_: TensorLiteral, values: float list list) : Tensor =
        let rows = List.length values
        let cols = if rows = 0 then 0 else List.length values.Head

        if values |> List.exists (fun r -> List.length r <> cols) then
            invalidArg "values" "tensor: every row of a 2-D literal must have the same length"

        Tensor.FromArray(values |> List.concat |> List.map float32 |> Array.ofList, [| rows; cols |])

    /// A float32 vector from an array.
    static member Of(_: TensorLiteral, values: float[]) : Tensor =
        Tensor.FromArray(values |> Array.map float32, [| values.Length |])

    /// An int64 vector: `tensor [ 1L; 2L ]`.
    static member Of(_: TensorLiteral, values: int64 list) : Tensor =
        Tensor.FromArray(Array.ofList values, [| List.length values |])

    /// An int64 vector from ints: `tensor [ 1; 2 ]` (class labels, indices).
    static member Of(_: TensorLiteral, values: int list) : Tensor =
        Tensor.FromArray(values |> List.map int64 |> Array.ofList, [| List.length values |])

/// Witness type resolving the comparison operators' right operand (a tensor or a number).
type CompareOperand =
    /// `a > b` elementwise against a tensor (broadcast); a bool tensor.
    static member Gt(_: CompareOperand, a: Tensor, b: Tensor) = a.Gt b
    /// `a > b` elementwise against a number; a bool tensor.
    static member Gt(_: CompareOperand, a: Tensor, b: float) = a.Gt b
    /// `a < b` elementwise against a tensor (broadcast); a bool tensor.
    static member Lt(_: CompareOperand, a: Tensor, b: Tensor) = a.Lt b
    /// `a < b` elementwise against a number; a bool tensor.
    static member Lt(_: CompareOperand, a: Tensor, b: float) = a.Lt b
    /// `a ≥ b` elementwise against a tensor (broadcast); a bool tensor.
    static member Ge(_: CompareOperand, a: Tensor, b: Tensor) = a.Ge b
    /// `a ≥ b` elementwise against a number; a bool tensor.
    static member Ge(_: CompareOperand, a: Tensor, b: float) = a.Ge b
    /// `a ≤ b` elementwise against a tensor (broadcast); a bool tensor.
    static member Le(_: CompareOperand, a: Tensor, b: Tensor) = a.Le b
    /// `a ≤ b` elementwise against a number; a bool tensor.
    static member Le(_: CompareOperand, a: Tensor, b: float) = a.Le b
    /// `a = b` elementwise against a tensor (broadcast); a bool tensor.
    static member Eq(_: CompareOperand, a: Tensor, b: Tensor) = a.Eq b
    /// `a = b` elementwise against a number; a bool tensor.
    static member Eq(_: CompareOperand, a: Tensor, b: float) = a.Eq b
    /// `a ≠ b` elementwise against a tensor (broadcast); a bool tensor.
    static member Ne(_: CompareOperand, a: Tensor, b: Tensor) = a.Ne b
    /// `a ≠ b` elementwise against a number; a bool tensor.
    static member Ne(_: CompareOperand, a: Tensor, b: float) = a.Ne b

/// Literals and operators, opened with `Cotangent.FSharp`.
[<AutoOpen>]
module Literals =

    /// Resolves a witness overload (implementation detail of `tensor`).
    let inline ofLiteral (w: ^w) (v: ^a) : Tensor =
        ((^w or ^a): (static member Of: ^w * ^a -> Tensor) (w, v))

    /// A float32 tensor from a float, a float list (1-D), a list of float lists (2-D) or a float array;
    /// an int64 tensor from an int or int64 list.
    /// Example: `tensor [ 0.1; 1.0; 0.0001 ]`, `tensor [ [ 1.0; 2.0 ]; [ 3.0; 4.0 ] ]`.
    let inline tensor (values: ^a) : Tensor =
        ofLiteral Unchecked.defaultof<TensorLiteral> values

    /// The matrix product (torch.matmul: batched, broadcasting), binding like `*`: `x *@ w + b`
    /// is (x·w) + b. (Not `@@`: F# gives operators starting with `@` a precedence below `+`,
    /// so `x @@ w + b` would parse as x·(w + b).) Example: `relu (x *@ w1 + b1)`.
    let inline ( *@ ) (a: Tensor) (b: Tensor) = Tensor.MatMul(a, b)

    /// Resolves Gt (implementation detail of (.>)).
    let inline cmpGt (w: ^w) (a: Tensor) (b: ^b) : Tensor =
        ((^w or ^b): (static member Gt: ^w * Tensor * ^b -> Tensor) (w, a, b))

    /// Elementwise a > b as a bool mask; b is a tensor or a number. Example: `x .> 0.0`.
    let inline (.>) (a: Tensor) (b: ^b) : Tensor =
        cmpGt Unchecked.defaultof<CompareOperand> a b

    /// Resolves Lt (implementation detail of (.<)).
    let inline cmpLt (w: ^w) (a: Tensor) (b: ^b) : Tensor =
        ((^w or ^b): (static member Lt: ^w * Tensor * ^b -> Tensor) (w, a, b))

    /// Elementwise a < b as a bool mask; b is a tensor or a number. Example: `x .< 1.0`.
    let inline (.<) (a: Tensor) (b: ^b) : Tensor =
        cmpLt Unchecked.defaultof<CompareOperand> a b

    /// Resolves Ge (implementation detail of (.>=)).
    let inline cmpGe (w: ^w) (a: Tensor) (b: ^b) : Tensor =
        ((^w or ^b): (static member Ge: ^w * Tensor * ^b -> Tensor) (w, a, b))

    /// Elementwise a >= b as a bool mask; b is a tensor or a number. Example: `x .>= y`.
    let inline (.>=) (a: Tensor) (b: ^b) : Tensor =
        cmpGe Unchecked.defaultof<CompareOperand> a b

    /// Resolves Le (implementation detail of (.<=)).
    let inline cmpLe (w: ^w) (a: Tensor) (b: ^b) : Tensor =
        ((^w or ^b): (static member Le: ^w * Tensor * ^b -> Tensor) (w, a, b))

    /// Elementwise a <= b as a bool mask; b is a tensor or a number. Example: `x .<= y`.
    let inline (.<=) (a: Tensor) (b: ^b) : Tensor =
        cmpLe Unchecked.defaultof<CompareOperand> a b

    /// Resolves Eq (implementation detail of (.=)).
    let inline cmpEq (w: ^w) (a: Tensor) (b: ^b) : Tensor =
        ((^w or ^b): (static member Eq: ^w * Tensor * ^b -> Tensor) (w, a, b))

    /// Elementwise a = b as a bool mask; b is a tensor or a number. Example: `labels .= 3.0`.
    let inline (.=) (a: Tensor) (b: ^b) : Tensor =
        cmpEq Unchecked.defaultof<CompareOperand> a b

    /// Resolves Ne (implementation detail of (.<>)).
    let inline cmpNe (w: ^w) (a: Tensor) (b: ^b) : Tensor =
        ((^w or ^b): (static member Ne: ^w * Tensor * ^b -> Tensor) (w, a, b))

    /// Elementwise a <> b as a bool mask; b is a tensor or a number. Example: `x .<> 0.0`.
    let inline (.<>) (a: Tensor) (b: ^b) : Tensor =
        cmpNe Unchecked.defaultof<CompareOperand> a b
