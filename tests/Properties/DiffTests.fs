/// diff { } programs whose pullback is itself differentiated, against differences, the
/// imperative face and closed forms; programs of any shape; and the cotangents a pullback
/// gives for what entered, what plain code used and what a step bound.
module Cotangent.Tests.DiffTests

open System
open Expecto
open FsCheck
open FsCheck.FSharp
open Cotangent
open Cotangent.FSharp
open Cotangent.Testing
open Cotangent.Testing.GradCheck
open Cotangent.Tests.Check

let private config =
    { FsCheckConfig.defaultConfig with
        maxTest = 25 }

/// A program's gradient through diff { }: the pullback of ones, for the tensor that entered.
let private diffGrad (program: Tensor -> Diff<Tensor>) (x: Tensor) =
    let y, pullback = Diff.run (program x)
    (pullback (Tensor.OnesLike y)).[x]

let private asProgram (p: Program) (x: Tensor) =
    Diff.fold (fun h (s: ProgramStep) -> Diff.lift1 s.Apply h) x p.Steps

/// The program as diff { } steps, ending in a weighted sum: a scalar program of x.
let private scalarProgram (p: Program) seed (x: Tensor) =
    diff {
        let! h = asProgram p x
        return! Diff.lift1 (NestedTests.wsum seed) h
    }

