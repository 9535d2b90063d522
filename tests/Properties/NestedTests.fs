/// Higher-order differentiation that never loses a derivative: transforms nested two and three
/// deep over closures of the outer variables, against nested finite differences; the classic
/// cases of the nested-AD literature against closed forms. (diff { } programs differentiated
/// through their pullbacks are DiffTests.)
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

let internal like (seed: int) (shape: int[]) =
    Sampling.tensorIn (Random seed) Sampling.Real shape

/// Σ rᵢ yᵢ with weights r drawn from the seed for y's shape: a scalar that depends on every output.
let internal wsum seed (y: Tensor) = (y * like seed y.Shape).Sum()

/// f(x + k·h·t), as float64 values, with nothing recorded.
let private shifted (f: Tensor -> Tensor) (x: Tensor) (t: Tensor) k h =
    noGrad (fun () -> f (x + t * (k * h))) |> toF

/// The derivative of f along t by the five-point stencil, error O(h⁴): accurate enough to be
/// nested three deep in float64.
let internal along (f: Tensor -> Tensor) (x: Tensor) (t: Tensor) =
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
          test
              "a top-level grad over a nested one carries no graph: the inner transform's own leaf is a constant outside it" {
              // g(a) = d/dx (a·x³) at x = 2 is 12a, so dg/da = 12; the inner result's graph
              // reaches the leaf the inner grad made of x = 2, which no caller differentiates
              let inner (a: Tensor) =
                  grad (fun x -> sum (a * x * x * x)) (f64 [ 2.0 ])

              let g = grad (fun a -> sum (inner a)) (f64 [ 1.5 ])
              near 1e-12 [| 12.0 |] g "dg/da"
              Expect.isFalse g.RequiresGrad "the result requires no gradient"
              Expect.isNull g.GradFn "and has no grad_fn"
              // a closure over a leaf of the caller's still keeps its graph to that leaf
              let w = f64 [ 0.5 ] |> requiresGrad
              let gw = grad (fun a -> sum (w * inner a)) (f64 [ 1.5 ])
              Expect.isTrue gw.RequiresGrad "a result that depends on the caller's w keeps its graph"
              gw.Sum().Backward()
              near 1e-12 [| 12.0 |] w.Grad "d/dw of w·12 is 12"
          }
          test "no perturbation confusion: d/dx [x · d/dy (x + y)] = 1" {
              for x in [ 1.0; 2.5 ] do
                  near 1e-12 [| 1.0 |] (perturbationConfusion x) (sprintf "at %g" x)
          }
          test "a transform run in a task its function started is still inside it: d/dx [x · d/dy (x·y)] = 2x" {
              let inner (x: Tensor) =
                  Threading.Tasks.Task.Run(fun () -> grad (fun y -> sum (x * y)) (f64 [ 7.0 ])).Result

              near 1e-12 [| 3.0 |] (grad (fun x -> sum (x * inner x)) (f64 [ 1.5 ])) "at 1.5"
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

let tests = testList "higher order" [ classics ]
