/// Every registered op against independent oracles, one named test per (op × property), so a
/// failure names the op. Inputs come from the op's case in OpCases.
module Cotangent.Tests.OpProperties

open System
open Expecto
open FsCheck
open FsCheck.FSharp
open Cotangent
open Cotangent.Testing
open Cotangent.Testing.Sampling
open Cotangent.Testing.OpCases
open Cotangent.Testing.GradCheck

let config =
    { FsCheckConfig.defaultConfig with
        maxTest = 40 }

/// A sample and a second seed for the random cotangents and directions of the check.
let private draws (c: OpCase) =
    gen {
        let! s1 = Gen.choose (0, Int32.MaxValue)
        let! s2 = Gen.choose (0, Int32.MaxValue)
        return c.Build(Random s1), s2
    }

let private property name (c: OpCase) (check: OpCase -> Sample -> Random -> unit) =
    testPropertyWithConfig config name (Prop.forAll (Arb.fromGen (draws c)) (fun (s, seed) -> check c s (Random seed)))

let private like (r: Random) (t: Tensor) = (tensorIn r Real t.Shape).To(t.DType)

/// ⟨Jᵀv, t⟩ = ⟨v, J t⟩ with J t from central differences along a random t.
let vjpAgainstDifferences (c: OpCase) (s: Sample) (r: Random) =
    let y, pb = pullback s.Apply s.Inputs
    let v = like r y
    let ts = s.Inputs |> List.map (fun x -> values r Real x.Numel)
    let lhs = List.map2 (fun g t -> dot (toF g) t) (pb v) ts |> List.sum
    let rhs = dot (toF v) (directional s.Apply s.Inputs ts c.Eps)
    expectClose "⟨Jᵀv, t⟩ vs ⟨v, J t⟩" c.Tol [| rhs |] [| lhs |]

/// Jᵀv element by element against the Jacobian built column by column by differences.
let vjpAgainstJacobian (c: OpCase) (s: Sample) (r: Random) =
    let y, pb = pullback s.Apply s.Inputs
    let v = like r y
    let vs = toF v

    pb v
    |> List.iteri (fun i g ->
        let expected = jacobianColumns s.Apply s.Inputs i c.Eps |> Array.map (dot vs)
        expectClose (sprintf "Jᵀv for input %d" i) c.Tol expected (toF g))

/// The pullback is linear in v: pb(a·v₁ + b·v₂) = a·pb(v₁) + b·pb(v₂).
let pullbackIsLinear (_: OpCase) (s: Sample) (r: Random) =
    let y, pb = pullback s.Apply s.Inputs
    let v1, v2 = like r y, like r y
    let a, b = 1.75, -0.625
    let combined = pb (v1 * a + v2 * b)

    List.zip3 combined (pb v1) (pb v2)
    |> List.iteri (fun i (g, g1, g2) ->
        expectClose
            (sprintf "linearity for input %d" i)
            1e-5
            (Array.map2 (fun p q -> a * p + b * q) (toF g1) (toF g2))
            (toF g))

let private leaves (s: Sample) =
    s.Inputs |> List.map (fun x -> x.Detach().RequireGrad())

let private gradOf (x: Tensor) =
    match x.Grad with
    | null -> Array.zeroCreate x.Numel
    | g -> toF g

/// Two backward passes (retaining the graph) accumulate twice the gradient of one.
let gradientsAccumulate (_: OpCase) (s: Sample) (r: Random) =
    let xs = leaves s
    let y = s.Apply xs
    let v = like r y
    y.Backward(v, retainGraph = true)
    let once = xs |> List.map gradOf
    y.Backward(v)

    List.zip once xs
    |> List.iteri (fun i (g1, x) ->
        expectClose (sprintf "accumulated grad of input %d" i) 1e-12 (Array.map ((*) 2.0) g1) (gradOf x))

