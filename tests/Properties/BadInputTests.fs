/// Bad input, class by class: every refusal names the op the user called and the operands they
/// passed, no runtime exception escapes raw, PyTorch's semantics hold at the edges (integer
/// division, 0-d tensors, empty axes), and nonsense hyperparameters are refused when given.
module Cotangent.Tests.BadInputTests

open System
open Expecto
open Cotangent
open Cotangent.Nn
open Cotangent.Testing
open Cotangent.Testing.OpCases
open Cotangent.Tests.Check

/// The exceptions a refusal may take: the library's op errors, index errors (PyTorch's
/// IndexError) and state errors (a freed graph, a non-scalar backward). Anything else — a
/// NullReference, an Overflow, a DivideByZero, an IndexOutOfRange from an array — escaped raw.
let private refusal (e: exn) =
    match e with
    | :? OpArgumentException
    | :? IndexOutOfRangeException
    | :? InvalidOperationException -> true
    | _ -> false

/// Runs f; None when it worked, Some the exception when it refused.
let private attempt f =
    try
        f () |> ignore
        None
    with e ->
        Some e

let private registrySweep =
    let mutations: (string * (Tensor -> Tensor)) list =
        [ "int64", (fun x -> x.To DType.Int64)
          "bool", (fun x -> x.Gt 0.0)
          "an extra axis of 3", (fun x -> x.Unsqueeze(0).Expand([| 3; yield! x.Shape |]).Contiguous()) ]

    testList
        "every registered op"
        [ for op in OpRegistry.All do
              match Map.tryFind op.Name byName with
              | None -> ()
              | Some c ->
                  test op.Name {
                      let r = Random 17

                      for _ in 1..4 do
                          let s = c.Build r

                          for what, mutate in mutations do
                              // input i alone, or all of them (i = -1)
                              for i in -1 .. s.Inputs.Length - 1 do
                                  let inputs =
                                      s.Inputs |> List.mapi (fun j x -> if i = j || i = -1 then mutate x else x)

                                  match attempt (fun () -> s.Apply inputs) with
                                  | None -> ()
                                  | Some e when not (refusal e) ->
                                      failtestf
                                          "%s with input %d as %s threw a raw %s: %s\n%O"
                                          op.Name
                                          i
                                          what
                                          (e.GetType().Name)
                                          e.Message
                                          s
                                  | Some e ->
                                      // a composite is built on other ops: its refusals must still name it
                                      match e with
                                      | :? OpArgumentException as oe when op.Kind = OpKind.Composite ->
                                          if oe.Op <> op.Name || not (e.Message.StartsWith(op.Name + ":")) then
                                              failtestf
                                                  "%s with input %d as %s: the error names '%s', not the op called: %s"
                                                  op.Name
                                                  i
                                                  what
                                                  oe.Op
                                                  e.Message
                                      | _ -> ()
                  } ]

let private namesTheOp =
    let int23 = Tensor.Zeros([| 2; 3 |], DType.Int64)
    let f23 = Tensor.Zeros(2, 3)

    testList
        "errors name the op the user called, with the user's operands"
        [ test "mse_loss of int64 names mse_loss, not mean" {
              throwsWith<DTypeMismatchException, _> (fun () -> Tensor.MseLoss(int23, int23)) [ "mse_loss:"; "int64" ]
          }
          test "layer_norm of int64 names layer_norm" {
              throwsWith<DTypeMismatchException, _> (fun () -> Tensor.LayerNorm(int23, 1)) [ "layer_norm:"; "int64" ]
              throwsWith<DTypeMismatchException, _> (fun () -> LayerNorm([| 3 |]).Forward int23) [ "layer_norm:" ]
          }
          test "split with a bad axis names split, not size" {
              throwsWith<AxisOutOfRangeException, _> (fun () -> f23.Split(1, 5)) [ "split:"; "axis 5" ]
              throwsWith<AxisOutOfRangeException, _> (fun () -> f23.Split([| 1; 1 |], -3)) [ "split:"; "axis -3" ]
          }
          test "dropout of int64 names dropout, not rand" {
              throwsWith<DTypeMismatchException, _> (fun () -> int23.Dropout 0.5) [ "dropout:"; "int64" ]
          }
          test "matmul with batch axes that do not broadcast names both full shapes" {
              throwsWith<ShapeMismatchException, _>
                  (fun () -> Tensor.MatMul(Tensor.Zeros(2, 3, 4), Tensor.Zeros(3, 4, 5)))
                  [ "matmul:"; "[2, 3, 4]"; "[3, 4, 5]"; "[2]"; "[3]" ]
          }
          test "shapes too large for one buffer name the op" {
              throwsWith<OpArgumentException, _> (fun () -> Tensor.Zeros(100000, 100000)) [ "zeros:"; "10,000,000,000" ]
              throwsWith<OpArgumentException, _> (fun () -> Tensor.Ones(100000, 100000)) [ "ones:" ]
              throwsWith<OpArgumentException, _> (fun () -> Tensor.Rand(100000, 100000)) [ "rand:" ]
              throwsWith<OpArgumentException, _> (fun () -> Tensor.Eye(100000)) [ "eye:" ]

              throwsWith<OpArgumentException, _>
                  (fun () -> Tensor.Zeros(1, 1).Expand(100000, 100000).Sum())
                  [ "expand:"; "[100000, 100000]" ]

              throwsWith<ShapeMismatchException, _>
                  (fun () -> Tensor.Zeros(4).Reshape(100000, 100000, 0, -1))
                  [ "reshape:" ]

              throwsWith<ShapeMismatchException, _>
                  (fun () -> Tensor.Zeros(4).Reshape(65536, 65536))
                  [ "reshape:"; "[4]" ]
          }
          test "an inner op's refusal carries the user's operands" {
              let e =
                  Expect.throwsC (fun () -> Tensor.MseLoss(int23, int23) |> ignore) id :?> OpArgumentException

              Expect.equal e.Op "mse_loss" "the op the user called"
          }
          test "embedding with float indices names embedding" {
              throwsWith<DTypeMismatchException, _>
                  (fun () -> Embedding(4, 2).Forward(Tensor.Zeros 3))
                  [ "embedding:"; "float32" ]
          } ]

