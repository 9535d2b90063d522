/// The chain rule on random programs of registered ops: the pullback of a composition equals
/// J₁ᵀ J₂ᵀ … v multiplied out from explicit finite-difference Jacobians, whichever face of the
/// engine computes it; and higher-order derivatives against differences and closed forms.
module Cotangent.Tests.ChainRuleTests

open System
open Expecto
open FsCheck
open FsCheck.FSharp
open Cotangent
open Cotangent.FSharp
open Cotangent.Testing
open Cotangent.Testing.GradCheck

let private config =
    { FsCheckConfig.defaultConfig with
        maxTest = 40 }

/// J₁ᵀ(J₂ᵀ(… Jₖᵀ v)) with each Jᵢ built column by column by central differences at the point the chain visits.
let explicitChain (p: Program) (v: float[]) =
    let points =
        p.Steps |> List.scan (fun h s -> eval (fun xs -> s.Apply xs.Head) [ h ]) p.Input

    List.zip p.Steps (List.truncate p.Steps.Length points)
    |> List.rev
    |> List.fold (fun ct (s, x) -> jacobianColumns (fun xs -> s.Apply xs.Head) [ x ] 0 1e-6 |> Array.map (dot ct)) v

let private withCotangent = Arbs.withSeed (Programs.arbitrary 2 6)

let private chainProperty name (pullbackOf: Program -> Tensor -> Tensor) =
    testPropertyWithConfig
        config
        name
        (Prop.forAll withCotangent (fun (p, seed) ->
            let y = eval (fun xs -> Programs.apply p xs.Head) [ p.Input ]
            let v = Sampling.tensorIn (Random seed) Sampling.Real y.Shape
            let expected = explicitChain p (toF v)

            expectClose
                (sprintf "pullback of %s" (p.Steps |> List.map string |> String.concat " → "))
                1e-5
                expected
                (toF (pullbackOf p v))))

let chainRule =
    testList
        "chain rule"
        [ chainProperty "functional vjp equals J1ᵀ J2ᵀ … v" (fun p v ->
              let _, pb = vjp (Programs.apply p) p.Input
              pb v)
          chainProperty "the diff CE's composed pullback equals J1ᵀ J2ᵀ … v" (fun p v ->
              let program =
                  Diff.fold (fun h (s: ProgramStep) -> Diff.lift1 s.Apply h) p.Input p.Steps

              let _, pullback = Diff.run program
              (pullback v).[p.Input])
          chainProperty "imperative Backward(v) equals J1ᵀ J2ᵀ … v" (fun p v ->
              let x = p.Input.Detach().RequireGrad()
              (Programs.apply p x).Backward(v)
              x.Grad)
          testPropertyWithConfig
              config
              "jvp and vjp satisfy the adjoint identity on random chains, J u by finite differences"
              (Prop.forAll withCotangent (fun (p, seed) ->
                  GradCheck.adjoint defaultTolerance (Programs.apply p) p.Input seed))
          test "random programs use registered ops only" {
              let r = Random 1

              for _ in 1..200 do
                  let s, _ = Programs.step r (Sampling.shape r 1 3)
                  Expect.isNotNull (OpRegistry.Find s.Op) s.Op
          } ]

/// f'' of elementwise functions, worked out by hand.
let private secondDerivatives: (string * Sampling.Domain * (Tensor -> Tensor) * (float -> float)) list =
    let sigma x = 1.0 / (1.0 + exp -x)

    let phi x =
        exp (-x * x / 2.0) / sqrt (2.0 * Math.PI)

    [ "sin", Sampling.Real, (fun x -> x.Sin()), (fun x -> -(sin x))
      "cos", Sampling.Real, (fun x -> x.Cos()), (fun x -> -(cos x))
      "exp", Sampling.Real, (fun x -> x.Exp()), exp
      "tanh", Sampling.Real, (fun x -> x.Tanh()), (fun x -> -2.0 * tanh x * (1.0 - tanh x ** 2.0))
      "sigmoid", Sampling.Real, (fun x -> x.Sigmoid()), (fun x -> sigma x * (1.0 - sigma x) * (1.0 - 2.0 * sigma x))
      "softplus", Sampling.Real, (fun x -> x.Softplus()), (fun x -> sigma x * (1.0 - sigma x))
      "log", Sampling.Positive, (fun x -> x.Log()), (fun x -> -1.0 / (x * x))
      "sqrt", Sampling.Positive, (fun x -> x.Sqrt()), (fun x -> -0.25 * x ** -1.5)
      "cube", Sampling.Real, (fun x -> x * x * x), (fun x -> 6.0 * x)
      "pow 2.5", Sampling.Positive, (fun x -> x.Pow 2.5), (fun x -> 2.5 * 1.5 * x ** 0.5)
      "erf", Sampling.Real, (fun x -> x.Erf()), (fun x -> -4.0 * x / sqrt Math.PI * exp (-x * x))
      "gelu", Sampling.Real, (fun x -> x.Gelu()), (fun x -> phi x * (2.0 - x * x))
      "div", Sampling.AwayFromZero, (fun x -> 1.0 / x), (fun x -> 2.0 / (x * x * x)) ]

let higherOrder =
    testList
        "higher order"
        [ for name, domain, f, f2 in secondDerivatives do
              yield
                  testPropertyWithConfig
                      config
                      (sprintf "grad of grad of %s is its closed-form second derivative" name)
                      (Prop.forAll (Arbs.tensor domain (Gens.shape 1 2)) (fun x ->
                          let d2 = grad (fun x -> grad (f >> sum) x |> sum) x
                          expectClose name 1e-10 (toF x |> Array.map f2) (toF d2)))
          yield
              testPropertyWithConfig
                  config
                  "Hessian-vector products equal differences of gradients"
                  (Prop.forAll withCotangent (fun (p, seed) ->
                      let f = Programs.apply p >> sum
                      let v = Sampling.tensorIn (Random seed) Sampling.Real p.Input.Shape
                      let eps = 1e-5
                      let gradAt h = grad f (p.Input + v * h) |> toF

                      let expected =
                          Array.map2 (fun a b -> (a - b) / (2.0 * eps)) (gradAt eps) (gradAt -eps)

                      expectClose "H·v" 1e-5 expected (toF (hvp f p.Input v))))
          yield
              testPropertyWithConfig
                  config
                  "the Hessian is the Jacobian of the gradient (by differences of gradients) and is symmetric"
                  (Prop.forAll (Programs.arbitrary 1 3) (fun p ->
                      let f = Programs.apply p >> sum
                      let n = p.Input.Numel
                      let h = hessian f p.Input |> toF
                      // column j of the Jacobian of ∇f, by central differences of the gradient along e_j
                      let columns = jacobianColumns (fun xs -> grad f xs.Head) [ p.Input ] 0 1e-5

                      for i in 0 .. n - 1 do
                          for j in 0 .. n - 1 do
                              if not (close 1e-5 columns.[j].[i] h.[i * n + j]) then
                                  failf
                                      "H[%d,%d] = %.10g, but differences of the gradient give %.10g"
                                      i
                                      j
                                      h.[i * n + j]
                                      columns.[j].[i]

                      for i in 0 .. n - 1 do
                          for j in 0 .. n - 1 do
                              if not (close 1e-9 h.[i * n + j] h.[j * n + i]) then
                                  failf "H[%d,%d] = %g but H[%d,%d] = %g" i j h.[i * n + j] j i h.[j * n + i])) ]

let tests = testList "composition" [ chainRule; higherOrder ]