let diffComposes =
    testList
        "diff { } pullbacks are differentiable"
        [ test "grad through Diff.run's pullback is the second derivative (was a silent zero)" {
              // f(x) = Σ x³ as two steps: the pullback gives 3x², its gradient 6x, and again 6
              let cube x =
                  diff {
                      let! sq = Diff.lift1 (fun t -> t * t) x
                      return! Diff.lift2 (*) sq x
                  }

              let x = f64 [ 0.5; -2.0; 1.5 ]
              near 1e-12 (values (3.0 * x * x)) (diffGrad cube x) "first order: 3x²"
              near 1e-12 (values (6.0 * x)) (grad (fun x -> sum (diffGrad cube x)) x) "second order: 6x"

              near
                  1e-12
                  [| 6.0; 6.0; 6.0 |]
                  (grad (fun x -> sum (grad (fun x -> sum (diffGrad cube x)) x)) x)
                  "third order: 6"
          }
          test "a pullback called under NoGrad records nothing" {
              // x is computed from a leaf that requires grad, so the program is part of a bigger
              // graph and its pullback records one, except under NoGrad
              let w = f64 [ 0.3; 0.7 ] |> requiresGrad
              let x = w * 1.5
              let _, pullback = Diff.run (Diff.tanh x)
              let v = f64 [ 1.0; 1.0 ]
              Expect.isTrue (pullback v).[x].RequiresGrad "recorded with grad enabled"
              let g = noGrad (fun () -> (pullback v).[x])
              Expect.isFalse g.RequiresGrad "no graph"
              Expect.isNull g.GradFn "no grad_fn"
          }
          testPropertyWithConfig
              config
              "Hessian-vector products through diff { } equal differences of its gradients"
              (Prop.forAll (Arbs.withSeed (Programs.arbitrary 1 4)) (fun (p, seed) ->
                  let g = diffGrad (scalarProgram p seed)
                  let x = p.Input
                  let v = NestedTests.like (seed + 1) x.Shape
                  let _, pb = vjp g x
                  expectClose "H·v through the CE" 1e-6 (NestedTests.along g x v) (toF (pb v))))
          testPropertyWithConfig
              config
              "second order through diff { } equals the imperative and the functional faces to 1e-10"
              (Prop.forAll (Arbs.withSeed (Programs.arbitrary 1 4)) (fun (p, seed) ->
                  let x = p.Input
                  let v = NestedTests.like (seed + 1) x.Shape
                  let f = Programs.apply p >> NestedTests.wsum seed
                  let throughDiff = snd (vjp (diffGrad (scalarProgram p seed)) x) v
                  let functional = hvp f x v
                  // imperative: Backward with createGraph, then the gradient of ⟨∇f, v⟩
                  let leaf = x.Detach().RequireGrad()
                  (f leaf).Backward(createGraph = true)
                  let gv = (leaf.Grad * v).Sum()
                  // a linear program's gradient is a constant, with no graph: its Hessian is 0
                  let imperative =
                      if gv.RequiresGrad then
                          Autograd.Grad([| gv |], [| leaf |], allowUnused = true).[0]
                      else
                          Tensor.ZerosLike leaf

                  expectClose "diff { } against hvp" 1e-10 (toF functional) (toF throughDiff)
                  expectClose "diff { } against Backward(createGraph)" 1e-10 (toF imperative) (toF throughDiff)))
          test "a transform inside imperative code keeps the derivative through what it closed over" {
              let y0 = f64 [ 1.5; -2.0 ]
              // g = ∇_y Σ w y² = 2 w y₀; Σ g² = 4 Σ w² y₀²; ∂/∂w = 8 w y₀²
              let w = (f64 [ 0.5; -1.0 ]).RequireGrad()
              let g = grad (fun y -> sum (w * y * y)) y0
              (sum (g * g)).Backward()
              near 1e-12 (values (8.0 * w.Detach() * y0 * y0)) w.Grad "through grad"
              let w2 = (f64 [ 0.5; -1.0 ]).RequireGrad()
              let _, pullback = Diff.run (Diff.lift1 (fun y -> sum (w2 * y * y)) y0)
              let gd = (pullback (Tensor.Scalar(1.0, DType.Float64))).[y0]
              (sum (gd * gd)).Backward()
              near 1e-12 (values (8.0 * w2.Detach() * y0 * y0)) w2.Grad "through a diff { } pullback"
              // and at the top level, a transform of its own input carries no graph
              let x = (f64 [ 1.0 ]).RequireGrad()
              Expect.isFalse (grad (fun x -> sum (x * x)) x).RequiresGrad "no graph to its own input"
          }
          testPropertyWithConfig
              config
              "values that come back into a program (its views, steps' outputs, plain code) keep one chain"
              (Prop.forAll (Arbs.withSeed (Programs.arbitrary 1 4)) (fun (p, seed) ->
                  let x = p.Input
                  let r = Random seed

                  let program =
                      diff {
                          let! i = Diff.input x
                          let! h = asProgram p i
                          // the view of x, a step's output and plain code on both, all entering again
                          let mixed = NestedTests.wsum seed h + (i * i).Sum() * 0.5
                          let! a = Diff.lift2 (fun u w -> u + (w * 0.25).Sum()) mixed i
                          return! Diff.lift2 (fun u w -> u * 0.5 + NestedTests.wsum (seed + 1) w) a h
                      }

                  let plain (z: Tensor) =
                      let h = Programs.apply p z
                      let mixed = NestedTests.wsum seed h + (z * z).Sum() * 0.5
                      let a = mixed + (z * 0.25).Sum()
                      a * 0.5 + NestedTests.wsum (seed + 1) h

                  let _, pullback = Diff.run program
                  let v = Tensor.Scalar(r.NextDouble() + 0.5, DType.Float64)
                  let _, pb = vjp plain x

                  expectClose
                      "the program's pullback against vjp of the same function"
                      1e-12
                      (toF (pb v))
                      (toF (pullback v).[x])))
          test "nested inside another transform, a program sees the outer variable it closes over" {
              // d/dx Σ ∂/∂y (x·y)² at y = 2 = d/dx Σ 2x²y = 4xy = 8x
              let g =
                  grad
                      (fun x ->
                          let y = f64 [ 2.0; 2.0 ]
                          sum (diffGrad (fun y -> Diff.lift1 (fun y -> sum ((x * y) ** 2.0)) y) y))
                      (f64 [ 0.5; -1.0 ])

              near 1e-12 [| 4.0; -8.0 |] g "8x"
          } ]

type private Pair = { Mean: Tensor; Spread: Tensor }