let private noRawExceptions =
    testList
        "no raw runtime exception escapes"
        [ test "int64 division by zero: true division gives inf, floor division refuses" {
              let q = Tensor.From(1L, -1L, 0L) / Tensor.From(0L, 0L, 0L)
              Expect.equal q.DType DType.Float32 "true division"
              let v = q.ToArray<float32>()

              Expect.isTrue
                  (Single.IsPositiveInfinity v.[0]
                   && Single.IsNegativeInfinity v.[1]
                   && Single.IsNaN v.[2])
                  "±inf, NaN"

              throwsWith<OpArgumentException, _>
                  (fun () -> Tensor.FloorDivide(Tensor.From(1L, 2L), Tensor.From(1L, 0L)))
                  [ "floor_divide:"; "division by zero" ]
          }
          test "StepLr(stepSize: 0) and CosineAnnealingLr(tMax: 0) are refused when made" {
              let opt = Sgd(Linear(2, 1).Parameters(), 0.1)
              throwsWith<ArgumentOutOfRangeException, _> (fun () -> StepLr(opt, 0)) [ "step_lr"; "step size" ]
              throwsWith<ArgumentOutOfRangeException, _> (fun () -> CosineAnnealingLr(opt, 0)) [ "T_max" ]
          }
          test "fold and unfold with a kernel of size 0" {
              let x = Tensor.Zeros(1, 1, 4, 4)
              throwsWith<OpArgumentException, _> (fun () -> x.Unfold(0, 2)) [ "unfold:"; "kernel" ]

              throwsWith<OpArgumentException, _>
                  (fun () -> Tensor.Zeros(1, 4, 9).Fold(4, 4, 0, 0))
                  [ "fold:"; "kernel" ]

              throwsWith<OpArgumentException, _>
                  (fun () -> Tensor.Zeros(1, 4, 9).Fold(4, 4, 2, 2, stride = 0))
                  [ "fold:" ]
          }
          test "slice arithmetic near int.MaxValue does not overflow" {
              let x = Tensor.Arange 5
              Expect.equal (x.Slice(0, 0, 3, step = Int32.MaxValue).Shape) [| 1 |] "one element"
              Expect.equal (x.Slice(0, 0, 3, step = Int32.MaxValue).ToArray<float32>()) [| 0.0f |] "the first"
              Expect.equal (x.Slice(0, Int32.MinValue, Int32.MaxValue).Shape) [| 5 |] "clamped"

              Expect.equal
                  (x.Slice(0, -Int32.MaxValue, Int32.MaxValue, Int32.MaxValue).Shape)
                  [| 1 |]
                  "clamped, one step"

              let g =
                  Autograd.Grad((fun (t: Tensor) -> t.Slice(0, 1, 5, step = Int32.MaxValue).Sum()), x)

              Expect.equal (g.ToArray<float32>()) [| 0.0f; 1.0f; 0.0f; 0.0f; 0.0f |] "its gradient"
          }
          test "joining more than one buffer can hold is refused by cat" {
              let big = Tensor.Zeros(1, 1).Expand(1, 1100000000)
              throwsWith<OpArgumentException, _> (fun () -> Tensor.Cat([| big; big |], 1)) [ "cat:" ]
          }
          test "ops on 0-d tensors: reductions over axis 0 and -1 work, axes that must exist are refused" {
              let s = Tensor.Scalar 3.0
              Expect.equal (s.Sum(0).Item<float>()) 3.0 "sum over axis 0 of a scalar is the scalar"
              Expect.equal (s.Sum(-1, keepDim = true).Shape) [||] "still 0-d"
              Expect.equal (s.Mean(0).Item<float>()) 3.0 "mean"
              Expect.equal (s.Max(-1).Item<float>()) 3.0 "max"
              Expect.equal (s.Transpose(0, -1).Item<float>()) 3.0 "transpose"
              Expect.equal (s.Softmax(0).Item<float>()) 1.0 "softmax"
              Expect.equal (s.LogSumExp(0).Item<float>()) 3.0 "logsumexp"
              throwsWith<AxisOutOfRangeException, _> (fun () -> s.Size 0) [ "size:"; "0-d" ]
              throwsWith<AxisOutOfRangeException, _> (fun () -> s.Select(0, 0)) [ "select:" ]
              throwsWith<AxisOutOfRangeException, _> (fun () -> s.Split(1, 0)) [ "split:" ]
              throwsWith<AxisOutOfRangeException, _> (fun () -> s.Softmax 1) [ "log_softmax"; "axis 1" ]
              throwsWith<AxisOutOfRangeException, _> (fun () -> s.IndexSelect(0, Tensor.From 0L)) [ "index_select:" ]

              throwsWith<AxisOutOfRangeException, _>
                  (fun () -> s.Gather(0, Tensor.Scalar(0.0, DType.Int64)))
                  [ "gather:" ]

              throwsWith<ShapeMismatchException, _> (fun () -> Flatten().Forward s) [ "flatten:" ]
          }
          test "null arguments get the op's error, not a NullReferenceException" {
              throwsWith<OpArgumentException, _> (fun () -> Tensor.Zeros(null: int[])) [ "zeros:"; "null" ]
              throwsWith<OpArgumentException, _> (fun () -> Tensor.Zeros(2).Reshape(null: int[])) [ "reshape:"; "null" ]
              throwsWith<OpArgumentException, _> (fun () -> Tensor.Cat(null)) [ "cat:" ]

              throwsWith<OpArgumentException, _>
                  (fun () -> Tensor.FromArray((null: float[]), [| 2 |]))
                  [ "from_array:" ]
          }
          test "random shape, axis, step and index arguments either work or are refused by name" {
              let r = Random 23
              let pick (xs: int[]) = xs.[r.Next xs.Length]

              // axes, indices, starts and steps reach the int range's ends; sizes of new buffers
              // stay small (a legitimate request for gigabytes is not bad input, only slow)
              let edge =
                  [| 0
                     1
                     2
                     -1
                     -2
                     3
                     7
                     -7
                     Int32.MaxValue
                     Int32.MinValue
                     Int32.MaxValue / 2 + 1 |]

              let size = [| 0; 1; 2; 3; -1; -2; 7 |]
              // shapes whose products are either refused (over 2³¹) or small enough to allocate
              let huge = [| Int32.MaxValue; 65536; 100000; 0; 1; 7 |]

              for _ in 1..3000 do
                  let shape = Array.init (r.Next 4) (fun _ -> r.Next 4)
                  let x = Tensor.Rand(shape, DType.Float64, Generator(uint64 (r.Next())))
                  let a, b, c = pick edge, pick edge, pick edge

                  let calls: (unit -> obj) list =
                      [ (fun () -> x.Slice(a, b, c, pick [| 1; 2; Int32.MaxValue; 0; -1 |]))
                        (fun () -> x.Reshape(Array.init (r.Next 4) (fun _ -> pick edge)))
                        (fun () -> x.Expand(Array.init (r.Next 5) (fun _ -> pick edge)))
                        (fun () -> x.Sum([| a |], keepDim = (b > 0)))
                        (fun () -> x.Permute(Array.init x.Rank (fun _ -> pick edge)))
                        (fun () -> x.Transpose(a, b))
                        (fun () -> x.Unsqueeze a)
                        (fun () -> x.Squeeze a)
                        (fun () -> x.Select(a, b))
                        (fun () -> x.Split(a, b))
                        (fun () -> x.Split([| a; b |], c))
                        (fun () -> x.LogSoftmax a)
                        (fun () -> x.LogSumExp([| a |]))
                        (fun () -> x.Max([| a |]))
                        (fun () -> x.IndexSelect(a, Tensor.From(int64 b)))
                        (fun () -> x.Gather(a, Tensor.FromArray(Array.create (max 0 x.Numel) (int64 b), x.Shape)))
                        (fun () -> Tensor.SliceScatter(x, Array.init (r.Next 4) (fun _ -> pick size), a, b, c))
                        (fun () ->
                            Tensor.IndexAdd(Array.init (r.Next 4) (fun _ -> pick size), a, Tensor.From(int64 b), x))
                        (fun () -> x.SumTo(Array.init (r.Next 4) (fun _ -> pick edge)))
                        (fun () -> Tensor.Zeros(Array.init (r.Next 4) (fun _ -> pick huge)))
                        (fun () -> Tensor.Zeros(Array.init (r.Next 4) (fun _ -> pick size)))
                        (fun () -> Tensor.Arange(float (pick size), float (pick size), float c))
                        (fun () -> Tensor.Linspace(float a, float b, pick size))
                        (fun () -> Tensor.Eye(pick size, Nullable(pick size)))
                        (fun () -> Tensor.Cat([| x; x |], a))
                        (fun () -> Tensor.Stack([| x; x |], a))
                        (fun () -> x.Reshape(1, 1, -1).Unfold(a, b, c, pick [| 0; 1; -1 |]))
                        (fun () -> x.Reshape(1, 1, 1, -1).Unfold(a, b, c, pick [| 0; 1; -1 |]))
                        (fun () -> x.Reshape(1, -1, 1).Fold(pick size, pick size, a, b, c, pick [| 0; 1; -1 |]))
                        (fun () -> x.Reshape(1, 1, 1, -1).MaxPool2d(a, Nullable c)) ]

                  calls
                  |> List.iteri (fun k call ->
                      match attempt call with
                      | Some e when not (refusal e) ->
                          failtestf
                              "call %d: %s on shape %A with (%d, %d, %d): %s"
                              k
                              (e.GetType().Name)
                              shape
                              a
                              b
                              c
                              e.Message
                      | _ -> ())
          } ]

