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
          test "an empty batch whose windows would make columns longer than an int can index" {
              // no element to compute, but C·kh·kw = 2³² rows would wrap in int arithmetic
              let x = Tensor.Zeros(0, 65536, 1, 1)

              throwsWith<ShapeMismatchException, _>
                  (fun () -> x.Unfold(256, 256, padding = 128))
                  [ "unfold:"; "65536 channels" ]
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
              throwsWith<AxisOutOfRangeException, _> (fun () -> s.Softmax 1) [ "softmax: axis 1" ]
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
              // Python: 1.0 // 0.1 == 9.0 (0.1 is a little over a tenth, so the exact quotient is a
              // little under 10), where flooring the rounded quotient 10.0 would say 10; and
              // -1.0 // 0.1 == -10.0
              Expect.equal
                  (Tensor.FloorDivide(Tensor.From(1.0, -1.0), 0.1).ToArray<float>())
                  [| 9.0; -10.0 |]
                  "the floor of the exact quotient"

              Expect.equal
                  (Tensor.FloorDivide(Tensor.From(-1.0, 5.0, 0.0), Double.PositiveInfinity).ToArray<float>())
                  [| -1.0; 0.0; 0.0 |]
                  "by infinity, as Python"
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


/// What a probe of this session's APIs found: each case failed (hung, threw a raw exception,
/// left state half-done or answered wrongly) before its fix.
let private probed =
    testList
        "probed"
        [ test "NAdam with a huge loaded step count steps at once (the μ product stops once 1 − Π is 1)" {
              let p = Parameter(Tensor.FromArray([| 1.0 |], [| 1 |]))
              let opt = NAdam([ p ], 0.1)
              p.SetGrad(Tensor.FromArray([| 1.0 |], [| 1 |]))
              opt.Step()
              let state = Collections.Generic.Dictionary(opt.StateDict())
              state.["step"] <- Tensor.FromArray([| 1_000_000_000_000L |], [| 1 |])
              state.["0.step"] <- Tensor.FromArray([| 1_000_000_000_000L |], [| 1 |])
              opt.LoadStateDict state
              let m0, v0 = (values state.["0.exp_avg"]).[0], (values state.["0.exp_avg_sq"]).[0]
              let before = (values p.Value).[0]
              opt.Step()
              // t = 10¹² + 1: μ_t = μ_{t+1} = β₁ (0.96^(tψ) is 0), Π μ is 0, 1 − β₂ᵗ is 1
              let m, v = 0.9 * m0 + 0.1, 0.999 * v0 + 0.001
              let expected = before - 0.1 * (m * 0.9 + 1.0 * (1.0 - 0.9)) / (sqrt v + 1e-8)
              near 1e-12 [| expected |] p.Value "the step at t = 10¹² + 1"
          }
          test "a null parameter group is refused by index" {
              let g = ParamGroup([ Parameter(Tensor.Zeros 1) ])

              throwsWith<ArgumentException, _>
                  (fun () -> ParamGroups(g, null) |> ignore)
                  [ "param_groups"; "group 1 is null" ]
          }
          test "batch norm with its input on another device names the layer and counts nothing" {
              let bn = BatchNorm1d(3, affine = false)
              let x = Tensor.Ones([| 4; 3 |], DType.Float32, Device.Simulated 1)
              throwsWith<DeviceMismatchException, _> (fun () -> bn.Forward x |> ignore) [ "batch_norm1d:"; "sim:1" ]
              Expect.equal (bn.NumBatchesTracked.Value.Item<int64>()) 0L "num_batches_tracked unchanged"
          }
          test "lstsq refuses a rank-deficient tall A instead of answering 1e14" {
              let a = Tensor.FromArray([| 1.0; 2.0; 2.0; 4.0; 3.0; 6.0 |], [| 3; 2 |])

              throwsWith<OpArgumentException, _>
                  (fun () -> Tensor.Lstsq(a, Tensor.Ones([| 3; 1 |], DType.Float64)) |> ignore)
                  [ "lstsq"; "rank-deficient" ]
          }
          test "the plain conv2d refuses int64 and mixed dtypes as the general one does" {
              let layer = Conv2d(1, 1, 3)

              throwsWith<DTypeMismatchException, _>
                  (fun () -> layer.Forward(Tensor.Zeros([| 1; 1; 4; 4 |], DType.Int64)) |> ignore)
                  [ "conv2d:"; "int64" ]

              throwsWith<DTypeMismatchException, _>
                  (fun () -> layer.Forward(Tensor.Zeros([| 1; 1; 4; 4 |], DType.Float64)) |> ignore)
                  [ "conv2d:"; "float64"; "float32" ]
          } ]

let tests =
    testList
        "bad input"
        [ registrySweep
          namesTheOp
          noRawExceptions
          pytorchSemantics
          hyperparameters
          probed ]
