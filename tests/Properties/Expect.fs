/// Assertions shared by the example-based tests.
module Cotangent.Tests.Check

open System
open System.Text.RegularExpressions
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

/// ∂f/∂pᵢ for every i by central differences of step 1e-6, the oracle of a hand-derived pullback.
let centralDifferences (f: float[] -> float) (p: float[]) =
    Array.init p.Length (fun i ->
        let at d =
            f (Array.mapi (fun j v -> if j = i then v + d else v) p)

        (at 1e-6 - at -1e-6) / 2e-6)

/// For every non-empty set of the inputs wanting a gradient, in a plain backward (where joint
/// kernels run) and in one that records its graph (the per-input rules): Σ u·op(inputs) is
/// differentiated, each wanting input's gradient is near its expected one, the others' null.
let everyWantedSubset tol (op: Tensor[] -> Tensor) (inputs: (float[] * int[])[]) (u: float[]) (expected: float[][]) =
    for wants in 1 .. (1 <<< inputs.Length) - 1 do
        for createGraph in [ false; true ] do
            let ts =
                inputs
                |> Array.mapi (fun k (v, shape) ->
                    let t = Tensor.FromArray(v, shape)
                    if wants &&& (1 <<< k) <> 0 then t.RequireGrad() else t)

            (op ts * Tensor.FromArray(u, snd inputs.[0])).Sum().Backward(createGraph = createGraph)

            for k in 0 .. inputs.Length - 1 do
                let what =
                    sprintf "input %d (inputs wanting one: %d, createGraph %b)" k wants createGraph

                if wants &&& (1 <<< k) <> 0 then
                    near tol expected.[k] ts.[k].Grad what
                else
                    Expect.isNull ts.[k].Grad what

let f64 (values: float list) =
    Tensor.FromArray(Array.ofList values, [| values.Length |])

let f64s (shape: int list) (values: float list) =
    Tensor.FromArray(Array.ofList values, Array.ofList shape)

/// The exceptions a refusal may take: the library's op errors, index errors (PyTorch's
/// IndexError) and state errors (a freed graph, a non-scalar backward). Anything else — a
/// NullReference, an Overflow, a DivideByZero, an IndexOutOfRange from an array — escaped raw,
/// and so did an index or state error whose message does not start with the op's name
/// ("Sequence contains no elements" is the runtime's, "grad: …" is ours).
let refusal (e: exn) =
    let named = Regex.IsMatch(e.Message, @"^[A-Za-z_][A-Za-z0-9_.]*: ")

    match e with
    | :? OpArgumentException -> true
    | :? IndexOutOfRangeException
    | :? InvalidOperationException -> named
    | _ -> false

/// Runs f; None when it worked, Some the exception when it refused.
let attempt f =
    try
        f () |> ignore
        None
    with e ->
        Some e