let private pytorchSemantics =
    testList
        "semantics a PyTorch user relies on"
        [ test "int64 / int64 true-divides to float32; floor_divide rounds towards −∞ in int64" {
              let q = Tensor.From(1L) / Tensor.From(2L)
              Expect.equal q.DType DType.Float32 "float32, as torch's default dtype"
              Expect.equal (q.Item<float>()) 0.5 "1 / 2"
              Expect.equal ((Tensor.From(7L, -7L) / 2.0).ToArray<float32>()) [| 3.5f; -3.5f |] "by a C# number"

              let f =
                  Tensor.FloorDivide(Tensor.From(7L, -7L, 7L, -7L), Tensor.From(2L, 2L, -2L, -2L))

              Expect.equal f.DType DType.Int64 "stays int64"
              Expect.equal (f.ToArray<int64>()) [| 3L; -4L; -4L; 3L |] "Python's //"
              Expect.equal ((Tensor.FloorDivide(Tensor.From(-7.5), 2.0)).ToArray<float>()) [| -4.0 |] "floats too"
          }
          test "log-sum-exp over an empty axis is −∞; sum is 0" {
              let e = Tensor.Zeros(0, 3)
              Expect.equal (e.LogSumExp(0).ToArray<float32>()) [| -infinityf; -infinityf; -infinityf |] "−∞"
              Expect.equal (e.Sum(0).ToArray<float32>()) [| 0.0f; 0.0f; 0.0f |] "0"
              Expect.equal (e.LogSumExp(1).Shape) [| 0 |] "nothing to reduce into"
          }
          test "Linear(0, n) and Conv2d with no input channels output their zero bias, not NaN" {
              let l = Linear(0, 3)
              Expect.equal (values l.Bias.Value) [| 0.0; 0.0; 0.0 |] "bias 0 (PyTorch's bound is 0 for fan-in 0)"
              Expect.equal (values (l.Forward(Tensor.Zeros(2, 0)))) (Array.zeroCreate 6) "x·Wᵀ + b = 0"
              let c = Conv2d(0, 2, 1)
              Expect.isFalse (values c.Bias.Value |> Array.exists Double.IsNaN) "no NaN"
          }
          test "a layer shared by two places of a Sequential is listed and stepped once" {
              let shared = Linear(2, 2, generator = Generator 5UL)
              let net = Sequential(shared, ReLU(), shared)

              Expect.equal
                  (net.NamedParameters() |> Seq.map (fun struct (n, _) -> n) |> List.ofSeq)
                  [ "0.weight"; "0.bias" ]
                  "first names only"

              let before = values shared.Weight.Value
              let opt = Sgd(net.Parameters(), 0.5)
              let x = Tensor.Ones(1, 2)
              net.Forward(x).Sum().Backward()
              let g = values shared.Weight.Grad
              opt.Step()
              near 1e-6 (Array.map2 (fun w gw -> w - 0.5 * gw) before g) shared.Weight.Value "one step of lr·g"

              throwsWith<ArgumentException, _>
                  (fun () -> Sgd([ shared.Weight; shared.Weight ], 0.1))
                  [ "same parameter" ]
          } ]

