/// Independent oracles for gradients — central finite differences in float64, along a direction
/// or column by column into an explicit Jacobian — and checks that apply them to any function,
/// including ones with a hand-written VJP. A failed check raises GradCheckException with the
/// inputs, the expected and the actual gradients.
module Cotangent.Testing.GradCheck

open System
open Cotangent

/// A gradient check failed; the message holds the inputs, the expected and the actual values.
type GradCheckException
    /// A failed check, with the message that says where and by how much.
    (message: string) =
    inherit Exception(message)

/// The finite-difference step and the relative tolerance of a check.
type Tolerance =
    {
        /// The finite-difference step.
        Eps: float
        /// The relative tolerance (with the same absolute floor) the gradients must meet.
        Rtol: float
    }

/// Step 1e-6 and tolerance 1e-6: right for float64 inputs of moderate size.
let defaultTolerance = { Eps = 1e-6; Rtol = 1e-6 }

/// The elements as floats.
let toF (t: Tensor) = t.ToArray<float>()

/// Σ aᵢbᵢ.
let dot (a: float[]) (b: float[]) =
    Array.fold2 (fun s x y -> s + x * y) 0.0 a b

/// |a − b| ≤ tol · (1 + max(|a|, |b|)): relative for large values, absolute near zero.
let close tol (a: float) (b: float) =
    abs (a - b) <= tol * (1.0 + max (abs a) (abs b))
    || (Double.IsNaN a && Double.IsNaN b)

/// Raises GradCheckException with a formatted message.
let failf fmt =
    Printf.ksprintf (fun s -> raise (GradCheckException s)) fmt

/// Compares element by element; the message names the first mismatch and shows both arrays.
let expectClose what tol (expected: float[]) (actual: float[]) =
    if expected.Length <> actual.Length then
        failf "%s: %d values expected, %d computed" what expected.Length actual.Length

    for i in 0 .. expected.Length - 1 do
        if not (close tol expected.[i] actual.[i]) then
            failf
                "%s: element %d is %.12g, expected %.12g (tolerance %g)\nexpected %A\nactual   %A"
                what
                i
                actual.[i]
                expected.[i]
                tol
                expected
                actual

/// f evaluated with nothing recorded.
let eval (f: Tensor list -> Tensor) xs =
    use _ = Autograd.NoGrad()
    f xs

let private shifted (x: Tensor) (d: float[]) h =
    Tensor.FromArray(Array.map2 (fun v dv -> v + h * dv) (toF x) d, x.Shape, x.Device).To(x.DType)

/// (f(x + εt) − f(x − εt)) / 2ε: the directional derivative J·t, with error O(ε²).
let directional f (xs: Tensor list) (ts: float[] list) eps =
    let at h =
        eval f (List.map2 (fun x t -> shifted x t h) xs ts) |> toF

    Array.map2 (fun p m -> (p - m) / (2.0 * eps)) (at eps) (at -eps)

/// The Jacobian of f with respect to input i, as its columns (one per element of that input).
let jacobianColumns f (xs: Tensor list) i eps =
    let n = xs.[i].Numel

    Array.init n (fun j ->
        let ts =
            xs
            |> List.mapi (fun k x -> Array.init x.Numel (fun q -> if k = i && q = j then 1.0 else 0.0))

        directional f xs ts eps)

/// The pullback of f at xs (one gradient per input), through the functional API.
let pullback (f: Tensor list -> Tensor) (xs: Tensor list) =
    let struct (y, pb) =
        Autograd.Vjp(Func<Tensor[], Tensor>(List.ofArray >> f), Array.ofList xs)

    y, (fun v -> pb.Invoke v |> List.ofArray)

let private describe (xs: Tensor list) =
    xs |> List.mapi (fun i x -> sprintf "input %d: %O" i x) |> String.concat "\n"

let private within (xs: Tensor list) check =
    try
        check ()
    with :? GradCheckException as e ->
        raise (GradCheckException(e.Message + "\n" + describe xs))

let private randomLike (r: Random) (t: Tensor) =
    Tensor.FromArray(Array.init t.Numel (fun _ -> r.NextDouble() * 2.0 - 1.0), t.Shape, t.Device).To(t.DType)

/// The largest input, in elements, for which a failure report also shows the full Jᵀv from
/// both sides (it costs one pair of evaluations of f per element).
let reportLimit = 32

