/// The imperative face (the seed chapter's semantics) and the functional face of the engine,
/// against closed-form derivatives worked out by hand.
module Cotangent.Tests.AutogradTests

open System
open System.Threading.Tasks
open Expecto
open Cotangent
open Cotangent.Tests.Check

let private leaf (xs: float list) = (f64 xs).RequireGrad()

let imperative =
    testList
        "imperative"
        [ test "the seed example: doubling until the norm passes 1000, then backward(v) gives 2^(i+1)·v" {
              for seed in 1UL .. 20UL do
                  let x = Tensor.Randn([| 3 |], DType.Float64, Generator seed).RequireGrad()
                  let mutable y = x * 2.0
                  let mutable i = 0

                  while y.Norm().Item<float>() < 1000.0 do
                      y <- y * 2.0
                      i <- i + 1
                  // i is independent of autograd: the smallest i with 2^(i+1)·‖x‖ ≥ 1000
                  let norm = sqrt (values x |> Array.sumBy (fun v -> v * v))
                  Expect.equal i (max 0 (int (ceil (Math.Log2(1000.0 / norm))) - 1)) "doubling count"
                  y.Backward(f64 [ 0.1; 1.0; 0.0001 ])

                  near
                      1e-12
                      ([ 0.1; 1.0; 0.0001 ]
                       |> List.map (fun v -> v * 2.0 ** float (i + 1))
                       |> Array.ofList)
                      x.Grad
                      "x.grad"
          }
          test "leaves and directly built tensors have no grad_fn; op outputs name their op" {
              let x = leaf [ 1.0; 2.0 ]
              Expect.isTrue x.IsLeaf "a requires-grad leaf is a leaf"
              Expect.isNull x.GradFn "leaf grad_fn"
              Expect.isNull (Tensor.From(1.0f, 2.0f).GradFn) "a built tensor has no grad_fn"
              let y = (x * 2.0).Exp()
              Expect.equal y.GradFn.Name "exp" "grad_fn name"
              Expect.equal (string y.GradFn) "<ExpBackward>" "PyTorch-style spelling"
              Expect.equal y.GradFn.NextFunctions.[0].Name "mul" "next function"
              Expect.isFalse y.IsLeaf "an op output is not a leaf"
              Expect.isNull (y.GradFn.NextFunctions.[0].NextFunctions.[0]) "the chain ends at the leaf"
          }
          test "NextLeaves tells the leaf an input accumulates into from a constant and an op output" {
              let x = leaf [ 1.0; 2.0 ]
              let c = Tensor.From(3.0f, 4.0f)
              let m = x * c
              Expect.isTrue (obj.ReferenceEquals(m.GradFn.NextLeaves.[0], x)) "x's gradient goes to x"
              Expect.isNull m.GradFn.NextLeaves.[1] "a constant has no leaf"
              let y = m.Exp()
              Expect.isNull y.GradFn.NextLeaves.[0] "an op output is not a leaf"
              Expect.equal y.GradFn.NextFunctions.[0].Name "mul" "and has a grad_fn instead"
              y.Sum().Backward()
              Expect.isTrue (obj.ReferenceEquals(m.GradFn.NextLeaves.[0], x)) "kept after the pass frees the graph"
          }
          test "backward() on a non-scalar without v is an error naming the shape" {
              let y = leaf [ 1.0; 2.0; 3.0 ] * 2.0
              throwsWith<InvalidOperationException, _> (fun () -> y.Backward()) [ "scalar"; "[3]" ]
          }
          test "backward(v) with v of the wrong shape fails before touching any grad" {
              let x = leaf [ 1.0; 2.0; 3.0 ]
              let y = x * 2.0

              throwsWith<ShapeMismatchException, _>
                  (fun () -> y.Backward(f64 [ 1.0; 2.0 ]))
                  [ "backward"; "[2]"; "[3]" ]

              Expect.isNull x.Grad "no gradient after a failed backward"
          }
          test "gradients accumulate across backward calls until ZeroGrad" {
              let x = leaf [ 1.0; -2.0 ]
              (x * x).Sum().Backward()
              (x * 3.0).Sum().Backward()
              near 1e-15 [| 2.0 + 3.0; -4.0 + 3.0 |] x.Grad "2x + 3"
              x.ZeroGrad()
              Expect.isNull x.Grad "cleared"
              (x * x).Sum().Backward()
              near 1e-15 [| 2.0; -4.0 |] x.Grad "2x after clearing"
          }
          test "a second backward through a freed graph is an error and changes nothing" {
              let x = leaf [ 1.0; 2.0 ]
              let y = (x * x).Sum()
              y.Backward()
              throwsWith<InvalidOperationException, _> (fun () -> y.Backward()) [ "second time"; "retainGraph" ]
              near 0.0 [| 2.0; 4.0 |] x.Grad "grad unchanged by the failed call"
          }
          test "retainGraph allows a second backward" {
              let x = leaf [ 1.0; 2.0 ]
              let y = (x * x).Sum()
              y.Backward(retainGraph = true)
              y.Backward()
              near 0.0 [| 4.0; 8.0 |] x.Grad "twice 2x"
          }
          test "NoGrad records nothing, EnableGrad records again, and both restore on exit" {
              let x = leaf [ 1.0 ]
              use _ = Autograd.NoGrad()
              let y = x * 2.0
              Expect.isFalse y.RequiresGrad "no grad inside NoGrad"
              Expect.isNull y.GradFn "no grad_fn inside NoGrad"

              do
                  use _ = Autograd.EnableGrad()
                  Expect.isTrue (x * 2.0).RequiresGrad "EnableGrad inside NoGrad"

              Expect.isFalse GradMode.IsEnabled "still off after the inner scope"
          }
          test "NoGrad flows into awaited and spawned work" {
              use _ = Autograd.NoGrad()
              let inner = Task.Run(fun () -> GradMode.IsEnabled).Result
              Expect.isFalse inner "the flag flows to Task.Run"
          }
          test "Detach cuts the graph and shares the values" {
              let x = leaf [ 1.0; 2.0 ]
              let d = (x * 3.0).Detach()
              Expect.isNull d.GradFn "detached"
              Expect.isFalse d.RequiresGrad "needs no grad"
              let y = (x * d).Sum()
              y.Backward()
              near 0.0 [| 3.0; 6.0 |] x.Grad "only the undetached path carries gradient"
          }
          test "broadcast inputs get gradients of their own shape" {
              let a = (f64s [ 3; 1 ] [ 1.0; 2.0; 3.0 ]).RequireGrad()
              let b = (f64s [ 4 ] [ 1.0; 1.0; 1.0; 1.0 ]).RequireGrad()
              (a * b).Sum().Backward()
              Expect.equal a.Grad.Shape [| 3; 1 |] "a.grad shape"
              Expect.equal b.Grad.Shape [| 4 |] "b.grad shape"
              near 0.0 [| 4.0; 4.0; 4.0 |] a.Grad "each a_i meets four b_j = 1"
              near 0.0 [| 6.0; 6.0; 6.0; 6.0 |] b.Grad "each b_j meets a_1 + a_2 + a_3"
          }
          test "createGraph makes the gradient differentiable: d²(x³)/dx² = 6x" {
              let x = leaf [ 0.5; -1.5; 2.0 ]
              (x * x * x).Sum().Backward(createGraph = true)
              let g = x.Grad
              near 1e-12 [| 0.75; 6.75; 12.0 |] g "3x²"
              let h = Autograd.Grad([| g.Sum() |], [| x |]).[0]
              near 1e-12 [| 3.0; -9.0; 12.0 |] h "6x"
          }
          test "only float tensors can require grad, and only leaves" {
              throwsWith<DTypeMismatchException, _> (fun () -> Tensor.From(1L, 2L).RequireGrad()) [ "int64" ]
              let y = leaf [ 1.0 ] * 2.0
              throwsWith<InvalidOperationException, _> (fun () -> y.RequireGrad()) [ "mul"; "Detach" ]
          }
          test "backward from a tensor that needs no grad is an error" {
              throwsWith<InvalidOperationException, _>
                  (fun () -> (f64 [ 1.0 ]).Sum().Backward())
                  [ "does not require grad" ]
          }
          test "prod's gradient is exact at zeros" {
              let x = leaf [ 2.0; 0.0; 3.0 ]
              x.Prod().Backward()
              near 0.0 [| 0.0; 6.0; 0.0 |] x.Grad "∏ of the others"
              let z = leaf [ 0.0; 0.0; 3.0 ]
              z.Prod().Backward()
              near 0.0 [| 0.0; 0.0; 0.0 |] z.Grad "two zeros: all zero"
          }
          test "norm's gradient at the origin is zero, not NaN" {
              let x = leaf [ 0.0; 0.0 ]
              x.Norm().Backward()
              near 0.0 [| 0.0; 0.0 |] x.Grad "subgradient 0"
          }
          test "softmax, log_softmax and cross_entropy stay finite for huge logits" {
              let x = (f64s [ 1; 3 ] [ 1000.0; 0.0; -1000.0 ]).RequireGrad()
              near 1e-12 [| 1.0; 0.0; 0.0 |] (x.Softmax 1) "softmax"
              near 1e-12 [| 0.0; -1000.0; -2000.0 |] (x.LogSoftmax 1) "log_softmax"
              let loss = Tensor.CrossEntropy(x, Tensor.From 1L)
              near 1e-12 [| 1000.0 |] loss "−log p₁"
              loss.Backward()
              near 1e-12 [| 1.0; -1.0; 0.0 |] x.Grad "softmax − onehot"
          } ]