let private hyperparameters =
    let ps () = Linear(2, 1).Parameters()

    testList
        "nonsense hyperparameters are refused when given"
        [ test "learning rates: NaN, infinite, negative; also when set later" {
              for lr in [ nan; infinity; -1.0 ] do
                  throwsWith<ArgumentOutOfRangeException, _> (fun () -> Sgd(ps (), lr)) [ "learning rate" ]
                  throwsWith<ArgumentOutOfRangeException, _> (fun () -> Adam(ps (), lr)) [ "learning rate" ]

              let opt = Sgd(ps (), 0.1)
              throwsWith<ArgumentOutOfRangeException, _> (fun () -> opt.LearningRate <- nan) [ "learning rate" ]
              Expect.equal opt.LearningRate 0.1 "unchanged"
          }
          test "momentum, weight decay, betas and eps" {
              throwsWith<ArgumentOutOfRangeException, _> (fun () -> Sgd(ps (), 0.1, momentum = nan)) [ "momentum" ]

              throwsWith<ArgumentOutOfRangeException, _>
                  (fun () -> Sgd(ps (), 0.1, weightDecay = -1.0))
                  [ "weight decay" ]

              throwsWith<ArgumentOutOfRangeException, _> (fun () -> Adam(ps (), beta1 = nan)) [ "betas" ]
              throwsWith<ArgumentOutOfRangeException, _> (fun () -> AdamW(ps (), beta2 = 1.0)) [ "betas" ]
              throwsWith<ArgumentOutOfRangeException, _> (fun () -> Adam(ps (), eps = nan)) [ "eps" ]
          }
          test "label smoothing, dropout p, layer-norm eps, clip norm" {
              let logits = Tensor.Zeros(2, 3)
              let labels = Tensor.From(0L, 1L)

              throwsWith<OpArgumentException, _>
                  (fun () -> Tensor.CrossEntropy(logits, labels, labelSmoothing = nan))
                  [ "cross_entropy:"; "label smoothing" ]

              throwsWith<OpArgumentException, _> (fun () -> logits.Dropout nan) [ "dropout:"; "NaN" ]

              throwsWith<OpArgumentException, _>
                  (fun () -> Tensor.LayerNorm(logits, 1, eps = nan))
                  [ "layer_norm:"; "eps" ]

              throwsWith<ArgumentOutOfRangeException, _>
                  (fun () -> GradClip.ClipGradNorm(ps (), nan))
                  [ "maximum norm" ]
          }
          test "schedules: step sizes, T_max, gamma, the minimum rate" {
              let opt = Sgd(ps (), 0.1)
              throwsWith<ArgumentOutOfRangeException, _> (fun () -> StepLr(opt, -3)) [ "step size" ]
              throwsWith<ArgumentOutOfRangeException, _> (fun () -> StepLr(opt, 2, gamma = nan)) [ "gamma" ]

              throwsWith<ArgumentOutOfRangeException, _>
                  (fun () -> CosineAnnealingLr(opt, 10, etaMin = nan))
                  [ "minimum rate" ]
          }
          test "ranges: arange and linspace with NaN or infinite bounds" {
              throwsWith<OpArgumentException, _> (fun () -> Tensor.Arange(0.0, nan)) [ "arange:"; "finite" ]
              throwsWith<OpArgumentException, _> (fun () -> Tensor.Arange(0.0, infinity)) [ "arange:" ]
              throwsWith<OpArgumentException, _> (fun () -> Tensor.Arange(0.0, 1.0, nan)) [ "arange:" ]
              throwsWith<OpArgumentException, _> (fun () -> Tensor.Linspace(nan, 1.0, 3)) [ "linspace:" ]
          }
          test "layers: negative sizes" {
              throwsWith<OpArgumentException, _> (fun () -> Linear(-1, 2)) [ "linear:" ]
              throwsWith<OpArgumentException, _> (fun () -> Conv2d(1, 1, 0)) [ "conv2d:" ]
              throwsWith<OpArgumentException, _> (fun () -> Embedding(-2, 3)) [ "embedding:" ]
              throwsWith<OpArgumentException, _> (fun () -> LayerNorm([| 0 |])) [ "layer_norm:" ]
          } ]

