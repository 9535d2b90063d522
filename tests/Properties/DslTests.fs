/// The F# DSL: literals, operators, transforms, the diff { } computation expression, custom
/// rules, and the public testing kit catching a wrong rule.
module Cotangent.Tests.DslTests

open System
open Expecto
open FsCheck
open FsCheck.FSharp
open Cotangent
open Cotangent.FSharp
open Cotangent.Testing
open Cotangent.Tests.Check

let private f64 (xs: float list) = (tensor xs).To DType.Float64

let private config =
    { FsCheckConfig.defaultConfig with
        maxTest = 40 }

let literalsAndOperators =
    testList
        "literals and operators"
        [ test "tensor literals" {
              Expect.equal (tensor [ 1.0; 2.0 ]).Shape [| 2 |] "1-D"
              Expect.equal (tensor [ [ 1.0; 2.0 ]; [ 3.0; 4.0 ]; [ 5.0; 6.0 ] ]).Shape [| 3; 2 |] "2-D"
              Expect.equal (tensor [ 1L; 2L ]).DType DType.Int64 "int64"
              Expect.equal (tensor [ 3; 4 ]).DType DType.Int64 "ints are labels"
              Expect.equal (tensor 2.5).Shape [||] "scalar"
              Expect.throwsT<ArgumentException> (fun () -> tensor [ [ 1.0 ]; [ 2.0; 3.0 ] ] |> ignore) "ragged rows"
          }
          test "operators and F#'s own math functions apply to tensors" {
              let a = f64 [ 1.0; 2.0 ]
              let m = (tensor [ [ 1.0; 2.0 ]; [ 3.0; 4.0 ] ]).To DType.Float64
              near 0.0 [| 5.0; 11.0 |] (m *@ a) "*@"
              near 0.0 [| 6.0; 12.0 |] (m *@ a + 1.0) "*@ binds tighter than +"
              near 0.0 [| 1.0; 4.0 |] (a ** 2.0) "**"
              near 0.0 [| -1.0; -2.0 |] (-a) "~-"
              near 1e-15 [| exp 1.0; exp 2.0 |] (exp a) "exp"
              near 1e-15 [| tanh 1.0; tanh 2.0 |] (tanh a) "tanh"
              Expect.equal ((a .> 1.5).ToArray<bool>()) [| false; true |] ".> number"
              Expect.equal ((a .<= a).ToArray<bool>()) [| true; true |] ".<= tensor"
          }
          test "pipelines of curried functions" {
              let x = f64 [ 1.0; 2.0; 3.0; 4.0 ]
              let y = x |> Tensor.reshape [ 2; 2 ] |> Tensor.transpose 0 1 |> Tensor.sumAxes [ 1 ]
              near 0.0 [| 4.0; 6.0 |] y "reshape, transpose, sum"
              Expect.equal (x |> Tensor.shape) [ 4 ] "shape as a list"
              Expect.isNone (Tensor.grad x) "no gradient: an option, not null"
              Expect.isNone (Tensor.gradFn x) "no grad_fn: an option"
          } ]