let private fn (f: Tensor -> Tensor) = Func<Tensor, Tensor> f

let functional =
    testList
        "functional"
        [ test "grad of Σx² is 2x and ValueAndGrad returns both" {
              let struct (v, g) =
                  Autograd.ValueAndGrad(fn (fun x -> (x * x).Sum()), f64 [ 1.0; -2.0; 3.0 ])

              near 0.0 [| 14.0 |] v "value"
              near 0.0 [| 2.0; -4.0; 6.0 |] g "gradient"
          }
          test "functional transforms leave leaves' Grad alone" {
              let x = leaf [ 1.0; 2.0 ]
              Autograd.Grad(fn (fun x -> (x * x).Sum()), x) |> ignore
              Expect.isNull x.Grad "no accumulation"
          }
          test "vjp returns f(x) and v ↦ Jᵀv, callable many times" {
              let a = f64s [ 2; 3 ] [ 1.0; 2.0; 3.0; 4.0; 5.0; 6.0 ]

              let struct (y, pb) =
                  Autograd.Vjp(fn (fun x -> Tensor.MatMul(a, x)), f64 [ 1.0; 0.0; -1.0 ])

              near 0.0 [| -2.0; -2.0 |] y "A x"
              near 0.0 [| 1.0; 2.0; 3.0 |] (pb.Invoke(f64 [ 1.0; 0.0 ])) "Aᵀ e₁"
              near 0.0 [| 5.0; 7.0; 9.0 |] (pb.Invoke(f64 [ 1.0; 1.0 ])) "Aᵀ (1, 1)"
          }
          test "the Jacobian of a linear map is its matrix; of sin it is diag(cos x)" {
              let a = f64s [ 2; 3 ] [ 1.0; 2.0; 3.0; 4.0; 5.0; 6.0 ]
              let j = Autograd.Jacobian(fn (fun x -> Tensor.MatMul(a, x)), f64 [ 0.3; 0.1; 0.2 ])
              Expect.equal j.Shape [| 2; 3 |] "shape y ++ x"
              near 0.0 (values a) j "J = A"
              let x = f64 [ 0.1; 0.7 ]
              near 1e-15 [| cos 0.1; 0.0; 0.0; cos 0.7 |] (Autograd.Jacobian(fn (fun x -> x.Sin()), x)) "diag(cos x)"
          }
          test "jvp gives J·t" {
              let x = f64 [ 0.5; -0.25 ]

              let f (x: Tensor) =
                  Tensor.Stack(
                      [| x.Slice(0, 0, 1).Sum() * x.Slice(0, 1, 2).Sum()
                         x.Slice(0, 0, 1).Sum().Exp() |]
                  )

              let struct (y, jt) = Autograd.Jvp(fn f, x, f64 [ 1.0; 2.0 ])
              // J = [[x₁, x₀], [e^x₀, 0]]
              near 1e-15 [| 0.5 * -0.25; exp 0.5 |] y "f(x)"
              near 1e-12 [| -0.25 * 1.0 + 0.5 * 2.0; exp 0.5 |] jt "J t"
          }
          test "grad of grad: d²/dx² sin x = −sin x, d²/dx² x³ = 6x" {
              let x = f64 [ 0.3; 1.1; -2.0 ]

              let d2 =
                  Autograd.Grad(fn (fun x -> Autograd.Grad(fn (fun x -> x.Sin().Sum()), x).Sum()), x)

              near 1e-12 (values x |> Array.map (fun v -> -(sin v))) d2 "−sin"

              let d2c =
                  Autograd.Grad(fn (fun x -> Autograd.Grad(fn (fun x -> (x * x * x).Sum()), x).Sum()), x)

              near 1e-12 (values x |> Array.map ((*) 6.0)) d2c "6x"
          }
          test "Hessian and Hessian-vector product of xᵀAx are A + Aᵀ and (A + Aᵀ)v" {
              let a = f64s [ 2; 2 ] [ 1.0; 2.0; 3.0; 4.0 ]
              let f (x: Tensor) = Tensor.Dot(x, Tensor.MatMul(a, x))
              let x = f64 [ 0.7; -0.2 ]
              near 1e-12 [| 2.0; 5.0; 5.0; 8.0 |] (Autograd.Hessian(fn f, x)) "A + Aᵀ"

              near
                  1e-12
                  [| 2.0 * 1.0 + 5.0 * -1.0; 5.0 * 1.0 + 8.0 * -1.0 |]
                  (Autograd.Hvp(fn f, x, f64 [ 1.0; -1.0 ]))
                  "(A + Aᵀ) v"
          }
          test "grad of a non-scalar function is an error" {
              throwsWith<InvalidOperationException, _>
                  (fun () -> Autograd.Grad(fn (fun x -> x * 2.0), f64 [ 1.0; 2.0 ]))
                  [ "scalar"; "[2]" ]
          }
          test "an input the output ignores gets a zero gradient" {
              let g =
                  Autograd.Grad(fn (fun _ -> Tensor.Scalar(3.0, DType.Float64)), f64 [ 1.0; 2.0 ])

              near 0.0 [| 0.0; 0.0 |] g "zeros"
          } ]