/// SGD with a running sum of gradients as state, whose update can be made to fail at one parameter.
type private FailingSgd(ps: Parameter list) =
    inherit Optimizer(ps, 0.1)
    let sums: Tensor[] = Array.zeroCreate ps.Length
    member val FailAt = -1 with get, set

    override this.Update(i, p, g) =
        sums.[i] <- (if isNull sums.[i] then g else sums.[i] + g)

        if i = this.FailAt then
            invalidOp "update failed on purpose"

        p - g * 0.1

    override _.Buffers() = seq { struct ("sum", sums) }

let private silentWrongAnswers =
    testList
        "no silent wrong answer"
        [ test "a C# number beside an int64 or bool tensor never wraps: beyond int64 it promotes to float32" {
              let big = Tensor.From(1L, 2L, 3L) + 1e19
              Expect.equal big.DType DType.Float32 "float32, not a wrapped int64"

              Expect.equal
                  (big.ToArray<float>() |> Array.map (fun v -> Math.Round(v / 1e19, 6)))
                  [| 1.0; 1.0; 1.0 |]
                  "1e19 + small"

              Expect.isFalse (Tensor.From(Int64.MaxValue).Eq(1e30).Item<bool>()) "no saturated equality"
              Expect.equal ((Tensor.From(true) + 1e30).DType) DType.Float32 "bool + 1e30"
              Expect.equal ((Tensor.From(2L) * 3.0).DType) DType.Int64 "a whole number keeps int64"
              throwsWith<OpArgumentException, _> (fun () -> Tensor.Full([| 2 |], nan, DType.Int64)) [ "full:"; "int64" ]
              throwsWith<OpArgumentException, _> (fun () -> Tensor.Full([| 2 |], 2.5, DType.Int64)) [ "full:" ]
          }
          test "a dtype that is not one of the four is refused, not read as bool" {
              let bad = enum<DType> 7
              throwsWith<DTypeMismatchException, _> (fun () -> Tensor.Zeros([| 2 |], bad)) [ "zeros:"; "not a dtype" ]
              throwsWith<DTypeMismatchException, _> (fun () -> Tensor.Zeros(2).To(bad)) [ "cast:" ]
              throwsWith<DTypeMismatchException, _> (fun () -> Tensor.Arange(0.0, 3.0, 1.0, bad)) [ "arange:" ]
          }
          test "prod's derivatives at zeros, to any order: jvp, createGraph, Hessian" {
              let x = f64 [ 0.0; 2.0; 3.0 ]
              let prod = Func<Tensor, Tensor>(fun x -> x.Prod())
              let struct (_, t0) = Autograd.Jvp(prod, x, f64 [ 1.0; 0.0; 0.0 ])
              Expect.equal (t0.Item<float>()) 6.0 "∂/∂x₀ = x₁x₂"
              let struct (_, t1) = Autograd.Jvp(prod, x, f64 [ 0.0; 1.0; 0.0 ])
              Expect.equal (t1.Item<float>()) 0.0 "∂/∂x₁ = x₀x₂ = 0"
              let l = x.Detach().RequireGrad()
              l.Prod().Backward(createGraph = true)
              near 0.0 [| 6.0; 0.0; 0.0 |] l.Grad "the first derivative, recorded"
              // H_ij = ∏_{k ≠ i, j} x_k off the diagonal, 0 on it
              near 0.0 [| 0.0; 3.0; 2.0; 3.0; 0.0; 0.0; 2.0; 0.0; 0.0 |] (Autograd.Hessian(prod, x)) "the Hessian"
              let twoZeros = f64 [ 0.0; 0.0; 5.0 ]
              near 0.0 [| 0.0; 5.0; 0.0; 5.0; 0.0; 0.0; 0.0; 0.0; 0.0 |] (Autograd.Hessian(prod, twoZeros)) "two zeros"
          }
          test "pow's gradients at a zero base are PyTorch's, not NaN" {
              let g =
                  Autograd.Grad(Func<_, _>(fun (e: Tensor) -> (f64 [ 0.0; 2.0 ]).Pow(e).Sum()), f64 [ 2.0; 1.0 ])

              near 1e-12 [| 0.0; log 2.0 * 2.0 |] g "∂/∂b aᵇ = 0 where a = 0, b ≥ 0"

              let gb =
                  Autograd.Grad(Func<_, _>(fun (a: Tensor) -> a.Pow(f64 [ 0.0; 0.0 ]).Sum()), f64 [ 0.0; 3.0 ])

              near 0.0 [| 0.0; 0.0 |] gb "∂/∂a a⁰ = 0, also at a = 0"
          }
          test "max, min, maximum and minimum give a NaN its cotangent, as they give it the value" {
              let x = f64 [ nan; 1.0 ]
              near 0.0 [| 1.0; 0.0 |] (Autograd.Grad(Func<_, _>(fun (x: Tensor) -> x.Max()), x)) "max"
              near 0.0 [| 1.0; 0.0 |] (Autograd.Grad(Func<_, _>(fun (x: Tensor) -> x.Min()), x)) "min"

              let g =
                  Autograd.Grad(Func<_, _>(fun (a: Tensor) -> Tensor.Maximum(a, f64 [ 0.0; 0.0 ]).Sum()), x)

              near 0.0 [| 1.0; 1.0 |] g "maximum: the NaN side, then the larger"
          }
          test "seeds and set gradients take the parameter's dtype; an int or bool one is refused" {
              let x = (Tensor.From(1.0f, 2.0f)).RequireGrad()

              throwsWith<DTypeMismatchException, _>
                  (fun () -> (x * 2.0).Backward(Tensor.From(1L, 1L)))
                  [ "backward:"; "int64" ]

              throwsWith<DTypeMismatchException, _>
                  (fun () -> x.Backward(Tensor.From(true, true)))
                  [ "backward:"; "bool" ]

              (x * 2.0).Backward(Tensor.From(1.0, 1.0))
              Expect.equal x.Grad.DType DType.Float32 "a float64 seed is cast to the output's float32"
              let p = Parameter(Tensor.Zeros 2)

              throwsWith<ShapeMismatchException, _>
                  (fun () -> p.SetGrad(Tensor.Zeros([| 2 |], DType.Float64)))
                  [ "set_grad:"; "float64" ]
          }
          test "an optimizer step that fails changes nothing: parameters, state, step count" {
              let a, b = Parameter(Tensor.Ones 2), Parameter(Tensor.Ones 2)
              let opt = FailingSgd([ a; b ])
              a.SetGrad(Tensor.Ones 2)
              b.SetGrad(Tensor.Ones 2)
              opt.Step()

              let snapshot () =
                  values a.Value,
                  values b.Value,
                  opt.StepCount,
                  [ for kv in opt.StateDict() -> kv.Key, values kv.Value ]

              let before = snapshot ()
              // the update of the second parameter fails after the first one's was computed
              opt.FailAt <- 1
              Expect.throwsT<InvalidOperationException> (fun () -> opt.Step()) "the failure surfaces"
              Expect.equal (snapshot ()) before "parameters, state and step count as before"
              opt.FailAt <- -1
              opt.Step()
              Expect.equal opt.StepCount 2L "and the next step counts from there"
          }
          test
              "optimizer state keys must be spelled as StateDict writes them; buffers come together; the step cannot overflow" {
              let p = Parameter(Tensor.Ones 2)
              let opt = Adam([ p ], 0.1)
              p.SetGrad(Tensor.Ones 2)
              opt.Step()
              let st = opt.StateDict()

              let withKeys (rename: string -> string) =
                  readOnlyDict [ for kv in st -> rename kv.Key, kv.Value ]

              for odd in [ "+0.exp_avg"; " 0.exp_avg"; "00.exp_avg" ] do
                  throwsWith<StateDictMismatchException, _>
                      (fun () -> opt.LoadStateDict(withKeys (fun k -> if k = "0.exp_avg" then odd else k)))
                      [ "unexpected"; odd ]

              let partial =
                  readOnlyDict
                      [ for kv in st do
                            if kv.Key <> "0.exp_avg_sq" then
                                kv.Key, kv.Value ]

              throwsWith<StateDictMismatchException, _>
                  (fun () -> opt.LoadStateDict partial)
                  [ "parameter 0 has exp_avg but not exp_avg_sq" ]

              let atMax =
                  readOnlyDict
                      [ for kv in st ->
                            kv.Key,
                            (if kv.Key = "step" then
                                 Tensor.From(Int64.MaxValue)
                             else
                                 kv.Value) ]

              throwsWith<StateDictMismatchException, _> (fun () -> opt.LoadStateDict atMax) [ "'step'" ]
          }
          test "layer_norm's gamma and beta must have the normalised shape" {
              let x = Tensor.Zeros(2, 3)

              throwsWith<ShapeMismatchException, _>
                  (fun () -> Tensor.LayerNorm(x, 1, Tensor.Ones(5, 2, 3)))
                  [ "layer_norm:"; "gamma"; "[5, 2, 3]"; "[3]" ]

              throwsWith<ShapeMismatchException, _>
                  (fun () -> Tensor.LayerNorm(x, 1, beta = Tensor.Zeros(7, 1, 1)))
                  [ "beta" ]

              throwsWith<ShapeMismatchException, _> (fun () -> Tensor.LayerNorm(x, 1, Tensor.Ones 1)) [ "gamma"; "[1]" ]
          }
          test "DataLoader counts batches without overflow; Init.Uniform's bound never overflows" {
              let dl = DataLoader(Tensor.Zeros(5, 2), Tensor.Zeros 5, Int32.MaxValue)
              Expect.equal dl.Count 1 "one batch"
              Expect.equal (Seq.length dl) 1 "and one is yielded"
              let u = Init.Uniform([| 1000 |], 1e308, DType.Float64)

              Expect.isTrue
                  (values u |> Array.forall (fun v -> Double.IsFinite v && abs v <= 1e308))
                  "finite, within the bound"

              throwsWith<OpArgumentException, _> (fun () -> Init.Uniform([| 2 |], 1e308)) [ "float32" ]
          }
          test "a recycled tensor is refused where it would be stored, not at its first use" {
              let dead =
                  use _ = Tensor.Scope()
                  Tensor.Ones 300 * 2.0

              Expect.throwsT<ObjectDisposedException> (fun () -> Parameter(dead) |> ignore) "parameter"
              Expect.throwsT<ObjectDisposedException> (fun () -> DataLoader(dead, dead, 2) |> ignore) "data loader"
              let l = Linear(300, 1)
              let state = readOnlyDict [ "weight", dead.Reshape(1, 300); "bias", Tensor.Zeros 1 ]
              throwsWith<StateDictMismatchException, _> (fun () -> l.LoadStateDict state) [ "recycled" ]
          }
          test "layers check their settings when made: pooling kernels, dropout p" {
              throwsWith<OpArgumentException, _> (fun () -> MaxPool2d(0) |> ignore) [ "max_pool2d:" ]
              throwsWith<OpArgumentException, _> (fun () -> AvgPool2d(-3) |> ignore) [ "avg_pool2d:" ]
              throwsWith<OpArgumentException, _> (fun () -> Dropout(2.0) |> ignore) [ "dropout:" ]
              throwsWith<OpArgumentException, _> (fun () -> Dropout(nan) |> ignore) [ "dropout:" ]
          }
          test "edge sizes PyTorch allows: conv2d with no output channels, dropout p = 1, splitting an empty axis" {
              let y = Conv2d(1, 0, 2).Forward(Tensor.Zeros(1, 1, 4, 4))
              Expect.equal y.Shape [| 1; 0; 3; 3 |] "no channels out"
              let x = (Tensor.Ones 4).RequireGrad()
              let d = x.Dropout 1.0
              Expect.equal (d.ToArray<float32>()) [| 0.0f; 0.0f; 0.0f; 0.0f |] "all dropped"
              d.Sum().Backward()
              Expect.equal (x.Grad.ToArray<float32>()) [| 0.0f; 0.0f; 0.0f; 0.0f |] "and no gradient"
              Expect.equal (Tensor.Zeros(0).Split(2) |> Array.map (fun t -> t.Shape)) [| [| 0 |] |] "one empty piece"
          }
          test "a schedule that would make a bad rate refuses and stays at its epoch" {
              let opt = Sgd(Linear(2, 1).Parameters(), 0.1)
              let s = StepLr(opt, 1, gamma = 1e200)
              s.Step()
              throwsWith<InvalidOperationException, _> (fun () -> s.Step()) [ "steplr"; "epoch 2" ]
              Expect.equal s.Epoch 1 "still epoch 1"
              Expect.equal opt.LearningRate (0.1 * 1e200) "the last good rate"
          }
          test "empty tensors with huge axes print and reduce without allocating gigabytes" {
              let e = Tensor.Zeros(Int32.MaxValue, 0)
              Expect.stringContains (string e) "tensor([], shape=[2147483647, 0]" "printed"
              throwsWith<OpArgumentException, _> (fun () -> e.Sum 1) [ "sum:"; "more than one buffer" ]
          } ]

