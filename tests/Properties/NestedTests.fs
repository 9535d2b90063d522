/// Higher-order differentiation that never loses a derivative: transforms nested two and three
/// deep over closures of the outer variables, against nested finite differences; the classic
/// cases of the nested-AD literature against closed forms; and diff { } programs whose pullback
/// is itself differentiated, against differences, the imperative face and closed forms.
module Cotangent.Tests.NestedTests

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

let private f64 (xs: float list) =
    Tensor.FromArray(Array.ofList xs, [| xs.Length |])

let private like (seed: int) (shape: int[]) =
    Sampling.tensorIn (Random seed) Sampling.Real shape

/// Σ rᵢ yᵢ with weights r drawn from the seed for y's shape: a scalar that depends on every output.
let private wsum seed (y: Tensor) = (y * like seed y.Shape).Sum()

/// f(x + k·h·t), as float64 values, with nothing recorded.
let private shifted (f: Tensor -> Tensor) (x: Tensor) (t: Tensor) k h =
    noGrad (fun () -> f (x + t * (k * h))) |> toF

/// The derivative of f along t by the five-point stencil, error O(h⁴): accurate enough to be
/// nested three deep in float64.
let private along (f: Tensor -> Tensor) (x: Tensor) (t: Tensor) =
    let h = 2e-3
    let p1, m1 = shifted f x t 1.0 h, shifted f x t -1.0 h
    let p2, m2 = shifted f x t 2.0 h, shifted f x t -2.0 h
    Array.init p1.Length (fun i -> (8.0 * (p1.[i] - m1.[i]) - (p2.[i] - m2.[i])) / (12.0 * h))

let private basis (x: Tensor) i =
    Tensor.FromArray(Array.init x.Numel (fun j -> if i = j then 1.0 else 0.0), x.Shape)

/// One level of a nest: how a transform is computed by AD and by differences, given a function
/// of that level's variable and the point.
type private Kind =
    | Grad
    | Jvp
    | Vjp
    | DiffPullback
    /// torch.autograd.grad with create_graph, w.r.t. a fresh leaf at the point
    | TorchGrad
    | Hvp
    | Jacobian

    member k.Ad (seed: int) (f: Tensor -> Tensor) (x: Tensor) : Tensor =
        match k with
        | Grad -> grad (f >> wsum seed) x
        | Jvp -> snd (jvp f x (like (seed + 1) x.Shape))
        | Vjp ->
            let y, pb = vjp f x
            pb (like (seed + 2) y.Shape)
        | DiffPullback ->
            let y, pb = Diff.run (Diff.lift1 f x)
            (pb (like (seed + 2) y.Shape)).[x]
        | TorchGrad ->
            let leaf = x.Detach().RequireGrad()
            let y = wsum seed (f leaf)
            // as a PyTorch user would: a function constant in its variable has derivative 0
            // (torch.autograd.grad refuses an output that needs no grad, and an unused input)
            if y.RequiresGrad then
                Autograd.Grad([| y |], [| leaf |], createGraph = true, allowUnused = true).[0]
            else
                Tensor.ZerosLike x
        | Hvp -> hvp (f >> wsum seed) x (like (seed + 3) x.Shape)
        | Jacobian -> jacobian f x

    member k.Fd (seed: int) (f: Tensor -> Tensor) (x: Tensor) : Tensor =
        let columns g =
            Array.init x.Numel (fun i -> along g x (basis x i))

        let gradFd (g: Tensor -> Tensor) (z: Tensor) =
            Tensor.FromArray(Array.init z.Numel (fun i -> (along g z (basis z i)).[0]), z.Shape)

        match k with
        | Grad
        | TorchGrad -> gradFd (f >> wsum seed) x
        | Hvp -> Tensor.FromArray(along (gradFd (f >> wsum seed)) x (like (seed + 3) x.Shape), x.Shape)
        | Jacobian ->
            let y = noGrad (fun () -> f x)
            let cols = columns f // cols.[j].[i] = ∂yᵢ/∂xⱼ

            Tensor.FromArray(
                Array.init (y.Numel * x.Numel) (fun k -> cols.[k % x.Numel].[k / x.Numel]),
                Array.append y.Shape x.Shape
            )
        | Jvp ->
            let y = noGrad (fun () -> f x)
            Tensor.FromArray(along f x (like (seed + 1) x.Shape), y.Shape)
        | Vjp
        | DiffPullback ->
            let y = noGrad (fun () -> f x)
            let v = toF (like (seed + 2) y.Shape)
            Tensor.FromArray(columns f |> Array.map (dot v), x.Shape)

/// A nest: the transforms from the outside in, the innermost body's program, the points, a seed.
type private Nest =
    { Kinds: Kind list
      Body: ProgramStep list
      Points: Tensor list
      Seed: int }

    override n.ToString() =
        sprintf
            "transforms %A over %s at %s (seed %d)"
            n.Kinds
            (n.Body |> List.map string |> String.concat " → ")
            (n.Points |> List.map string |> String.concat "; ")
            n.Seed