let transforms =
    testList
        "transforms"
        [ testPropertyWithConfig
              config
              "the DSL's grad, jvp, vjp and hvp against finite differences on random programs"
              (Prop.forAll (Arbs.withSeed (Programs.arbitrary 1 4)) (fun (p, seed) ->
                  let r = Random seed
                  let g = Programs.apply p
                  let f = g >> sum
                  let x = p.Input
                  let t = Sampling.tensorIn r Sampling.Real x.Shape

                  let central (h: Tensor -> Tensor) eps =
                      Array.map2
                          (fun a b -> (a - b) / (2.0 * eps))
                          (values (h (x + t * eps)))
                          (values (h (x - t * eps)))
                  // ⟨∇f, t⟩ is the directional derivative of f
                  GradCheck.expectClose
                      "⟨grad f, t⟩"
                      1e-6
                      (central (fun z -> noGrad (fun () -> f z)) 1e-6)
                      [| GradCheck.dot (values (grad f x)) (values t) |]

                  let y, jt = jvp g x t
                  GradCheck.expectClose "jvp: J t" 1e-6 (central (fun z -> noGrad (fun () -> g z)) 1e-6) (values jt)
                  let v = Sampling.tensorIn r Sampling.Real y.Shape
                  let _, pb = vjp g x

                  GradCheck.expectClose
                      "vjp: ⟨Jᵀv, t⟩ = ⟨v, J t⟩"
                      1e-6
                      [| GradCheck.dot (values v) (values jt) |]
                      [| GradCheck.dot (values (pb v)) (values t) |]

                  GradCheck.expectClose
                      "hvp: H t by differences of gradients"
                      1e-5
                      (central (grad f) 1e-5)
                      (values (hvp f x t))))
          test "the design sketch: grad (fun w -> sum (tanh (w *@ w))) w0" {
              let w0 = (tensor [ [ 0.1; 0.2 ]; [ -0.3; 0.4 ] ]).To DType.Float64
              let g = grad (fun w -> sum (tanh (w *@ w))) w0
              // d/dW Σ tanh(WW) = S Wᵀ + Wᵀ S with S = 1 − tanh²(WW)
              let s = 1.0 - tanh (w0 *@ w0) ** 2.0
              near 1e-12 (values (s *@ w0.T + w0.T *@ s)) g "closed form"
          }
          test "gradN and vjpN take F# lists" {
              let a, b = f64 [ 2.0 ], f64 [ 5.0 ]

              match gradN (fun xs -> sum (xs.[0] * xs.[1])) [ a; b ] with
              | [ ga; gb ] ->
                  near 0.0 [| 5.0 |] ga "∂/∂a = b"
                  near 0.0 [| 2.0 |] gb "∂/∂b = a"
              | other -> failtestf "two gradients expected, got %d" other.Length
          } ]

let private leaf xs = (f64 xs).RequireGrad()

