/// F# slicing for tensors: `x[1..2, *]`, `x[0, 1..]`, `x[*, 3]` (slices include their end, as
/// F#'s do; negative bounds count from the end), up to four axes written out, the rest kept
/// whole. Each slice is a view and each fixed index a select, so gradients flow through them.
/// Plain indices (`x[0, 1]`) and everything else (steps, `TensorIndex.NewAxis`, tensor indices)
/// go through the core's indexer: `x[ [| TensorIndex.op_Implicit 0; TensorIndex.NewAxis |] ]`.
[<AutoOpen>]
module Cotangent.FSharp.Slicing

open System
open Cotangent

/// One axis of an F# slice expression.
type internal Part =
    | Fixed of int
    | Span of int option * int option

let internal slice (x: Tensor) (parts: Part list) =
    if parts.Length > x.Rank then
        raise (IndexOutOfRangeException(sprintf "index: %d slice axes for a tensor of shape %A" parts.Length x.Shape))

    let entries =
        parts
        |> List.mapi (fun d p ->
            match p with
            | Fixed i -> TensorIndex.op_Implicit i
            | Span(s, e) ->
                let n = x.Size d
                let resolve v = if v < 0 then v + n else v
                let s = s |> Option.map resolve |> Option.defaultValue 0 |> max 0 |> min n
                // F#'s slices include their end
                let e =
                    e
                    |> Option.map (fun e -> resolve e + 1)
                    |> Option.defaultValue n
                    |> max s
                    |> min n

                TensorIndex.op_Implicit (Range(Index s, Index e)))
        |> Array.ofList

    x.[entries]