/// The innermost function of every variable: the program on a mixture of them, so the body
/// depends on each outer variable it closed over, elementwise and nonlinearly.
let private body (steps: ProgramStep list) (xs: Tensor list) =
    let inner = List.last xs

    let mixed =
        xs
        |> List.take (xs.Length - 1)
        |> List.indexed
        |> List.fold
            (fun acc (i, x) ->
                match i % 3 with
                | 0 -> acc * (1.0 + 0.5 * tanh x)
                | 1 -> acc + 0.3 * sin x
                | _ -> acc * x.Sigmoid() + x * x * 0.1)
            inner

    steps |> List.fold (fun h s -> s.Apply h) mixed

/// The nest's value, each level computed by `apply` (AD or differences).
let private evaluate (apply: Kind -> int -> (Tensor -> Tensor) -> Tensor -> Tensor) (n: Nest) =
    let depth = n.Kinds.Length

    let rec level k (captured: Tensor list) : Tensor -> Tensor =
        fun xk ->
            if k = depth - 1 then
                body n.Body (captured @ [ xk ])
            else
                apply n.Kinds.[k + 1] (n.Seed + 10 * (k + 1)) (level (k + 1) (captured @ [ xk ])) n.Points.[k + 1]

    apply n.Kinds.[0] n.Seed (level 0 []) n.Points.[0]

let private nests depth =
    gen {
        let! seed = Gen.choose (0, 1_000_000)
        let r = Random seed
        // hvp checks against differences of differences: as the innermost of two levels only,
        // three levels of differences in all (four drown the value in rounding)
        let basic = [| Grad; Jvp; Vjp; DiffPullback; TorchGrad |]

        let inner =
            if depth = 2 then
                [| Grad; Jvp; Vjp; DiffPullback; TorchGrad; Hvp; Jacobian |]
            else
                basic

        let kinds =
            List.init depth (fun k ->
                let choices = if k = depth - 1 then inner else basic
                choices.[r.Next choices.Length])

        let n = r.Next(1, 4)

        let steps, _ =
            List.fold
                (fun (acc, s) _ -> let st, s' = Programs.step r s in (st :: acc, s'))
                ([], [| n |])
                [ 1 .. r.Next(1, 4) ]

        return
            { Kinds = kinds
              Body = List.rev steps
              Points = List.init depth (fun _ -> Sampling.tensorIn r Sampling.Real [| n |])
              Seed = seed }
    }

let private nestProperty depth tol =
    testPropertyWithConfig
        { config with
            maxTest = if depth = 2 then 40 else 15 }
        (sprintf "transforms nested %d deep over closures equal nested finite differences" depth)
        (Prop.forAll (Arb.fromGen (nests depth)) (fun n ->
            let ad = evaluate (fun k s f x -> k.Ad s f x) n
            let fd = evaluate (fun k s f x -> k.Fd s f x) n
            expectClose (string n) tol (toF fd) (toF ad)))

/// d/dx [x · d/dy (x + y)] at any point: the inner derivative is 1, so the answer is 1. An
/// implementation that confuses the two perturbations gets 2 (Siskind and Pearlmutter).
let private perturbationConfusion x =
    grad (fun x -> sum (x * grad (fun y -> sum (x + y)) (f64 [ 1.0 ]))) (f64 [ x ])