let computationExpression =
    testList
        "diff { }"
        [ test "the design sketch's two-layer net: the CE's pullback equals Backward on the same net" {
              let r = Random 3
              let t shape = Sampling.tensorIn r Sampling.Real shape

              let w1, b1, w2, b2, x =
                  t [| 4; 3 |], t [| 4 |], t [| 2; 4 |], t [| 2 |], t [| 5; 3 |]

              let layer w b x =
                  diff {
                      let! h = Diff.linear w b x
                      return! Diff.relu h
                  }

              let net =
                  diff {
                      let! h = layer w1 b1 x
                      return! layer w2 b2 h
                  }

              let y, pullback = Diff.run net
              let v = t [| 5; 2 |]
              let g = pullback v
              // the same net, imperatively
              let ls = [ w1; b1; w2; b2; x ] |> List.map (fun p -> p.Detach().RequireGrad())
              let lin (w: Tensor) (b: Tensor) (x: Tensor) = (x *@ w.T + b).Relu()
              let yi = lin ls.[2] ls.[3] (lin ls.[0] ls.[1] ls.[4])
              near 0.0 (values yi) y "value"
              yi.Backward(v)

              List.zip [ w1; b1; w2; b2; x ] ls
              |> List.iter (fun (p, l) -> near 1e-12 (values l.Grad) g.[p] "gradient")
          }
          test "and! runs independent steps; their cotangents add where they meet" {
              let a, b = f64 [ 0.3; -0.7 ], f64 [ 1.2; 0.4 ]

              let prog =
                  diff {
                      let! s = Diff.tanh a
                      and! q = Diff.sigmoid b
                      return! Diff.lift2 (*) s q
                  }

              let _, pullback = Diff.run prog
              let g = pullback (f64 [ 1.0; 1.0 ])
              let sa, sb = tanh a, b.Sigmoid()
              near 1e-12 (values ((1.0 - sa * sa) * sb)) g.[a] "∂/∂a"
              near 1e-12 (values (sa * sb * (1.0 - sb))) g.[b] "∂/∂b"
          }
          test "the seed's doubling loop as a while over steps" {
              let x = f64 [ 0.5; -1.0; 2.0 ]
              let doubles = ref 0

              let prog =
                  diff {
                      let y = ref x

                      while norm y.Value < 1000.0 do
                          let! z = Diff.lift1 (fun t -> t * 2.0) y.Value
                          y.Value <- z
                          doubles.Value <- doubles.Value + 1

                      return y.Value
                  }

              let _, pullback = Diff.run prog
              let v = f64 [ 0.1; 1.0; 0.0001 ]
              near 1e-12 (values v |> Array.map (fun e -> e * 2.0 ** float doubles.Value)) (pullback v).[x] "2^n · v"
          }
          test "for over steps, and plain tensor code between steps, join the chain" {
              let x = f64 [ 0.2; -0.4 ]

              let prog =
                  diff {
                      let! x' = Diff.input x
                      let h = ref x'

                      for k in 1..3 do
                          let! s = Diff.tanh h.Value
                          h.Value <- s * float k + h.Value // plain code on a step's output

                      return! Diff.sigmoid (h.Value * 2.0)
                  }

              let plain (x: Tensor) =
                  let mutable h = x

                  for k in 1..3 do
                      h <- tanh h * float k + h

                  (h * 2.0).Sigmoid()

              let _, pullback = Diff.run prog
              let v = f64 [ 1.0; -0.5 ]
              let _, pb = vjp plain x
              near 1e-12 (values (pb v)) (pullback v).[x] "same as the engine on the plain function"
          }
          test "a closed-over leaf used through plain code gets its gradient" {
              let w = leaf [ 0.5; 1.5 ]
              let _, pullback = Diff.run (Diff.relu (w * 2.0 - 1.0))
              near 0.0 [| 0.0; 2.0 |] (pullback (f64 [ 1.0; 1.0 ])).[w] "relu'(2w − 1) · 2"
          }
          test "a tensor the program treats as a constant has no gradient: asking raises, TryFind says None" {
              let x, other = f64 [ 1.0 ], f64 [ 2.0 ]
              // other is used, but by plain code and without requiring grad: a constant, whose
              // true derivative (tanh 1) a zero would silently misstate
              let _, pullback =
                  Diff.run (
                      diff {
                          let! h = Diff.tanh x
                          return h * other
                      }
                  )

              let g = pullback (f64 [ 1.0 ])
              throwsWith<ArgumentException, _> (fun () -> g.[other]) [ "Diff.run:"; "constant"; "Diff.input" ]
              Expect.isNone (g.TryFind other) "not an input"
              near 1e-15 [| 2.0 * (1.0 - tanh 1.0 ** 2.0) |] g.[x] "the input's gradient is there"
          }
          test "a leaf that requires grad and that the program never reaches gets zeros" {
              let x, unused = f64 [ 1.0 ], leaf [ 2.0; 3.0 ]
              let _, pullback = Diff.run (Diff.tanh x)
              near 0.0 [| 0.0; 0.0 |] (pullback (f64 [ 1.0 ])).[unused] "zeros of its shape"
          }
          test "a custom step uses its hand-written VJP" {
              let x = f64 [ 3.0; -2.0 ]
              // forward x², VJP deliberately 3x·v so the test sees the rule was used, not the engine
              let prog =
                  Diff.custom (fun xs -> xs.Head * xs.Head) (fun xs _ v -> [ 3.0 * xs.Head * v ]) [ x ]

              let y, pullback = Diff.run prog
              near 0.0 [| 9.0; 4.0 |] y "forward"
              near 0.0 [| 9.0; -6.0 |] (pullback (f64 [ 1.0; 1.0 ])).[x] "the custom rule"
          } ]

/// Softplus with a hand-written VJP through the engine, right and wrong.
let private softplusWith (rule: Tensor -> Tensor -> Tensor) (xs: Tensor list) =
    customOp "my_softplus" xs (fun xs -> (1.0 + exp xs.Head).Log()) (fun _ g xs _ -> Some(rule g xs.Head))