type Tensor with
    /// x[a..b]
    member x.GetSlice(s0: int option, e0: int option) = slice x [ Span(s0, e0) ]
    /// x[i, a..b]
    member x.GetSlice(i0: int, s1: int option, e1: int option) = slice x [ Fixed i0; Span(s1, e1) ]
    /// x[a..b, i]
    member x.GetSlice(s0: int option, e0: int option, i1: int) = slice x [ Span(s0, e0); Fixed i1 ]

    /// x[a..b, a..b]
    member x.GetSlice(s0: int option, e0: int option, s1: int option, e1: int option) =
        slice x [ Span(s0, e0); Span(s1, e1) ]

    /// x[i, i, a..b]
    member x.GetSlice(i0: int, i1: int, s2: int option, e2: int option) =
        slice x [ Fixed i0; Fixed i1; Span(s2, e2) ]

    /// x[i, a..b, i]
    member x.GetSlice(i0: int, s1: int option, e1: int option, i2: int) =
        slice x [ Fixed i0; Span(s1, e1); Fixed i2 ]

    /// x[i, a..b, a..b]
    member x.GetSlice(i0: int, s1: int option, e1: int option, s2: int option, e2: int option) =
        slice x [ Fixed i0; Span(s1, e1); Span(s2, e2) ]

    /// x[a..b, i, i]
    member x.GetSlice(s0: int option, e0: int option, i1: int, i2: int) =
        slice x [ Span(s0, e0); Fixed i1; Fixed i2 ]

    /// x[a..b, i, a..b]
    member x.GetSlice(s0: int option, e0: int option, i1: int, s2: int option, e2: int option) =
        slice x [ Span(s0, e0); Fixed i1; Span(s2, e2) ]

    /// x[a..b, a..b, i]
    member x.GetSlice(s0: int option, e0: int option, s1: int option, e1: int option, i2: int) =
        slice x [ Span(s0, e0); Span(s1, e1); Fixed i2 ]

    /// x[a..b, a..b, a..b]
    member x.GetSlice(s0: int option, e0: int option, s1: int option, e1: int option, s2: int option, e2: int option) =
        slice x [ Span(s0, e0); Span(s1, e1); Span(s2, e2) ]

    /// x[i, i, i, a..b]
    member x.GetSlice(i0: int, i1: int, i2: int, s3: int option, e3: int option) =
        slice x [ Fixed i0; Fixed i1; Fixed i2; Span(s3, e3) ]

    /// x[i, i, a..b, i]
    member x.GetSlice(i0: int, i1: int, s2: int option, e2: int option, i3: int) =
        slice x [ Fixed i0; Fixed i1; Span(s2, e2); Fixed i3 ]

    /// x[i, i, a..b, a..b]
    member x.GetSlice(i0: int, i1: int, s2: int option, e2: int option, s3: int option, e3: int option) =
        slice x [ Fixed i0; Fixed i1; Span(s2, e2); Span(s3, e3) ]

    /// x[i, a..b, i, i]
    member x.GetSlice(i0: int, s1: int option, e1: int option, i2: int, i3: int) =
        slice x [ Fixed i0; Span(s1, e1); Fixed i2; Fixed i3 ]

    /// x[i, a..b, i, a..b]
    member x.GetSlice(i0: int, s1: int option, e1: int option, i2: int, s3: int option, e3: int option) =
        slice x [ Fixed i0; Span(s1, e1); Fixed i2; Span(s3, e3) ]

    /// x[i, a..b, a..b, i]
    member x.GetSlice(i0: int, s1: int option, e1: int option, s2: int option, e2: int option, i3: int) =
        slice x [ Fixed i0; Span(s1, e1); Span(s2, e2); Fixed i3 ]

    /// x[i, a..b, a..b, a..b]
    member x.GetSlice
        (i0: int, s1: int option, e1: int option, s2: int option, e2: int option, s3: int option, e3: int option)
        =
        slice x [ Fixed i0; Span(s1, e1); Span(s2, e2); Span(s3, e3) ]

    /// x[a..b, i, i, i]
    member x.GetSlice(s0: int option, e0: int option, i1: int, i2: int, i3: int) =
        slice x [ Span(s0, e0); Fixed i1; Fixed i2; Fixed i3 ]

    /// x[a..b, i, i, a..b]
    member x.GetSlice(s0: int option, e0: int option, i1: int, i2: int, s3: int option, e3: int option) =
        slice x [ Span(s0, e0); Fixed i1; Fixed i2; Span(s3, e3) ]

    /// x[a..b, i, a..b, i]
    member x.GetSlice(s0: int option, e0: int option, i1: int, s2: int option, e2: int option, i3: int) =
        slice x [ Span(s0, e0); Fixed i1; Span(s2, e2); Fixed i3 ]

    /// x[a..b, i, a..b, a..b]
    member x.GetSlice
        (s0: int option, e0: int option, i1: int, s2: int option, e2: int option, s3: int option, e3: int option)
        =
        slice x [ Span(s0, e0); Fixed i1; Span(s2, e2); Span(s3, e3) ]

    /// x[a..b, a..b, i, i]
    member x.GetSlice(s0: int option, e0: int option, s1: int option, e1: int option, i2: int, i3: int) =
        slice x [ Span(s0, e0); Span(s1, e1); Fixed i2; Fixed i3 ]

    /// x[a..b, a..b, i, a..b]
    member x.GetSlice
        (s0: int option, e0: int option, s1: int option, e1: int option, i2: int, s3: int option, e3: int option)
        =
        slice x [ Span(s0, e0); Span(s1, e1); Fixed i2; Span(s3, e3) ]

    /// x[a..b, a..b, a..b, i]
    member x.GetSlice
        (s0: int option, e0: int option, s1: int option, e1: int option, s2: int option, e2: int option, i3: int)
        =
        slice x [ Span(s0, e0); Span(s1, e1); Span(s2, e2); Fixed i3 ]

    /// x[a..b, a..b, a..b, a..b]
    member x.GetSlice
        (
            s0: int option,
            e0: int option,
            s1: int option,
            e1: int option,
            s2: int option,
            e2: int option,
            s3: int option,
            e3: int option
        ) =
        slice x [ Span(s0, e0); Span(s1, e1); Span(s2, e2); Span(s3, e3) ]