let private nullArguments =
    let x = Tensor.Ones 3
    let nul: Tensor = null

    let calls: (string * (unit -> obj)) list =
        [ "add", (fun () -> box (Tensor.Add(nul, x)))
          "mul", (fun () -> box (nul * 2.0))
          "div", (fun () -> box (Tensor.Div(nul, x)))
          "maximum", (fun () -> box (Tensor.Maximum(x, nul)))
          "where", (fun () -> box (Tensor.Where(nul, x, x)))
          "matmul", (fun () -> box (Tensor.MatMul(x, nul)))
          "linear", (fun () -> box (Tensor.Linear(nul, Tensor.Ones(2, 3))))
          "conv2d", (fun () -> box (Tensor.Conv2d(Tensor.Ones(1, 1, 3, 3), nul)))
          "cross_entropy", (fun () -> box (Tensor.CrossEntropy(nul, Tensor.From 0L)))
          "mse_loss", (fun () -> box (Tensor.MseLoss(x, nul)))
          "layer_norm", (fun () -> box (Tensor.LayerNorm(nul, 1)))
          "index_select", (fun () -> box (x.IndexSelect(0, nul)))
          "slice_scatter", (fun () -> box (Tensor.SliceScatter(nul, [| 3 |], 0, 0)))
          "zeros_like", (fun () -> box (Tensor.ZerosLike nul))
          "from_array", (fun () -> box (Tensor.From(null: float[])))
          "grad", (fun () -> box (Autograd.Grad(Func<_, _>(fun (t: Tensor) -> t.Sum()), nul)))
          "jvp", (fun () -> box (Autograd.Jvp(Func<_, _>(fun (t: Tensor) -> t), x, nul)))
          "hvp", (fun () -> box (Autograd.Hvp(Func<_, _>(fun (t: Tensor) -> t.Sum()), x, nul)))
          "parameter", (fun () -> box (Parameter(nul)))
          "load_state_dict", (fun () -> box (Linear(2, 1).LoadStateDict(null)))
          "optimizer", (fun () -> box (Sgd(null, 0.1)))
          "data_loader", (fun () -> box (DataLoader(nul, x, 2)))
          "clip_grad_norm", (fun () -> box (GradClip.ClipGradNorm(null, 1.0)))
          "linear", (fun () -> box (Linear(3, 1).Forward nul))
          "relu", (fun () -> box (ReLU().Forward nul))
          "checkpoint", (fun () -> box (Cotangent.Io.Checkpoint.Save("/tmp/x.safetensors", null))) ]

    testList
        "null arguments"
        [ test "each is refused by the call that got it, never a NullReferenceException" {
              for name, call in calls do
                  match attempt call with
                  | None -> failtestf "%s accepted a null" name
                  | Some(:? NullReferenceException as e) ->
                      failtestf "%s: a raw NullReferenceException\n%s" name e.StackTrace
                  | Some e when not (e :? ArgumentException) -> failtestf "%s: %s: %s" name (e.GetType().Name) e.Message
                  | Some e -> Expect.stringContains e.Message (name + ":") (sprintf "%s names itself" name)
          } ]

let tests =
    testList
        "bad input"
        [ registrySweep
          namesTheOp
          noRawExceptions
          pytorchSemantics
          hyperparameters
          silentWrongAnswers
          nullArguments ]