let kit =
    testList
        "testing kit"
        [ testPropertyWithConfig
              config
              "a correct custom rule passes the kit's gradchecks"
              (GradProps.vjpMatchesJacobian
                  GradCheck.defaultTolerance
                  (Arbs.tensors Sampling.Real (Gen.map List.singleton (Gens.shape 1 2)))
                  (softplusWith (fun g x -> g * x.Sigmoid())))
          testPropertyWithConfig
              config
              "the adjoint identity holds for a correct custom rule"
              (GradProps.adjointIdentity
                  GradCheck.defaultTolerance
                  (Arbs.tensor Sampling.Real (Gens.shape 1 2))
                  (fun x -> softplusWith (fun g x -> g * x.Sigmoid()) [ x ]))
          test "a wrong custom rule fails with the input, the expected and the actual gradients" {
              let wrong = softplusWith (fun g x -> g * x.Sigmoid() * 1.01)

              let e =
                  Expect.throwsC
                      (fun () -> GradCheck.vjpVsJacobian GradCheck.defaultTolerance wrong [ f64 [ 0.5; -1.0 ] ] 1)
                      id

              Expect.isTrue (e :? GradCheck.GradCheckException) "a GradCheckException"

              for part in [ "expected"; "actual"; "input 0"; "Jᵀv" ] do
                  Expect.stringContains e.Message part "the failure report"
          }
          test "a wrong rule fails the FsCheck properties, shrunk to the simplest input" {
              let wrong = softplusWith (fun g x -> g * x.Sigmoid() + 0.1 * g)

              let failing =
                  [ "vjpMatchesDifferences",
                    GradProps.vjpMatchesDifferences
                        GradCheck.defaultTolerance
                        (Arbs.tensors Sampling.Real (Gen.map List.singleton (Gens.shape 1 3)))
                        wrong
                    "vjpMatchesJacobian",
                    GradProps.vjpMatchesJacobian
                        GradCheck.defaultTolerance
                        (Arbs.tensors Sampling.Real (Gen.map List.singleton (Gens.shape 1 3)))
                        wrong
                    "adjointIdentity",
                    GradProps.adjointIdentity
                        GradCheck.defaultTolerance
                        (Arbs.tensor Sampling.Real (Gens.shape 1 3))
                        (fun x -> wrong [ x ]) ]

              for name, prop in failing do
                  let mutable result = None

                  let runner =
                      { new IRunner with
                          member _.OnStartFixture _ = ()
                          member _.OnArguments(_, _, _) = ()
                          member _.OnShrink(_, _) = ()
                          member _.OnFinished(_, r) = result <- Some r }

                  Check.One(Config.Quick.WithRunner(runner).WithMaxTest(20), prop)

                  match result with
                  | Some(TestResult.Failed(data, _, shrunk, _, _, _, _)) ->
                      Expect.isGreaterThan data.NumberOfShrinks 0 (sprintf "%s shrinks its counterexample" name)

                      let tensors =
                          match shrunk.Head with
                          | :? (Tensor list * int) as t -> fst t
                          | :? (Tensor * int) as t -> [ fst t ]
                          | other -> failtestf "%s: unexpected arguments %A" name other

                      // the wrong rule is wrong everywhere: the simplest input is one element, or all zeros
                      for (x: Tensor) in tensors do
                          Expect.isTrue
                              (x.Numel = 1 || values x |> Array.forall ((=) 0.0))
                              (sprintf "%s shrank to %O" name x)
                  | other -> failtestf "%s: expected a failure, got %A" name other
          }
          test "the adjoint check catches a wrong rule whose jvp is built from the same wrong vjp" {
              // jvp transposes the vjp, so ⟨jvp u, w⟩ = ⟨u, vjp w⟩ holds for any rule, right or wrong;
              // the check must take J u from finite differences to see the error
              let wrong x =
                  softplusWith (fun g x -> g * x.Sigmoid() * 1.25) [ x ]

              Expect.throwsT<GradCheck.GradCheckException>
                  (fun () -> GradCheck.adjoint GradCheck.defaultTolerance wrong (f64 [ 0.5; -1.0; 2.0 ]) 3)
                  "a GradCheckException"

              GradCheck.adjoint
                  GradCheck.defaultTolerance
                  (fun x -> softplusWith (fun g x -> g * x.Sigmoid()) [ x ])
                  (f64 [ 0.5; -1.0; 2.0 ])
                  3
          }
          test "a failure report shows v and, for a small input, Jᵀv from both sides" {
              let wrong = softplusWith (fun g x -> g * x.Sigmoid() * 1.01)

              let e =
                  Expect.throwsC
                      (fun () -> GradCheck.vjpVsDifferences GradCheck.defaultTolerance wrong [ f64 [ 0.5; -1.0 ] ] 1)
                      id

              for part in
                  [ "cotangent v: tensor("
                    "Jᵀv for input 0: from the VJP"
                    "from finite differences" ] do
                  Expect.stringContains e.Message part "the failure report"
          }
          test "the custom op shows its name as grad_fn" {
              let y = softplusWith (fun g x -> g * x.Sigmoid()) [ leaf [ 1.0 ] ]
              Expect.equal (string y.GradFn) "<MySoftplusBackward>" "grad_fn"
          } ]

let tests =
    testList "dsl" [ literalsAndOperators; transforms; computationExpression; kit ]