let hardening =
    testList
        "hardening"
        [ test "NoGrad and EnableGrad scopes disposed out of order leave the innermost open one in charge" {
              Expect.isTrue GradMode.IsEnabled "on at the start"
              let off = Autograd.NoGrad()
              let on = Autograd.EnableGrad()
              off.Dispose()
              Expect.isTrue GradMode.IsEnabled "EnableGrad is still open"
              on.Dispose()
              Expect.isTrue GradMode.IsEnabled "none open: on, as before any scope"
              let on2 = Autograd.EnableGrad()
              let off2 = Autograd.NoGrad()
              on2.Dispose()
              Expect.isFalse GradMode.IsEnabled "NoGrad is still open"
              off2.Dispose()
              off2.Dispose()
              Expect.isTrue GradMode.IsEnabled "disposing twice changes nothing"
          }
          test "tensor scopes disposed out of order: the scope still open owns new tensors, a closed one takes none" {
              let outer = Tensor.Scope()
              let inner = Tensor.Scope()
              outer.Dispose()
              let t = Tensor.Ones 300 * 2.0
              inner.Dispose()

              Expect.throwsT<ObjectDisposedException>
                  (fun () -> t.ToArray<float32>() |> ignore)
                  "recycled by the open scope"

              let after = Tensor.Ones 300 * 2.0
              Expect.equal (after.ToArray<float32>().[0]) 2.0f "no scope open: nothing recycles it"
          }
          test "Autograd.Grad of an output that does not depend on the input raises, unless allowUnused" {
              let x = leaf [ 1.0; 2.0 ]
              let other = leaf [ 3.0 ]
              let y = (other * 2.0).Sum()

              throwsWith<InvalidOperationException, _>
                  (fun () -> Autograd.Grad([| y |], [| x |], retainGraph = true))
                  [ "input 0"; "not used"; "allowUnused" ]

              let g = Autograd.Grad([| y |], [| x; other |], allowUnused = true)
              near 0.0 [| 0.0; 0.0 |] g.[0] "zeros when allowed"
              near 0.0 [| 2.0 |] g.[1] "the used one"
          }
          test "Autograd.Grad of an output computed under NoGrad raises" {
              let x = leaf [ 1.0; 2.0 ]

              let y =
                  use _ = Autograd.NoGrad()
                  (x * x).Sum()

              throwsWith<InvalidOperationException, _>
                  (fun () -> Autograd.Grad([| y |], [| x |]))
                  [ "output 0"; "does not require grad" ]
          }
          test "the functional grad of a leaf that requires grad carries no graph unless nested" {
              let x = leaf [ 1.0; 2.0 ]
              let g = Autograd.Grad(fn (fun x -> (x * x * x).Sum()), x)
              Expect.isNull g.GradFn "no grad_fn at the top level"
              Expect.isFalse g.RequiresGrad "needs no grad"
              near 1e-12 [| 3.0; 12.0 |] g "3x²"
              let struct (v, vg) = Autograd.ValueAndGrad(fn (fun x -> (x * x).Sum()), x)
              Expect.isFalse (v.RequiresGrad || vg.RequiresGrad) "value and gradient both plain"
          }
          test "nested over a closure: d/dx [x · d/dy (x·y)] = 2x, 2 at x = 1" {
              let y0 = f64 [ 3.0 ]

              let outer (x: Tensor) =
                  let inner = Autograd.Grad(fn (fun y -> (x * y).Sum()), y0)
                  (x * inner).Sum()

              near 1e-12 [| 2.0 |] (Autograd.Grad(fn outer, f64 [ 1.0 ])) "d/dx x² at 1"
              near 1e-12 [| -3.0 |] (Autograd.Grad(fn outer, f64 [ -1.5 ])) "2x at −1.5"
          }
          test "a pullback made at the top level and called inside a transform is differentiable in v" {
              let a = f64s [ 2; 2 ] [ 1.0; 2.0; 3.0; 4.0 ]

              let struct (_, pb) =
                  Autograd.Vjp(fn (fun x -> Tensor.MatMul(a, x)), f64 [ 1.0; 1.0 ])
              // v ↦ Σ Aᵀv is linear with gradient A·1 = (3, 7)
              let g = Autograd.Grad(fn (fun v -> pb.Invoke(v).Sum()), f64 [ 0.5; -0.5 ])
              near 1e-12 [| 3.0; 7.0 |] g "∇_v Σ Aᵀv = A 1"
          } ]

let tests = testList "autograd" [ imperative; functional; hardening ]
