/// Assertions shared by the example-based tests.
module Cotangent.Tests.Check

open System
open Expecto
open Cotangent

let values (t: Tensor) = t.ToArray<float>()

/// Elementwise closeness with a relative-and-absolute tolerance.
let near tol (expected: float[]) (t: Tensor) what =
    let actual = values t
    Expect.equal actual.Length expected.Length (what + ": element count")

    for i in 0 .. expected.Length - 1 do
        if abs (actual.[i] - expected.[i]) > tol * (1.0 + abs expected.[i]) then
            failtestf
                "%s: element %d is %g, expected %g\nexpected %A\nactual   %A"
                what
                i
                actual.[i]
                expected.[i]
                expected
                actual

/// f throws 'E and its message contains every one of the parts.
let throwsWith<'E, 'T when 'E :> exn> (f: unit -> 'T) (parts: string list) =
    let e =
        try
            f () |> ignore
            failtestf "expected %s, but nothing was thrown" typeof<'E>.Name
        with
        | :? 'E as e -> e :> exn
        | :? AssertException -> reraise ()
        | e -> failtestf "expected %s, got %s: %s" typeof<'E>.Name (e.GetType().Name) e.Message

    for p in parts do
        Expect.stringContains e.Message p (sprintf "the message of %s" typeof<'E>.Name)

let f64 (values: float list) =
    Tensor.FromArray(Array.ofList values, [| values.Length |])

let f64s (shape: int list) (values: float list) =
    Tensor.FromArray(Array.ofList values, Array.ofList shape)