/// The failure report's evidence: the cotangent, and for small inputs Jᵀv from the VJP and from
/// the finite-difference Jacobian, input by input.
let private evidence (f: Tensor list -> Tensor) (xs: Tensor list) (v: Tensor) (grads: Tensor list) eps =
    let vs = toF v

    let gradients =
        if xs |> List.sumBy (fun x -> x.Numel) > reportLimit then
            sprintf "(∂f/∂x not shown: more than %d input elements)" reportLimit
        else
            grads
            |> List.mapi (fun i g ->
                let expected = jacobianColumns f xs i eps |> Array.map (dot vs)
                sprintf "Jᵀv for input %d: from the VJP %A, from finite differences %A" i (toF g) expected)
            |> String.concat "\n"

    sprintf "cotangent v: %O\n%s" v gradients

let private withEvidence f xs v grads eps check =
    try
        check ()
    with :? GradCheckException as e ->
        raise (GradCheckException(e.Message + "\n" + evidence f xs v grads eps))

/// ⟨Jᵀv, t⟩ = ⟨v, J t⟩ for a random cotangent v and direction t, J t by central differences.
/// A failure report shows the inputs, v, and (for small inputs) Jᵀv from both sides.
/// Example: `GradCheck.vjpVsDifferences defaultTolerance (fun xs -> xs.Head.Sin()) [ x ] 42`.
let vjpVsDifferences (tol: Tolerance) (f: Tensor list -> Tensor) (xs: Tensor list) (seed: int) =
    within xs (fun () ->
        let r = Random seed
        let y, pb = pullback f xs
        let v = randomLike r y

        let ts =
            xs
            |> List.map (fun x -> Array.init x.Numel (fun _ -> r.NextDouble() * 2.0 - 1.0))

        let grads = pb v
        let actual = List.map2 (fun g t -> dot (toF g) t) grads ts |> List.sum
        let expected = dot (toF v) (directional f xs ts tol.Eps)

        withEvidence f xs v grads tol.Eps (fun () ->
            expectClose "⟨Jᵀv, t⟩ against ⟨v, J t⟩ by finite differences" tol.Rtol [| expected |] [| actual |]))

/// Jᵀv element by element against the Jacobian built column by column by central differences.
/// Example: `GradCheck.vjpVsJacobian defaultTolerance f [ a; b ] 7`.
let vjpVsJacobian (tol: Tolerance) (f: Tensor list -> Tensor) (xs: Tensor list) (seed: int) =
    within xs (fun () ->
        let r = Random seed
        let y, pb = pullback f xs
        let v = randomLike r y
        let vs = toF v
        let grads = pb v

        withEvidence f xs v grads tol.Eps (fun () ->
            grads
            |> List.iteri (fun i g ->
                let expected = jacobianColumns f xs i tol.Eps |> Array.map (dot vs)

                expectClose
                    (sprintf "Jᵀv for input %d against the finite-difference Jacobian" i)
                    tol.Rtol
                    expected
                    (toF g))))

/// The adjoint identity ⟨J u, w⟩ = ⟨u, Jᵀ w⟩ with J u from central differences (independent
/// of every rule) and Jᵀ w from vjp; and the library's jvp against the same J u. Both sides
/// of a wrong VJP rule cannot agree by construction: the differences do not use it.
/// Example: `GradCheck.adjoint defaultTolerance tanh x 3`.
let adjoint (tol: Tolerance) (f: Tensor -> Tensor) (x: Tensor) (seed: int) =
    within [ x ] (fun () ->
        let r = Random seed
        let u = randomLike r x
        let g = fun (xs: Tensor list) -> f xs.Head
        let ju = directional g [ x ] [ toF u ] tol.Eps
        let struct (y, jvp) = Autograd.Jvp(Func<Tensor, Tensor> f, x, u)
        let w = randomLike r y
        let struct (_, pb) = Autograd.Vjp(Func<Tensor, Tensor> f, x)
        let jtw = pb.Invoke w

        withEvidence g [ x ] w [ jtw ] tol.Eps (fun () ->
            expectClose
                "⟨J u, w⟩ by finite differences against ⟨u, Jᵀ w⟩"
                tol.Rtol
                [| dot ju (toF w) |]
                [| dot (toF u) (toF jtw) |]

            expectClose "J u from jvp against finite differences" tol.Rtol ju (toF jvp)))