let classics =
    testList
        "classic cases"
        [ test "d/dx [x · d/dy (x·y)] = 2x: the inner transform's closure over x keeps its derivative" {
              for x in [ 1.0; -0.5; 3.0 ] do
                  let g =
                      grad (fun x -> sum (x * grad (fun y -> sum (x * y)) (f64 [ 7.0 ]))) (f64 [ x ])

                  near 1e-12 [| 2.0 * x |] g (sprintf "at %g" x)
          }
          test "no perturbation confusion: d/dx [x · d/dy (x + y)] = 1" {
              for x in [ 1.0; 2.5 ] do
                  near 1e-12 [| 1.0 |] (perturbationConfusion x) (sprintf "at %g" x)
          }
          test "Newton's method through grad, differentiated: d/dx argmin_y (cosh y − x·y) = 1/√(1 + x²)" {
              // f(x, y) = cosh y − x·y has its minimum where sinh y = x: y*(x) = asinh x.
              // Newton on y uses f_y and f_yy, each a grad over a closure of x; unrolled to
              // convergence, its derivative in x is the implicit one, −f_xy / f_yy = 1/cosh y*.
              let cosh' (y: Tensor) = (exp y + exp (-y)) * 0.5
              let f (x: Tensor) (y: Tensor) = sum (cosh' y - x * y)

              let argmin (x: Tensor) =
                  let mutable y = f64 [ 0.0 ]

                  for _ in 1..30 do
                      let fy = grad (f x) y
                      let fyy = grad (fun y -> sum (grad (f x) y)) y
                      y <- y - fy / fyy

                  sum y

              for x in [ 0.5; -1.2; 2.0 ] do
                  let x0 = f64 [ x ]
                  near 1e-12 [| Math.Asinh x |] (argmin x0) "y* = asinh x"
                  near 1e-10 [| 1.0 / sqrt (1.0 + x * x) |] (grad argmin x0) "dy*/dx"
          }
          test "a hyper-gradient: d/dη of the validation loss after two SGD steps, against its closed form" {
              let a = f64s [ 3; 2 ] [ 1.0; 2.0; -1.0; 0.5; 0.3; -0.7 ]
              let b = f64 [ 0.5; -1.0; 2.0 ]
              let c = f64s [ 2; 2 ] [ 0.4; -1.1; 0.9; 0.2 ]
              let d = f64 [ 1.0; -0.3 ]
              let train (w: Tensor) = sum ((a *@ w - b) ** 2.0) * 0.5
              let valid (w: Tensor) = sum ((c *@ w - d) ** 2.0) * 0.5
              let w0 = f64 [ 0.2; -0.4 ]

              let afterTwo (eta: Tensor) =
                  let w1 = w0 - eta * grad train w0
                  w1 - eta * grad train w1

              let eta = 0.05
              let hg = grad (fun e -> valid (afterTwo e)) (f64 [ eta ])
              // by hand: H = AᵀA, g(w) = H w − Aᵀb; dw₁/dη = −g(w₀); dw₂/dη = dw₁/dη − g(w₁) − η H dw₁/dη
              let h = a.T *@ a
              let g (w: Tensor) = h *@ w - a.T *@ b
              let w1 = w0 - eta * g w0
              let w2 = w1 - eta * g w1
              let dw1 = -(g w0)
              let dw2 = dw1 - g w1 - eta * (h *@ dw1)
              let expected = sum ((c.T *@ (c *@ w2 - d)) * dw2)
              near 1e-12 (values expected) hg "∇L_val(w₂) · dw₂/dη"
          }
          testPropertyWithConfig
              config
              "forward-over-reverse equals reverse-over-forward equals hvp, on random programs"
              (Prop.forAll (Arbs.withSeed (Programs.arbitrary 1 4)) (fun (p, seed) ->
                  let f = Programs.apply p >> wsum seed
                  let x = p.Input
                  let v = like (seed + 1) x.Shape
                  let forwardOverReverse = snd (jvp (grad f) x v)
                  let reverseOverForward = grad (fun x -> snd (jvp f x v)) x
                  let h = hvp f x v
                  expectClose "jvp of grad against hvp" 1e-10 (toF h) (toF forwardOverReverse)
                  expectClose "grad of jvp against hvp" 1e-10 (toF h) (toF reverseOverForward)))
          nestProperty 2 1e-6
          nestProperty 3 1e-5 ]

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
        return! Diff.lift1 (wsum seed) h
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
              let x = f64 [ 0.3; 0.7 ] |> requiresGrad
              let _, pullback = Diff.run (Diff.tanh x)

              let g = noGrad (fun () -> (pullback (f64 [ 1.0; 1.0 ])).[x])

              Expect.isFalse g.RequiresGrad "no graph"
              Expect.isNull g.GradFn "no grad_fn"
          }
          testPropertyWithConfig
              config
              "Hessian-vector products through diff { } equal differences of its gradients"
              (Prop.forAll (Arbs.withSeed (Programs.arbitrary 1 4)) (fun (p, seed) ->
                  let g = diffGrad (scalarProgram p seed)
                  let x = p.Input
                  let v = like (seed + 1) x.Shape
                  let _, pb = vjp g x
                  expectClose "H·v through the CE" 1e-6 (along g x v) (toF (pb v))))
          testPropertyWithConfig
              config
              "second order through diff { } equals the imperative and the functional faces to 1e-10"
              (Prop.forAll (Arbs.withSeed (Programs.arbitrary 1 4)) (fun (p, seed) ->
                  let x = p.Input
                  let v = like (seed + 1) x.Shape
                  let f = Programs.apply p >> wsum seed
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
                          let mixed = wsum seed h + (i * i).Sum() * 0.5
                          let! a = Diff.lift2 (fun u w -> u + (w * 0.25).Sum()) mixed i
                          return! Diff.lift2 (fun u w -> u * 0.5 + wsum (seed + 1) w) a h
                      }

                  let plain (z: Tensor) =
                      let h = Programs.apply p z
                      let mixed = wsum seed h + (z * z).Sum() * 0.5
                      let a = mixed + (z * 0.25).Sum()
                      a * 0.5 + wsum (seed + 1) h

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

let tests = testList "higher order" [ classics; diffComposes; diffShapes ]