/// Every gradient has its input's shape and dtype, broadcast axes summed away.
let gradientsFitInputs (_: OpCase) (s: Sample) (r: Random) =
    let xs = leaves s
    let y = s.Apply xs
    y.Backward(like r y)

    for x in xs do
        match x.Grad with
        | null ->
            failf
                "no gradient reached an input of shape %s: every input of a case is differentiable"
                (shapeText x.Shape)
        | g ->
            if g.Shape <> x.Shape || g.DType <> x.DType then
                failf
                    "grad of shape %s %O for an input of shape %s %O"
                    (shapeText g.Shape)
                    g.DType
                    (shapeText x.Shape)
                    x.DType

/// Second order: d/dx ⟨Jᵀ(x)v, w⟩ through createGraph against differences of ⟨Jᵀ(x)v, w⟩.
let secondOrder (c: OpCase) (s: Sample) (r: Random) =
    let y = eval s.Apply s.Inputs
    let v = like r y
    let ws = s.Inputs |> List.map (like r)

    let h (xs: Tensor list) =
        let _, pb = pullback s.Apply xs

        List.map2 (fun (g: Tensor) (w: Tensor) -> (g * w).Sum()) (pb v) ws
        |> List.reduce (+)

    let hOf xs =
        (pullback h xs |> snd) (Tensor.Scalar(1.0, DType.Float64))

    let grads = hOf s.Inputs
    let ts = s.Inputs |> List.map (fun x -> values r Real x.Numel)
    let lhs = List.map2 (fun g t -> dot (toF g) t) grads ts |> List.sum
    let hValue xs = (pullback h xs |> fst)
    let rhs = (directional hValue s.Inputs ts 1e-5).[0]
    expectClose "second-order ⟨∇⟨Jᵀv, w⟩, t⟩" (max c.Tol 1e-5) [| rhs |] [| lhs |]

/// float32 kernels agree with float64 ones.
let float32Agrees (_: OpCase) (s: Sample) (_: Random) =
    let y64 = eval s.Apply s.Inputs
    let y32 = eval s.Apply (s.Inputs |> List.map (fun x -> x.To DType.Float32))

    let expected =
        if y64.DType = DType.Float64 then
            DType.Float32
        else
            y64.DType

    if y32.DType <> expected then
        failf "float32 inputs gave a %O output, expected %O" y32.DType expected

    expectClose "float32 output vs float64" 1e-4 (toF y64) (toF y32)

/// Non-differentiable ops: the output matches a plain-loop reference and records no graph.
let matchesReference (c: OpCase) (s: Sample) (_: Random) =
    let xs = leaves s
    let y = s.Apply xs
    expectClose "output vs reference" 0.0 (c.Reference.Value s) (toF y)

    if not (isNull y.GradFn) || y.RequiresGrad then
        failf "a non-differentiable op recorded %O" y.GradFn

let differentiable =
    [ "vjp-vs-differences", vjpAgainstDifferences
      "vjp-vs-jacobian", vjpAgainstJacobian
      "pullback-linear", pullbackIsLinear
      "grad-accumulates", gradientsAccumulate
      "grad-fits-input", gradientsFitInputs
      "second-order", secondOrder
      "float32-agrees", float32Agrees ]

let tests =
    testList
        "ops"
        [ for op in OpRegistry.All do
              match Map.tryFind op.Name byName with
              | None -> ()
              | Some c ->
                  let props =
                      if op.Kind = OpKind.NonDifferentiable then
                          [ "matches-reference", matchesReference; "float32-agrees", float32Agrees ]
                      else
                          differentiable

                  testList op.Name [ for name, check in props -> property name c check ]

          test "every registered op has a case" {
              let missing =
                  OpRegistry.All
                  |> Seq.map (fun o -> o.Name)
                  |> Seq.filter (fun n -> not (byName.ContainsKey n))
                  |> List.ofSeq

              Expect.isEmpty missing "ops in the registry without a case in OpCases"
          }
          test "every case names a registered op" {
              let unknown =
                  all
                  |> List.map (fun c -> c.Name)
                  |> List.filter (fun n -> isNull (OpRegistry.Find n))

              Expect.isEmpty unknown "cases for names the registry does not know"
          }
          test "non-differentiable ops have a reference" {
              for op in OpRegistry.All do
                  if op.Kind = OpKind.NonDifferentiable then
                      Expect.isSome (Map.tryFind op.Name byName |> Option.bind (fun c -> c.Reference)) op.Name
          } ]