let diffShapes =
    testList
        "diff { } programs of any shape"
        [ test "a tuple, a record and a list of tensors, with cotangents of the same shape" {
              let x = f64 [ 0.5; -1.0 ]

              let tupled =
                  diff {
                      let! s = Diff.tanh x
                      let! q = Diff.sigmoid x
                      return s, q
                  }

              let (s, q), pullback = Diff.run tupled
              near 1e-15 (values (tanh x)) s "first value"
              near 1e-15 (values (x.Sigmoid())) q "second value"
              let g = pullback (f64 [ 1.0; 0.0 ], f64 [ 0.0; 1.0 ])
              let ts, sq = tanh x, x.Sigmoid()
              near 1e-12 [| 1.0 - (values ts).[0] ** 2.0; (values sq).[1] * (1.0 - (values sq).[1]) |] g.[x] "both"

              let recorded =
                  diff {
                      let! m = Diff.lift1 (fun t -> t.Mean()) x
                      let! v = Diff.lift1 (fun t -> ((t - t.Mean()) ** 2.0).Mean()) x
                      return { Mean = m; Spread = v }
                  }

              let r, pb = Diff.run recorded
              near 1e-15 [| -0.25 |] r.Mean "the mean"
              // ∂/∂x of the mean is 1/n; of the variance 2(x − μ)/n
              near
                  1e-12
                  [| 0.5; 0.5 |]
                  (pb
                      { Mean = Tensor.Scalar(1.0, DType.Float64)
                        Spread = Tensor.Scalar(0.0, DType.Float64) }).[x]
                  "∂ mean"

              near
                  1e-12
                  [| 0.75; -0.75 |]
                  (pb
                      { Mean = Tensor.Scalar(0.0, DType.Float64)
                        Spread = Tensor.Scalar(1.0, DType.Float64) }).[x]
                  "∂ spread"

              let listed = diff { return! Diff.ret [ x * 2.0; x * 3.0 ] }

              let _, pbl =
                  Diff.run (
                      diff {
                          let! i = Diff.input x
                          return [ i * 2.0; i * 3.0 ]
                      }
                  )

              near 0.0 [| 5.0; 5.0 |] (pbl [ f64 [ 1.0; 1.0 ]; f64 [ 1.0; 1.0 ] ]).[x] "2 + 3"
              Expect.equal (Diff.value listed |> List.length) 2 "a list value"

              throwsWith<ArgumentException, _>
                  (fun () -> pbl [ f64 [ 1.0; 1.0 ] ] |> ignore)
                  [ "Diff.run"; "1 tensors"; "2" ]
          }
          test "use, try … with and try … finally work inside diff { }" {
              let x = f64 [ 0.2; 0.4 ]
              let mutable disposed = 0
              let mutable finalized = 0

              let prog =
                  diff {
                      use _ =
                          { new IDisposable with
                              member _.Dispose() = disposed <- disposed + 1 }

                      try
                          let! h = Diff.tanh x

                          try
                              let! bad = Diff.lift1 (fun _ -> failwith "a failing step") h
                              return bad
                          with _ ->
                              return! Diff.sigmoid h
                      finally
                          finalized <- finalized + 1
                  }

              let y, pullback = Diff.run prog
              Expect.equal (disposed, finalized) (1, 1) "disposed and finalized once"
              let th = tanh x
              near 1e-15 (values (th.Sigmoid())) y "the handler's step"
              let s = th.Sigmoid()
              near 1e-12 (values (s * (1.0 - s) * (1.0 - th * th))) (pullback (f64 [ 1.0; 1.0 ])).[x] "its pullback"
          }
          test "one reverse sweep per pullback, whatever the number of steps" {
              // a program of 200 steps: its pullback runs the engine once (timed nowhere; counted)
              let x = f64 [ 0.1 ]

              let prog =
                  Diff.fold (fun h _ -> Diff.lift1 (fun t -> t * 1.001 + 0.001) h) x [ 1..200 ]

              let _, pullback = Diff.run prog
              let before = Engine.Sweeps
              let g = (pullback (f64 [ 1.0 ])).[x]
              Expect.equal (Engine.Sweeps - before) 1L "one sweep"
              near 1e-12 [| 1.001 ** 200.0 |] g "the chain"
          } ]

let cotangents =
    testList
        "diff { } cotangents of what the program used"
        [ test "a leaf that enters a step and is also used by plain code gets both shares" {
              // loss = Σ tanh w + Σ w² (weight decay beside a step): ∂/∂w = 1 − tanh² w + 2w
              let expected (w: Tensor) =
                  values (1.0 - tanh w * tanh w + 2.0 * w)

              let program (w: Tensor) =
                  diff {
                      let! y = Diff.tanh w
                      return sum y + sum (w * w)
                  }

              let w = f64 [ 0.5; -1.25 ] |> requiresGrad
              let one = Tensor.Scalar(1.0, DType.Float64)
              near 1e-14 (expected w) ((snd (Diff.run (program w))) one).[w] "Diff.run"
              near 1e-14 (expected w) ((snd (Diff.runFor [ w ] (program w))) one).[w] "Diff.runFor"
          }
          test "a tensor runFor lists that only plain code uses gets its gradient" {
              let w, x = f64 [ 2.0; -3.0 ] |> requiresGrad, f64 [ 0.5; 0.25 ]

              let program =
                  diff {
                      let! h = Diff.tanh x
                      return sum (h * w)
                  }

              let g = (snd (Diff.runFor [ w ] program)) (Tensor.Scalar(1.0, DType.Float64))
              near 1e-15 (values (tanh x)) g.[w] "∂/∂w = tanh x"
              throwsWith<ArgumentException, _> (fun () -> g.[x]) [ "Diff.run:"; "runFor" ]
          }
          test "a tensor computed before the program from a leaf, used by plain code, gets its gradient" {
              let w = f64 [ 0.5; 2.0 ] |> requiresGrad
              let u = w * w // requires grad, not a leaf, never given to a step
              let x = f64 [ 1.0; -1.0 ]

              let program =
                  diff {
                      let! h = Diff.sigmoid x
                      return sum (h * u * u)
                  }

              let g = (snd (Diff.run program)) (Tensor.Scalar(1.0, DType.Float64))
              near 1e-15 (values (2.0 * x.Sigmoid() * u.Detach())) g.[u] "∂/∂u = 2 σ(x) u"
              near 1e-15 (values (4.0 * x.Sigmoid() * u.Detach() * w.Detach())) g.[w] "∂/∂w = 4 σ(x) u w"
          }
          test "a custom VJP first pulled back under NoGrad is recorded the next time" {
              // inside grad over x: the pullback of v under NoGrad, then again recorded, must give
              // 2x·v with its graph, whose gradient is 2v
              let x0 = f64 [ 1.5; -0.5 ]
              let v = f64 [ 1.0; 3.0 ]

              let g =
                  grad
                      (fun x ->
                          let _, pullback =
                              Diff.run (
                                  Diff.custom (fun xs -> xs.Head * xs.Head) (fun xs _ g -> [ 2.0 * xs.Head * g ]) [ x ]
                              )

                          noGrad (fun () -> pullback v) |> ignore
                          sum (pullback v).[x])
                      x0

              near 0.0 [| 2.0; 6.0 |] g "d/dx Σ 2x·v = 2v"
          }
          test "a value or cotangent of a type that could hide tensors is refused, constants are kept" {
              let x = f64 [ 1.0 ]

              let prog (value: 'T) =
                  diff {
                      let! _ = Diff.tanh x
                      return value
                  }

              throwsWith<NotSupportedException, _>
                  (fun () -> Diff.run (prog (Map.ofList [ "h", x ])))
                  [ "Diff.run:"; "FSharpMap" ]

              throwsWith<NotSupportedException, _>
                  (fun () -> Diff.run (prog (ResizeArray [ x ])))
                  [ "Diff.run:"; "List" ]

              throwsWith<NotSupportedException, _> (fun () -> Diff.run (prog (Array2D.create 1 1 x))) [ "Diff.run:" ]

              let (h, label, n), pullback =
                  Diff.run (
                      diff {
                          let! h = Diff.tanh x
                          return h, "label", 3
                      }
                  )

              Expect.equal (label, n) ("label", 3) "constants kept"
              near 1e-15 [| 1.0 - tanh 1.0 ** 2.0 |] (pullback (f64 [ 1.0 ], "", 0)).[x] "and the tensor differentiated"
              near 1e-15 [| tanh 1.0 |] h "value"
          } ]

let tests =
    testList "diff { } higher order" [ diffComposes; diffShapes; cotangents ]
